"""Choosing how to find the rows a WHERE clause asks for, at any point in history.

A plan is a tree: an `IndexRange` reads one temporal secondary index (the keys whose value lay
in a range at the seq asked for), `Union` and `Intersect` combine key sets as OR and AND allow,
and `FullScan` reads every row live at that seq. Whatever the plan, every candidate row is
re-checked against the whole WHERE clause, so a plan only ever decides speed, never answers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from driftdb.index.store import UNBOUNDED
from driftdb.query.ast import And, Column, Comparison, Expr, InList, IsNull, Literal, Or

_FLIP = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


@dataclass(frozen=True)
class IndexRange:
    """Keys whose `column` lay between `lower` and `upper` (either may be UNBOUNDED)."""

    column: str
    lower: Any
    upper: Any
    include_lower: bool = True
    include_upper: bool = True

    def describe(self) -> str:
        if self.lower == self.upper and self.lower is not UNBOUNDED:
            return f"INDEX LOOKUP {self.column} = {_show(self.lower)}"
        low = (
            ""
            if self.lower is UNBOUNDED
            else (f"{_show(self.lower)} {'<=' if self.include_lower else '<'} ")
        )
        high = (
            ""
            if self.upper is UNBOUNDED
            else (f" {'<=' if self.include_upper else '<'} {_show(self.upper)}")
        )
        return f"INDEX RANGE {low}{self.column}{high}"


@dataclass(frozen=True)
class KeyLookup:
    """Rows found by primary key in the key directory: one seek per key."""

    keys: tuple[Any, ...]

    def describe(self) -> str:
        shown = ", ".join(_show(k) for k in self.keys)
        return f"KEY LOOKUP {shown}"


@dataclass(frozen=True)
class Union:
    parts: tuple[Plan, ...]

    def describe(self) -> str:
        return "UNION(" + ", ".join(p.describe() for p in self.parts) + ")"


@dataclass(frozen=True)
class Intersect:
    parts: tuple[Plan, ...]

    def describe(self) -> str:
        return "INTERSECT(" + ", ".join(p.describe() for p in self.parts) + ")"


@dataclass(frozen=True)
class FullScan:
    def describe(self) -> str:
        return "FULL SCAN"


Plan = KeyLookup | IndexRange | Union | Intersect | FullScan


def _show(value: Any) -> str:
    import json

    return json.dumps(value)


def plan_where(where: Expr | None, indexed: tuple[str, ...], primary_key: str = "") -> Plan:
    """The cheapest plan the boolean structure allows: the primary key first (the key
    directory), then AND intersects whatever parts can use an index (the rest are filtered),
    OR needs every part indexed to avoid a full scan."""
    if where is None:
        return FullScan()
    found = _plan(where, set(indexed), primary_key)
    return found if found is not None else FullScan()


def _is_key(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


def _plan(expr: Expr, indexed: set[str], pk: str) -> Plan | None:
    if isinstance(expr, Comparison):
        if expr.op == "=":
            sides = (expr.left, expr.right)
            for a, b in (sides, sides[::-1]):
                if (
                    isinstance(a, Column)
                    and a.text == pk
                    and isinstance(b, Literal)
                    and _is_key(b.value)
                ):
                    return KeyLookup((b.value,))
        return _comparison(expr, indexed)
    if isinstance(expr, InList):
        if expr.negated or not isinstance(expr.operand, Column):
            return None
        column = expr.operand.text
        if column == pk and all(_is_key(v.value) for v in expr.values):
            return KeyLookup(tuple(dict.fromkeys(v.value for v in expr.values)))
        if column not in indexed:
            return None
        parts = tuple(IndexRange(column, v.value, v.value) for v in expr.values)
        return parts[0] if len(parts) == 1 else Union(parts)
    if isinstance(expr, IsNull):
        if expr.negated or not isinstance(expr.operand, Column):
            return None
        if expr.operand.text not in indexed:
            return None
        return IndexRange(expr.operand.text, None, None)
    if isinstance(expr, And):
        usable = [p for p in (_plan(e, indexed, pk) for e in expr.operands) if p is not None]
        if not usable:
            return None
        lookups = [p for p in usable if isinstance(p, KeyLookup)]
        if lookups:
            return min(lookups, key=lambda p: len(p.keys))
        return usable[0] if len(usable) == 1 else Intersect(tuple(usable))
    if isinstance(expr, Or):
        branches = [_plan(e, indexed, pk) for e in expr.operands]
        chosen = tuple(p for p in branches if p is not None)
        return Union(chosen) if len(chosen) == len(branches) else None
    return None  # NOT: the complement of an index range is rarely selective


def _comparison(expr: Comparison, indexed: set[str]) -> Plan | None:
    op: str = expr.op
    left, right = expr.left, expr.right
    if isinstance(left, Literal) and isinstance(right, Column):
        op, left, right = _FLIP[op], right, left
    if not isinstance(left, Column) or not isinstance(right, Literal):
        return None
    column, value = left.text, right.value
    if column not in indexed or op == "!=" or value is None:
        return None
    if op == "=":
        return IndexRange(column, value, value)
    low, high = _family_bounds(value)
    if op in ("<", "<="):
        return IndexRange(column, low, value, True, op == "<=")
    return IndexRange(column, value, high, op == ">=", True)


def _family_bounds(value: Any) -> tuple[Any, Any]:
    """Comparisons never match across type families, so a range stays inside its family."""
    if isinstance(value, bool):
        return False, True
    if isinstance(value, int | float):
        return -math.inf, math.inf
    if isinstance(value, str):
        return "", UNBOUNDED  # strings end where lists begin; the re-check drops those
    return UNBOUNDED, UNBOUNDED
