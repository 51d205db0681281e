"""GROUP BY, aggregates, HAVING and DISTINCT over any stream of rows.

Pure: rows in (any mapping, with any column names: table rows AS OF a point, or versions with
system columns), result rows out. The steps, as SQL orders them:

1. Group the rows by the GROUP BY values (equal when `sort_key`s are equal, so 1 and 1.0 are
   one group, and a missing field groups with null). Without GROUP BY, all rows are one group,
   even when there are none (`SELECT COUNT(*) ... WHERE false` gives one row, 0).
2. Fold each group into its aggregates. A group row is the group's first row plus each
   aggregate's value stored under the aggregate node, so the evaluator reads GROUP BY columns
   and aggregates from one mapping (`evaluate.operand_value`).
3. Keep the groups HAVING holds for; make one result row per group, keyed by output names;
   drop repeated result rows for DISTINCT; ORDER BY (aliases first, then columns and
   aggregates); OFFSET and LIMIT.

What aggregates mean (documented in the README):
- COUNT(*) counts rows; every other aggregate skips null and missing values.
- SUM and AVG add numbers (ints and floats; booleans are not numbers) and skip any other value
  as they skip null; over no numbers they are null. SUM of ints is an int; AVG is a float.
- MIN and MAX take the least and greatest value in the one total order ORDER BY uses
  (null < false < true < numbers < strings < lists < objects), so over mixed types MAX is the
  greatest string, if any.
- DISTINCT inside an aggregate folds each value once (equal by `sort_key`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from driftdb.query.ast import Aggregate, Column, Expr, OrderItem, Select, SelectItem
from driftdb.query.evaluate import (
    SortKey,
    matches,
    operand_value,
    order_rows,
    resolve_path,
    sort_key,
)
from driftdb.query.parser import output_name

GroupRow = dict[Any, Any]
"""A group's first row (str keys) plus {Aggregate: value} for every aggregate it needs."""


def is_grouped(select: Select) -> bool:
    """Whether the SELECT groups rows: GROUP BY, HAVING or an aggregate anywhere."""
    return bool(select.group_by) or select.having is not None or bool(aggregates_of(select))


def aggregates_of(select: Select) -> list[Aggregate]:
    """Every distinct aggregate the select list, HAVING and ORDER BY need, in order."""
    found: dict[Aggregate, None] = {}
    for item in select.items:
        if isinstance(item.expr, Aggregate):
            found.setdefault(item.expr, None)
    if select.having is not None:
        for aggregate in _aggregates_in(select.having):
            found.setdefault(aggregate, None)
    for order in select.order_by:
        if isinstance(order.column, Aggregate):
            found.setdefault(order.column, None)
    return list(found)


def group_rows(rows: Iterable[Mapping[str, Any]], select: Select) -> list[GroupRow]:
    """Steps 1 and 2: the group rows of `rows` (already filtered by WHERE)."""
    aggregates = aggregates_of(select)
    paths = [column.path for column in select.group_by]
    groups: dict[tuple[SortKey, ...], tuple[Mapping[str, Any], list[_Fold]]] = {}
    for row in rows:
        key = tuple(sort_key(resolve_path(row, path)[1]) for path in paths)
        group = groups.get(key)
        if group is None:
            group = groups[key] = (row, [_Fold(a) for a in aggregates])
        for fold in group[1]:
            fold.add(row)
    if not groups and not paths:
        groups[()] = ({}, [_Fold(a) for a in aggregates])
    out: list[GroupRow] = []
    for first, folds in groups.values():
        group_row: GroupRow = dict(first)
        for fold in folds:
            group_row[fold.aggregate] = fold.result()
        out.append(group_row)
    return out


def finish(groups: list[GroupRow], select: Select) -> tuple[list[dict[str, Any]], list[str]]:
    """Step 3: the result rows and column names from group rows."""
    aliases = {i.alias: i.expr for i in select.items if i.alias is not None}
    having = _resolve_aliases(select.having, aliases) if select.having is not None else None
    kept = [g for g in groups if having is None or matches(having, g)]
    order = tuple(
        OrderItem(_resolve_term(o.column, aliases), o.descending) for o in select.order_by
    )
    if order:
        kept = [dict(g) for g in order_rows(kept, order)]
    names = [output_name(item) for item in select.items]
    rows = [_output(g, select.items, names) for g in kept]
    if select.distinct:
        rows = distinct_rows(rows)
    start = select.offset or 0
    end = None if select.limit is None else start + select.limit
    return rows[start:end], names


def project_items(row: Mapping[str, Any], items: tuple[SelectItem, ...]) -> dict[str, Any]:
    """A row as a select list of columns (with aliases) shows it."""
    return {output_name(item): operand_value(item.expr, row) for item in items}


