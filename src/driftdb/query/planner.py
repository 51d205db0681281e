"""Choosing how to find the rows a WHERE clause asks for, at any point in history.

A plan is a tree: an `IndexRange` reads one temporal secondary index (the keys whose value lay
in a range at the seq asked for), `Union` and `Intersect` combine key sets as OR and AND allow,
and `FullScan` reads every row live at that seq. Whatever the plan, every candidate row is
re-checked against the whole WHERE clause, so a plan only ever decides speed, never answers.
"""

from __future__ import annotations

import math
from typing import Any

from driftdb.index.store import UNBOUNDED
from driftdb.query.ast import (
    And,
    Between,
    Column,
    Comparison,
    Expr,
    Frozen,
    InList,
    IsNull,
    Literal,
    Or,
)

_set = object.__setattr__

_FLIP = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


class IndexRange(Frozen):
    """Keys whose `column` lay between `lower` and `upper` (either may be UNBOUNDED)."""

    __slots__ = __match_args__ = ("column", "lower", "upper", "include_lower", "include_upper")
    column: str
    lower: Any
    upper: Any
    include_lower: bool
    include_upper: bool

    def __init__(
        self,
        column: str,
        lower: Any,
        upper: Any,
        include_lower: bool = True,
        include_upper: bool = True,
    ) -> None:
        _set(self, "column", column)
        _set(self, "lower", lower)
        _set(self, "upper", upper)
        _set(self, "include_lower", include_lower)
        _set(self, "include_upper", include_upper)

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


class KeyLookup(Frozen):
    """Rows found by primary key in the key directory: one seek per key."""

    __slots__ = __match_args__ = ("keys",)
    keys: tuple[Any, ...]

    def __init__(self, keys: tuple[Any, ...]) -> None:
        _set(self, "keys", keys)

    def describe(self) -> str:
        shown = ", ".join(_show(k) for k in self.keys)
        return f"KEY LOOKUP {shown}"


class Union(Frozen):
    __slots__ = __match_args__ = ("parts",)
    parts: tuple[Plan, ...]

    def __init__(self, parts: tuple[Plan, ...]) -> None:
        _set(self, "parts", parts)

    def describe(self) -> str:
        return "UNION(" + ", ".join(p.describe() for p in self.parts) + ")"


class Intersect(Frozen):
    __slots__ = __match_args__ = ("parts",)
    parts: tuple[Plan, ...]

    def __init__(self, parts: tuple[Plan, ...]) -> None:
        _set(self, "parts", parts)

    def describe(self) -> str:
        return "INTERSECT(" + ", ".join(p.describe() for p in self.parts) + ")"


class FullScan(Frozen):
    __slots__ = __match_args__ = ()

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


def _plan(expr: Expr, indexed: set[str], pk: str) -> Plan | None:  # noqa: C901 (one branch per expression kind, as the grammar has them)
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
    if isinstance(expr, Between):
        return _between(expr, indexed)
    return None  # NOT: the complement of an index range is rarely selective


def _between(expr: Between, indexed: set[str]) -> Plan | None:
    """`c BETWEEN x AND y` on an indexed column: one index range when both bounds are in one
    type family, else the intersection of the two halves' ranges (which no row can be in).
    NOT BETWEEN is two open ranges, as rarely selective as NOT."""
    if expr.negated:
        return None
    low = _comparison(Comparison(">=", expr.operand, expr.low), indexed)
    high = _comparison(Comparison("<=", expr.operand, expr.high), indexed)
    if not isinstance(low, IndexRange) or not isinstance(high, IndexRange):
        return low or high
    if low.column != high.column:  # `5 BETWEEN a AND b`: two columns
        return Intersect((low, high))
    if _family_bounds(low.lower) == _family_bounds(high.upper):
        return IndexRange(low.column, low.lower, high.upper)
    return Intersect((low, high))


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
