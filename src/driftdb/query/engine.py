"""Runs reads for the Python API and DriftQL: resolve AS OF, plan, fetch, filter, order, limit."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from driftdb.errors import InvalidInputError
from driftdb.index.keycodec import MAX_U64, encode_value, is_exact
from driftdb.model.document import to_json_value
from driftdb.model.events import Document, Key
from driftdb.model.timepoint import AsOf, TimePoint, parse_timepoint
from driftdb.query import ast
from driftdb.query.aggregate import aggregates_of, finish, group_rows, is_grouped
from driftdb.query.evaluate import matches, order_rows, resolve_path
from driftdb.query.parser import parse_expression
from driftdb.query.planner import (
    FullScan,
    IndexRange,
    Intersect,
    KeyLookup,
    Plan,
    Union,
    plan_where,
)
from driftdb.query.source import ReadTable, ReadView, Where


def to_expr(where: Where, params: Sequence[Any] = ()) -> ast.Expr | None:
    """A WHERE given as a mapping (column -> value, AND-ed) or a DriftQL expression string."""
    if where is None:
        return None
    if isinstance(where, str):
        return parse_expression(where, params)
    if isinstance(where, Mapping):
        terms: list[ast.Expr] = []
        for column, value in where.items():
            col = ast.Column(tuple(str(column).split(".")))
            if value is None:
                terms.append(ast.IsNull(col))
            else:
                # Checked and copied as a DriftQL parameter is: a plain JSON value.
                value = to_json_value(value, f"where[{str(column)!r}]")
                terms.append(ast.Comparison("=", col, ast.Literal(value)))
        if not terms:
            return None
        return terms[0] if len(terms) == 1 else ast.And(tuple(terms))
    raise InvalidInputError(
        f"where must be a mapping or a DriftQL expression string, not {type(where).__name__}"
    )


def to_timepoint(as_of: AsOf) -> TimePoint:
    """The resolved point (a time read from DriftQL is checked and resolved here)."""
    return parse_timepoint(as_of)


def order_items(order_by: str | Sequence[str] | None) -> tuple[ast.OrderItem, ...]:
    """`"total DESC"` or `["status", "total desc"]` as ORDER BY items."""
    if order_by is None:
        return ()
    items = [order_by] if isinstance(order_by, str) else list(order_by)
    out = []
    for item in items:
        words = item.split()
        if (
            not words
            or len(words) > 2
            or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC"))
        ):
            raise InvalidInputError(f'order_by item {item!r}: expected "column [ASC|DESC]"')
        desc = len(words) == 2 and words[1].upper() == "DESC"
        out.append(ast.OrderItem(ast.Column(tuple(words[0].split("."))), desc))
    return tuple(out)


def _candidate_keys(view: ReadView, plan: Plan, seq: int) -> set[Key]:
    if isinstance(plan, KeyLookup):
        return set(plan.keys)
    if isinstance(plan, IndexRange):
        return set(
            view.keys_in_range(
                plan.column, plan.lower, plan.upper, seq, plan.include_lower, plan.include_upper
            )
        )
    if isinstance(plan, Union):
        keys: set[Key] = set()
        for part in plan.parts:
            keys |= _candidate_keys(view, part, seq)
        return keys
    assert isinstance(plan, Intersect)
    sets = sorted((_candidate_keys(view, p, seq) for p in plan.parts), key=len)
    result = sets[0]
    for other in sets[1:]:
        result &= other
    return result


def iter_matching(
    view: ReadView,
    where: ast.Expr | None,
    plan: Plan,
    seq: int,
    streamed: bool = False,
) -> Iterator[Document]:
    """Rows live at `seq` that match `where`, found through `plan`. `streamed`: the caller
    stops early (LIMIT), so a full scan walks the key directory rather than loading a
    snapshot whole."""
    if isinstance(plan, FullScan):
        if where is None and not streamed:
            yield from view.row_list(seq)  # decoded in bulk, no key decoded
            return
        exact = _exact_equality(where)
        if exact is not None:  # `col = scalar`: compare encodings, as the index would
            path, wanted = exact[0].split("."), encode_value(exact[1])
            for _, row in view.rows(seq, streamed=streamed):
                if encode_value(resolve_path(row, path)[1]) == wanted:
                    yield row
            return
        for _, row in view.rows(seq, streamed=streamed):
            if where is None or matches(where, row):
                yield row
        return
    check = where
    exact = _exact_equality(where) if isinstance(plan, IndexRange) else None
    if exact is not None:
        fused = view.rows_with_value(exact[0], exact[1], seq)
        if fused is not None:  # the index answers exactly this WHERE, rows in the same loop
            yield from fused
            return
    if isinstance(plan, IndexRange) and not view.overlay:
        keys: Iterator[Key] | list[Key] = view.keys_in_range(
            plan.column, plan.lower, plan.upper, seq, plan.include_lower, plan.include_upper
        )
        if _exact_equality(where) is not None and view.candidates_exact(plan.column):
            check = None  # the index answered exactly this WHERE: no re-check needed
    else:
        keys = sorted(_candidate_keys(view, plan, seq), key=key_order)
    for key in keys:
        found = view.get(key, seq)
        if found is not None and (check is None or matches(check, found)):
            yield found


def _exact_equality(where: ast.Expr | None) -> tuple[str, Any] | None:
    """(column, value) when `where` is `column = scalar` and the index encodes the scalar
    exactly, so index membership and the evaluator's `=` agree."""
    if not isinstance(where, ast.Comparison) or where.op != "=":
        return None
    sides = (where.left, where.right)
    for a, b in (sides, sides[::-1]):
        if (
            isinstance(a, ast.Column)
            and isinstance(b, ast.Literal)
            and b.value is not None
            and not isinstance(b.value, list | dict)
            and is_exact(b.value)
        ):
            return a.text, b.value
    return None


