"""Evaluating a WHERE condition against one row, and the one order ORDER BY sorts values in.

Whatever plan finds the candidate rows (index ranges, a full scan, a replay), every candidate is
checked here, so this module alone defines what a condition means:

- A missing path reads as null. Any comparison with null is *unknown*: `a = null` and
  `a != null` both fail; test for null with `IS NULL` / `IS NOT NULL`.
- Values fall into type families: null, booleans, numbers, strings, lists, objects. Booleans are
  not numbers (`true = 1` fails). Ints and floats compare numerically (`1 = 1.0`).
- Across families, `=` is false and `!=` is true; `<`, `<=`, `>`, `>=` are unknown.
- Within a family, comparisons follow `sort_key`, so a WHERE range and an ORDER BY agree.
- `a BETWEEN x AND y` is `x <= a AND a <= y` (so it too never matches across families), and
  NOT BETWEEN its negation.
- `a LIKE p` matches a whole string: `%` any run of characters, `_` any one character, and
  the ESCAPE character followed by any character that character itself. LIKE compares code
  points exactly; ILIKE ignores case (Python's case-insensitive matching, per character). Both
  are unknown when the value or the pattern is not a string (`12 LIKE '1%'` is unknown, not
  true as in SQLite); a pattern that ends with its escape character matches nothing (as in
  SQLite).
- An aggregate (`COUNT(*) > 1` in HAVING) reads the value a group row holds for it: group rows
  (`query.aggregate`) carry each aggregate's value under the aggregate node itself, a key no
  field name can equal.
- Conditions use SQL's three-valued logic: unknown AND false is false, unknown OR true is true,
  NOT unknown is unknown, and a row matches only when its condition is true. So
  `NOT a = 1` does not match a row without `a`, just as `a != 1` does not.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from driftdb.query.ast import (
    Aggregate,
    And,
    Between,
    Column,
    CompareOp,
    Comparison,
    Expr,
    InList,
    IsNull,
    Like,
    Literal,
    Not,
    Operand,
    Or,
    OrderItem,
)

SortKey = tuple[int, int, Any]

_NULL, _BOOL, _NUMBER, _STRING, _LIST, _OBJECT, _OTHER = range(7)


def resolve_path(row: Mapping[str, Any], path: Sequence[str]) -> tuple[bool, Any]:
    """Follow `path` through nested objects: (True, value) if every step exists, else
    (False, None). A step into a non-object (a string, a list) is "not found"."""
    value: Any = row
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return True, value


def matches(expr: Expr, row: Mapping[str, Any]) -> bool:
    """True only when `expr` is true for `row` (unknown counts as no match)."""
    return _truth(expr, row) is True


def compare(op: CompareOp, left: Any, right: Any) -> bool | None:
    """`left op right` for two JSON values: True, False, or None for unknown (see module)."""
    if left is None or right is None:
        return None
    if _family(left) != _family(right):
        if op == "=":
            return False
        return True if op == "!=" else None
    a, b = sort_key(left), sort_key(right)
    if op == "=":
        return a == b
    if op == "!=":
        return a != b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    return a >= b


def sort_key(value: Any) -> SortKey:
    """A key giving one total order over all JSON values, as ORDER BY uses it (missing = null).

    null < false < true < numbers < strings < lists < objects.

    - Numbers (int and float together) compare exactly, as Python compares them (2**53 + 1 >
      2**53 = 2.0**53); a NaN, which JSON cannot hold but a row built in Python might, sorts
      after every other number.
    - Strings compare by code point.
    - Lists compare element by element, a list before its own extensions, as Python orders
      lists ([] < [1] < [1, 2] < [2]); objects the same way, as their (key, value) items sorted
      by key ({} < {"a": 1} < {"a": 1, "b": 0} < {"a": 2} < {"b": 0}). Equal exactly when the
      values are equal in the sense of `=` (`[1] = [1.0]`, `{"a": 1, "b": 2} = {"b": 2, "a": 1}`).
    The index encodes values in this same order (`index.keycodec`).
    - Anything else (not JSON) sorts last, by its type name and repr, rather than failing.
    """
    family = _family(value)
    if family == _NULL:
        return (_NULL, 0, 0)
    if family == _BOOL:
        return (_BOOL, 0, int(value))
    if family == _NUMBER:
        nan = isinstance(value, float) and math.isnan(value)
        return (_NUMBER, 1, 0) if nan else (_NUMBER, 0, value)
    if family == _STRING:
        return (_STRING, 0, value)
    if family == _LIST:
        return (_LIST, 0, tuple(sort_key(item) for item in value))
    if family == _OBJECT:
        return (_OBJECT, 0, tuple((str(k), sort_key(v)) for k, v in sorted(value.items())))
    return (_OTHER, 0, f"{type(value).__name__}:{value!r}")


def canonical_json(value: Any) -> str:
    """One text per JSON value: sorted keys, no blanks, integral floats as integers."""
    return json.dumps(
        _canonical(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=lambda other: f"{type(other).__name__}:{other!r}",
    )


def project(
    row: Mapping[str, Any], columns: Sequence[Column | Sequence[str] | str]
) -> dict[str, Any]:
    """The row as `SELECT a, b.c` shows it: keyed by the dotted column text, in the order
    asked, with null for a path the row does not have.

    A column may be given as a `Column`, a path tuple ("b", "c") or dotted text "b.c".
    """
    result: dict[str, Any] = {}
    for column in columns:
        if isinstance(column, Column):
            path: Sequence[str] = column.path
        elif isinstance(column, str):
            path = column.split(".")
        else:
            path = column
        result[".".join(path)] = resolve_path(row, path)[1]
    return result


def order_rows(
    rows: Iterable[Mapping[str, Any]], order_by: Sequence[OrderItem]
) -> list[Mapping[str, Any]]:
    """Rows sorted by ORDER BY terms (stable: ties keep their input order)."""
    result = list(rows)
    for item in reversed(order_by):  # least significant term first; each sort is stable
        term = item.column
        result.sort(key=lambda row: sort_key(_value(term, row)), reverse=item.descending)
    return result


def _truth(expr: Expr, row: Mapping[str, Any]) -> bool | None:
    """Three-valued truth of `expr`: True, False, or None for unknown."""
    if isinstance(expr, Comparison):
        return compare(expr.op, _value(expr.left, row), _value(expr.right, row))
    if isinstance(expr, InList):
        found = _in(expr, _value(expr.operand, row))
        return _not(found) if expr.negated else found
    if isinstance(expr, IsNull):
        return (_value(expr.operand, row) is None) != expr.negated
    if isinstance(expr, Not):
        return _not(_truth(expr.operand, row))
    if isinstance(expr, And):
        return _not(_any(_not(_truth(e, row)) for e in expr.operands))
    if isinstance(expr, Or):
        return _any(_truth(e, row) for e in expr.operands)
    if isinstance(expr, Between | Like):
        found = _between(expr, row) if isinstance(expr, Between) else _like(expr, row)
        return _not(found) if expr.negated else found
    raise TypeError(f"not a DriftQL expression: {expr!r}")


def _between(expr: Between, row: Mapping[str, Any]) -> bool | None:
    value = _value(expr.operand, row)
    low = compare(">=", value, _value(expr.low, row))
    if low is False:
        return False
    high = compare("<=", value, _value(expr.high, row))
    return _not(_any((_not(low), _not(high))))


def _like(expr: Like, row: Mapping[str, Any]) -> bool | None:
    value, pattern = _value(expr.operand, row), _value(expr.pattern, row)
    if not isinstance(value, str) or not isinstance(pattern, str):
        return None
    compiled = like_pattern(pattern, expr.escape, expr.case_insensitive)
    return False if compiled is None else compiled.matches(value)


class LikePattern:
    """A LIKE pattern cut at its `%` into fixed-width pieces (`_` is any one character).

    Matched without backtracking: the first piece at the start, the last at the end, and each
    piece between them at its leftmost place after the previous one (for `%` wildcards the
    leftmost choice never loses a match), so `'%a%a%a%b'` costs one pass per piece, not a
    search tree.
    """

    __slots__ = ("pieces", "widths")

    def __init__(self, pieces: list[re.Pattern[str]], widths: list[int]) -> None:
        self.pieces = pieces
        self.widths = widths

    def matches(self, value: str) -> bool:
        pieces, widths = self.pieces, self.widths
        if len(pieces) == 1:
            return pieces[0].fullmatch(value) is not None
        end = len(value) - widths[-1]
        if end < widths[0] or pieces[0].match(value) is None:
            return False
        if pieces[-1].fullmatch(value, end) is None:
            return False
        pos = widths[0]
        for piece in pieces[1:-1]:
            found = piece.search(value, pos, end)
            if found is None:
                return False
            pos = found.end()
        return True


@functools.lru_cache(maxsize=256)
def like_pattern(pattern: str, escape: str | None, case_insensitive: bool) -> LikePattern | None:
    """The compiled form of a LIKE pattern (None if it ends with its escape character, which
    escapes nothing)."""
    flags = re.DOTALL | (re.IGNORECASE if case_insensitive else 0)
    pieces: list[re.Pattern[str]] = []
    widths: list[int] = []
    current: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == escape:
            following = next(chars, None)
            if following is None:
                return None
            current.append(re.escape(following))
        elif char == "%":
            pieces.append(re.compile("".join(current), flags))
            widths.append(len(current))
            current = []
        else:
            current.append("." if char == "_" else re.escape(char))
    pieces.append(re.compile("".join(current), flags))
    widths.append(len(current))
    return LikePattern(pieces, widths)


def _in(expr: InList, value: Any) -> bool | None:
    """`value IN (...)`: the three-valued OR of `value = v` over the list, by a set lookup.

    Two values are `=` exactly when their sort keys are equal (same family, equal within it:
    `1 = 1.0`, `[1] = [1.0]`, never `true = 1`), and sort keys are hashable, so the list is
    kept as a set of sort keys: one lookup per row however long the list.
    """
    if not expr.values:
        return False
    if value is None:
        return None  # null = v is unknown for every v
    keys, has_null = _in_keys(expr)
    if sort_key(value) in keys:
        return True
    return None if has_null else False  # value = null is unknown


_IN_KEYS: dict[int, tuple[InList, frozenset[SortKey], bool]] = {}
_IN_KEYS_KEPT = 64  # lists of the statements being evaluated; older ones are forgotten


def _in_keys(expr: InList) -> tuple[frozenset[SortKey], bool]:
    """The sort keys of an IN list and whether it holds null, computed once per list (kept by
    identity: the tree is immutable, and the entry keeps its list alive so ids are not reused
    while it is kept)."""
    kept = _IN_KEYS.get(id(expr))
    if kept is not None and kept[0] is expr:
        return kept[1], kept[2]
    keys = frozenset(sort_key(v.value) for v in expr.values if v.value is not None)
    has_null = any(v.value is None for v in expr.values)
    if len(_IN_KEYS) >= _IN_KEYS_KEPT:
        _IN_KEYS.clear()  # (not one by one: another thread may be reading it)
    _IN_KEYS[id(expr)] = (expr, keys, has_null)
    return keys, has_null


def _any(values: Iterable[bool | None]) -> bool | None:
    """Three-valued OR: true if any is true, else unknown if any is unknown, else false."""
    result: bool | None = False
    for value in values:
        if value is True:
            return True
        if value is None:
            result = None
    return result


def _not(value: bool | None) -> bool | None:
    return None if value is None else not value


def operand_value(operand: Operand, row: Mapping[str, Any]) -> Any:
    """What a column, literal or aggregate stands for in `row` (a missing path is null)."""
    return _value(operand, row)


def _value(operand: Operand, row: Mapping[str, Any]) -> Any:
    if isinstance(operand, Literal):
        return operand.value
    if isinstance(operand, Aggregate):
        return cast(Mapping[Any, Any], row).get(operand)
    return resolve_path(row, operand.path)[1]


def _family(value: Any) -> int:
    if value is None:
        return _NULL
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, int | float):
        return _NUMBER
    if isinstance(value, str):
        return _STRING
    if isinstance(value, list | tuple):
        return _LIST
    if isinstance(value, Mapping):
        return _OBJECT
    return _OTHER


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _canonical(item) for key, item in value.items()}
    return value