def distinct_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows without repeats (equal as `=` has it: 1 and 1.0 are one), first kept."""
    seen: set[SortKey] = set()
    out = []
    for row in rows:
        key = sort_key(row)
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def resolve_order(select: Select) -> tuple[OrderItem, ...]:
    """ORDER BY terms with each alias replaced by what it names (a SELECT without grouping)."""
    aliases = {i.alias: i.expr for i in select.items if i.alias is not None}
    return tuple(OrderItem(_resolve_term(o.column, aliases), o.descending) for o in select.order_by)


def _output(group: GroupRow, items: tuple[SelectItem, ...], names: list[str]) -> dict[str, Any]:
    return {name: operand_value(item.expr, group) for name, item in zip(names, items, strict=True)}


def _resolve_term(
    term: Column | Aggregate, aliases: Mapping[str, Column | Aggregate]
) -> Column | Aggregate:
    if isinstance(term, Column) and len(term.path) == 1 and term.path[0] in aliases:
        return aliases[term.path[0]]
    return term


def _resolve_aliases(expr: Expr, aliases: Mapping[str, Column | Aggregate]) -> Expr:
    """`expr` with every one-part column that names an alias replaced by the aliased term."""
    from driftdb.query import ast

    def operand(o: Any) -> Any:
        return _resolve_term(o, aliases) if isinstance(o, Column) else o

    if isinstance(expr, ast.Not):
        return ast.Not(_resolve_aliases(expr.operand, aliases))
    if isinstance(expr, ast.And | ast.Or):
        return type(expr)(tuple(_resolve_aliases(e, aliases) for e in expr.operands))
    if isinstance(expr, ast.Comparison):
        return ast.Comparison(expr.op, operand(expr.left), operand(expr.right))
    if isinstance(expr, ast.InList):
        return ast.InList(operand(expr.operand), expr.values, expr.negated)
    if isinstance(expr, ast.IsNull):
        return ast.IsNull(operand(expr.operand), expr.negated)
    if isinstance(expr, ast.Between):
        return ast.Between(
            operand(expr.operand), operand(expr.low), operand(expr.high), expr.negated
        )
    return ast.Like(
        operand(expr.operand),
        operand(expr.pattern),
        expr.escape,
        expr.negated,
        expr.case_insensitive,
    )


def _aggregates_in(expr: Expr) -> list[Aggregate]:
    from driftdb.query import ast

    if isinstance(expr, ast.Not):
        return _aggregates_in(expr.operand)
    if isinstance(expr, ast.And | ast.Or):
        return [a for e in expr.operands for a in _aggregates_in(e)]
    if isinstance(expr, ast.Comparison):
        operands: list[Any] = [expr.left, expr.right]
    elif isinstance(expr, ast.Between):
        operands = [expr.operand, expr.low, expr.high]
    elif isinstance(expr, ast.Like):
        operands = [expr.operand, expr.pattern]
    else:
        operands = [expr.operand]
    return [o for o in operands if isinstance(o, Aggregate)]


class _Fold:
    """One aggregate folded over one group's rows."""

    __slots__ = ("aggregate", "best", "best_key", "count", "path", "seen", "total")

    def __init__(self, aggregate: Aggregate) -> None:
        self.aggregate = aggregate
        self.path = aggregate.column.path if aggregate.column is not None else None
        self.seen: set[SortKey] | None = set() if aggregate.distinct else None
        self.count = 0
        self.total: int | float = 0
        self.best: Any = None
        self.best_key: SortKey | None = None

    def add(self, row: Mapping[str, Any]) -> None:
        if self.path is None:  # COUNT(*)
            self.count += 1
            return
        value = resolve_path(row, self.path)[1]
        if value is None:
            return
        function = self.aggregate.function
        if function in ("SUM", "AVG") and (
            isinstance(value, bool) or not isinstance(value, int | float)
        ):
            return  # not a number: skipped, as null is
        if self.seen is not None:
            key = sort_key(value)
            if key in self.seen:
                return
            self.seen.add(key)
        if function in ("COUNT", "SUM", "AVG"):
            self.count += 1
            if function != "COUNT":
                self.total += value
            return
        key = sort_key(value)
        if (
            self.best_key is None
            or (function == "MIN" and key < self.best_key)
            or (function == "MAX" and key > self.best_key)
        ):
            self.best, self.best_key = value, key

    def result(self) -> Any:
        function = self.aggregate.function
        if function == "COUNT":
            return self.count
        if function in ("SUM", "AVG"):
            if not self.count:
                return None
            return self.total if function == "SUM" else self.total / self.count
        return self.best