def display_columns(rows: list[Document], primary_key: str) -> list[str]:
    """Column order for display: the primary key, then fields in order of first appearance."""
    seen: dict[str, None] = {primary_key: None}
    for row in rows:
        for name in row:
            seen.setdefault(name, None)
    return list(seen)


def key_order(key: Key) -> tuple[int, Any]:
    """Primary-key order: ints before strings (as the key directory stores them)."""
    return (0, key) if isinstance(key, int) else (1, key)


def _count_from_index(view: ReadView, where: ast.Expr | None, seq: int) -> int | None:
    """A count answered by the temporal count index alone (one seek per value), when the
    WHERE is exactly `col = v`, `col IN (...)` or `col IS NULL` on an indexed column."""
    column: str | None = None
    values: list[Any] = []
    equality = _exact_equality(where)
    if equality is not None:
        column, values = equality[0], [equality[1]]
    elif (
        isinstance(where, ast.InList)
        and not where.negated
        and isinstance(where.operand, ast.Column)
    ):
        column = where.operand.text
        values = [v.value for v in where.values if v.value is not None]
    elif (
        isinstance(where, ast.IsNull)
        and not where.negated
        and isinstance(where.operand, ast.Column)
    ):
        column, values = where.operand.text, [None]
    if (
        column is None
        or not values
        or any(not is_exact(v) or isinstance(v, list | dict) for v in values)
    ):
        return None
    distinct: dict[bytes, Any] = {}
    for value in values:
        distinct.setdefault(encode_value(value), value)
    total = 0
    for value in distinct.values():
        found = view.count_with_value(column, value, seq)
        if found is None:
            return None
        total += found
    return total


def select_rows(
    table: ReadTable,
    where: ast.Expr | None,
    as_of: AsOf,
    order: tuple[ast.OrderItem, ...] = (),
    limit: int | None = None,
    offset: int | None = None,
) -> list[Document]:
    """The rows a SELECT returns, fully materialised (ordered, offset, limited)."""
    plan = plan_where(where, table.schema.indexes, table.primary_key)
    with table.view() as view:
        seq = table.resolve_point(view, to_timepoint(as_of))
        start = offset or 0
        if where is None and not order and limit is None:
            every = view.row_list(seq)  # the whole table: decoded in bulk, no key decoded
            return every[start:] if start else every
        in_order = _in_key_order_now(table, view, where, seq, order)
        if in_order is not None:
            rows: Iterator[Document] = in_order  # already in key order: stop at LIMIT
            order = ()
        else:
            if _stream_in_key_order(table, view, where, plan, seq, order, limit, start):
                # Rows come from the key directory in primary-key order already: stop at LIMIT.
                plan, order = FullScan(), ()
            rows = iter_matching(view, where, plan, seq, streamed=limit is not None and not order)
        if not order:
            out: list[Document] = []
            for i, row in enumerate(rows):
                if i < start:
                    continue
                if limit is not None and len(out) >= limit:
                    break
                out.append(row)
            return out
        listed = order_rows(rows, order)
    end = None if limit is None else start + limit
    return [dict(row) for row in listed[start:end]]


def _in_key_order_now(
    table: ReadTable,
    view: ReadView,
    where: ast.Expr | None,
    seq: int,
    order: tuple[ast.OrderItem, ...],
) -> Iterator[Document] | None:
    """`WHERE col = v ORDER BY pk` at now: the temporal index keeps the open runs of a value
    in primary-key order, so `rows_with_value` needs no sort (and LIMIT stops it early).
    None: not this query, or the index cannot answer it alone."""
    if (
        seq != MAX_U64
        or view.overlay
        or len(order) != 1
        or order[0].descending
        or not isinstance(order[0].column, ast.Column)
        or order[0].column.text != table.primary_key
    ):
        return None
    exact = _exact_equality(where)
    if exact is None or exact[0] not in table.schema.indexes:
        return None
    return view.rows_with_value(exact[0], exact[1], seq)


def _stream_in_key_order(
    table: ReadTable,
    view: ReadView,
    where: ast.Expr | None,
    plan: Plan,
    seq: int,
    order: tuple[ast.OrderItem, ...],
    limit: int | None,
    start: int,
) -> bool:
    """`ORDER BY pk LIMIT n` can scan rows in key order and stop after n matches, instead of
    fetching and sorting every match. Worth it for a full scan always; for an index plan when
    the value counts say the scan would read fewer rows than there are matches."""
    if (
        limit is None
        or view.overlay
        or len(order) != 1
        or order[0].descending
        or order[0].column != ast.Column((table.primary_key,))
    ):
        return False
    if isinstance(plan, FullScan):
        return True
    matches_now = _count_from_index(view, where, seq)
    if not matches_now:
        return False
    live = view.count(seq)
    rows_to_scan = (limit + start) * live / matches_now
    return rows_to_scan < matches_now


def count_rows(table: ReadTable, where: ast.Expr | None, as_of: AsOf) -> int:
    with table.view() as view:
        seq = table.resolve_point(view, to_timepoint(as_of))
        if where is None:
            return view.count(seq)
        fast = _count_from_index(view, where, seq)
        if fast is not None:
            return fast  # (no plan needed: the count index answered)
        plan = plan_where(where, table.schema.indexes, table.primary_key)
        return sum(1 for _ in iter_matching(view, where, plan, seq))


def explain(table: ReadTable, where: ast.Expr | None) -> str:
    """The plan a SELECT with this WHERE would use, as one line."""
    plan = plan_where(where, table.schema.indexes, table.primary_key)
    text = plan.describe()
    if isinstance(plan, IndexRange) and _exact_equality(where) is not None:
        text += " (exact: no filter; COUNT(*) reads the value counts)"
    elif not isinstance(plan, FullScan) and where is not None:
        text += ", then FILTER by the full WHERE"
    elif where is not None:
        text += " with FILTER"
    return text


def run_select(
    table: ReadTable,
    where: Where,
    params: Sequence[Any],
    as_of: AsOf,
    order_by: str | Sequence[str] | None,
    limit: int | None,
    offset: int | None = None,
) -> list[Document]:
    for name, n in (("limit", limit), ("offset", offset)):
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
            raise InvalidInputError(f"{name} must be a non-negative integer, got {n!r}")
    expr = to_expr(where, params)
    return select_rows(table, expr, as_of, order_items(order_by), limit, offset)


def run_count(table: ReadTable, where: Where, params: Sequence[Any], as_of: AsOf) -> int:
    return count_rows(table, to_expr(where, params), as_of)


# ---------------------------------------------------------------- grouped reads (issue 12)


def select_groups(table: ReadTable, select: ast.Select) -> tuple[list[Document], list[str]]:
    """The result rows and columns of a grouped SELECT (GROUP BY, HAVING or aggregates):
    from the value counts when they can answer alone, else by folding the matching rows."""
    assert not isinstance(select.as_of, ast.SystemTime)  # versions are grouped by the executor
    plan = plan_where(select.where, table.schema.indexes, table.primary_key)
    with table.view() as view:
        seq = table.resolve_point(view, to_timepoint(select.as_of))
        groups = _groups_from_counts(view, table, select, seq)
        if groups is None:
            groups = group_rows(iter_matching(view, select.where, plan, seq), select)
    return finish(groups, select)


def counted_column(select: ast.Select, indexed: tuple[str, ...]) -> ast.Column | None:
    """The column whose value counts answer this SELECT without reading rows, if any: no WHERE,
    GROUP BY one indexed column, and only COUNT(*), COUNT(c), COUNT(DISTINCT c), MIN(c) and
    MAX(c) of that column (each a function of the value and its count)."""
    if select.where is not None or len(select.group_by) != 1:
        return None
    column = select.group_by[0]
    if column.text not in indexed:
        return None
    for aggregate in aggregates_of(select):
        if aggregate.column is None:
            continue
        if aggregate.column != column or aggregate.function not in ("COUNT", "MIN", "MAX"):
            return None
    return column


def _groups_from_counts(
    view: ReadView, table: ReadTable, select: ast.Select, seq: int
) -> list[dict[Any, Any]] | None:
    column = counted_column(select, table.schema.indexes)
    if column is None:
        return None
    counts = view.value_counts(column.text, seq)
    if counts is None:
        return None
    aggregates = aggregates_of(select)
    groups: list[dict[Any, Any]] = []
    for value, count in counts:
        row: Any = value
        for part in reversed(column.path):
            row = {part: row}
        group: dict[Any, Any] = dict(row)
        for aggregate in aggregates:
            if aggregate.column is None:
                group[aggregate] = count
            elif aggregate.function == "COUNT":
                group[aggregate] = 0 if value is None else 1 if aggregate.distinct else count
            else:
                group[aggregate] = value
        groups.append(group)
    return groups


def explain_select(table: ReadTable, select: ast.Select) -> str:
    """The plan of a SELECT as one line, with its grouping step."""
    if is_grouped(select) and counted_column(select, table.schema.indexes) is not None:
        return f"VALUE COUNTS {select.group_by[0].text} (GROUP BY without reading rows)"
    text = explain(table, select.where)
    if is_grouped(select):
        columns = ", ".join(c.text for c in select.group_by)
        text += f", then GROUP BY {columns}" if columns else ", then AGGREGATE"
    if select.distinct:
        text += ", then DISTINCT"
    return text
