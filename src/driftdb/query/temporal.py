"""Reads over history rather than at a point: versions as rows (FOR SYSTEM_TIME), DIFF between
two points, and SHOW BLAME of one row. Pure over the read view's Protocol (`HistoryView`).

Ranges. Both ends resolve to seqs as AS OF does (a time to the last seq at or before it).
`BETWEEN a AND b` keeps the versions visible at some point p with a <= p <= b; `FROM a TO b`
those with a <= p < b (so b resolves to the point just before it: @seq:N-1, or the time one
millisecond earlier); `ALL` every version. A version is visible from the event that started it
up to (not including) the event that ended it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from driftdb.errors import KeyNotFoundError
from driftdb.index.keycodec import MAX_U64
from driftdb.model.docdiff import changed_paths, leaf_items, same_value, value_at
from driftdb.model.events import Document, EventType, Key
from driftdb.model.timepoint import TimePoint, format_unix_ms
from driftdb.query import ast
from driftdb.query.engine import display_columns, key_order
from driftdb.query.evaluate import matches, order_rows
from driftdb.query.planner import (
    FullScan,
    IndexRange,
    Intersect,
    KeyLookup,
    Plan,
    Union,
    plan_where,
)
from driftdb.query.source import ReadTable, ReadView


class Step(Protocol):
    """One event of a key as a history read sees it."""

    seq: int
    unix_ms: int
    type: EventType
    row: Document | None


class RowVersion(Protocol):
    key: Key
    seq: int
    unix_ms: int
    type: EventType
    row: Document
    end_seq: int | None
    end_unix_ms: int | None
    start: Any


class HistoryView(ReadView, Protocol):
    """A read view that also reads versions over seq ranges (engine/versions.py)."""

    def versions_in_range(
        self, lo: int, hi: int, keys: Iterable[Key] | None = None
    ) -> Iterator[RowVersion]: ...

    def key_steps(self, key: Key, lo: int = ..., hi: int = ...) -> list[Step]: ...

    def keys_changed(self, a: int, b: int) -> list[Key]: ...

    def step_meta(self, key: Key, step: Any) -> dict[str, Any] | None: ...

    def keys_in_range_during(
        self,
        column: str,
        lower: Any,
        upper: Any,
        lo: int,
        hi: int,
        include_lower: bool,
        include_upper: bool,
    ) -> Iterator[Key] | None: ...


# ---------------------------------------------------------------- points and ranges


def resolve(table: ReadTable, view: Any, point: ast.AsOf | None) -> int:
    """The seq a timepoint means (now: MAX_U64), checked against the horizon."""
    from driftdb.model.timepoint import parse_timepoint

    return table.resolve_point(view, parse_timepoint(point))


def _just_before(table: ReadTable, view: Any, point: ast.AsOf) -> int:
    """The seq of the point just before `point`: the upper end of FROM a TO b."""
    from driftdb.model.timepoint import parse_timepoint

    resolved = parse_timepoint(point)
    if resolved.kind == "now":
        return MAX_U64
    if resolved.kind == "seq":
        assert resolved.seq is not None
        return resolve(table, view, point) - 1
    assert resolved.unix_ms is not None
    return table.resolve_point(
        view, TimePoint("time", unix_ms=resolved.unix_ms - 1, text=resolved.text)
    )


def seq_range(table: ReadTable, view: Any, clause: ast.SystemTime) -> tuple[int, int]:
    """The closed seq range [lo, hi] of the versions a FOR SYSTEM_TIME clause asks for."""
    if clause.kind == "all":
        return -1, MAX_U64
    lo = resolve(table, view, clause.start)
    assert clause.end is not None
    hi = (
        resolve(table, view, clause.end)
        if clause.kind == "between"
        else _just_before(table, view, clause.end)
    )
    return lo, hi


# ---------------------------------------------------------------- versions as rows


def system_columns(version: RowVersion, meta: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "_seq": version.seq,
        "_ts": format_unix_ms(version.unix_ms),
        "_op": version.type.name,
        "_end_seq": version.end_seq,
        "_end_ts": format_unix_ms(version.end_unix_ms) if version.end_unix_ms is not None else None,
        "_meta": meta,
    }


def _needs_meta(select: ast.Select) -> bool:
    named = [c for c in select.columns or () if isinstance(c, ast.Column)]
    terms = [item.column for item in select.order_by] + [i.expr for i in select.items]
    terms += list(select.group_by)
    for term in terms:
        column = term.column if isinstance(term, ast.Aggregate) else term  # None: COUNT(*)
        if isinstance(column, ast.Column):
            named.append(column)
    named += list(ast.columns_of(select.where))
    named += list(ast.columns_of(select.having))
    return any(c.path[0] == "_meta" for c in named)


def _version_plan(table: ReadTable, where: ast.Expr | None) -> Plan:
    system = set(ast.SYSTEM_COLUMNS)
    indexed = tuple(c for c in table.schema.indexes if c.split(".")[0] not in system)
    pk = table.primary_key if table.primary_key not in system else ""
    return plan_where(where, indexed, pk)


def _plan_keys(view: HistoryView, plan: Plan, lo: int, hi: int) -> set[Key] | None:
    """Candidate keys for a version plan; None: every key (a full scan)."""
    if isinstance(plan, KeyLookup):
        return set(plan.keys)
    if isinstance(plan, IndexRange):
        found = view.keys_in_range_during(
            plan.column, plan.lower, plan.upper, lo, hi, plan.include_lower, plan.include_upper
        )
        return None if found is None else set(found)
    if isinstance(plan, Union | Intersect):
        parts = [_plan_keys(view, p, lo, hi) for p in plan.parts]
        known = [p for p in parts if p is not None]
        if isinstance(plan, Union):
            return None if len(known) < len(parts) else set().union(*known)
        if not known:
            return None
        result = known[0]
        for other in known[1:]:
            result &= other
        return result
    return None


def version_rows(table: ReadTable, select: ast.Select) -> list[dict[str, Any]]:
    """The versions a SELECT ... FOR SYSTEM_TIME finds, filtered and ordered: each the row with
    the system columns added (later projected)."""
    clause = select.as_of
    assert isinstance(clause, ast.SystemTime)
    with_meta = _needs_meta(select)
    plan = _version_plan(table, select.where)
    view: HistoryView
    with table.view() as view:  # type: ignore[assignment]
        lo, hi = seq_range(table, view, clause)
        if lo > hi:
            return []
        keys = _plan_keys(view, plan, lo, hi)
        floor = _seq_floor(select.where)
        if floor is not None and floor >= lo:
            # Only versions started after `floor`: their keys have an event in (floor, hi],
            # which the seqs index gives without visiting the keys live at lo.
            started = set(view.keys_changed(floor, hi)) if floor < hi else set()
            keys = started if keys is None else keys & started
        chosen = None if keys is None else sorted(keys, key=key_order)
        rows: list[dict[str, Any]] = []
        for version in view.versions_in_range(lo, hi, chosen):
            meta = view.step_meta(version.key, version.start) if with_meta else None
            row = {**version.row, **system_columns(version, meta)}
            if select.where is None or matches(select.where, row):
                rows.append(row)
    if select.order_by:
        rows = [dict(r) for r in order_rows(rows, select.order_by)]
    start = select.offset or 0
    end = None if select.limit is None else start + select.limit
    return rows[start:end]


def _seq_floor(where: ast.Expr | None) -> int | None:
    """n when the WHERE requires `_seq > n` (or `_seq >= n + 1`) in a top-level AND term."""
    terms = where.operands if isinstance(where, ast.And) else (where,)
    floors = []
    for term in terms:
        if not isinstance(term, ast.Comparison):
            continue
        op: str = term.op
        left, right = term.left, term.right
        if isinstance(left, ast.Literal):
            op, left, right = {">": "<", ">=": "<=", "<": ">", "<=": ">="}.get(op, op), right, left
        if (
            isinstance(left, ast.Column)
            and left.path == ("_seq",)
            and isinstance(right, ast.Literal)
            and isinstance(right.value, int | float)
            and not isinstance(right.value, bool)
            and op in (">", ">=")
        ):
            value = right.value
            floor = int(value) if op == ">" or value != int(value) else int(value) - 1
            if isinstance(value, float) and op == ">" and value != int(value):
                floor = int(value) if value >= 0 else int(value) - 1
            floors.append(floor)
    return max(floors) if floors else None


def project_versions(
    rows: list[dict[str, Any]], select: ast.Select, primary_key: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """Version rows as the SELECT list shows them, and the column order."""
    system = set(ast.SYSTEM_COLUMNS)
    docs = [{k: v for k, v in r.items() if k not in system} for r in rows]
    if select.columns is None:
        return docs, display_columns(docs, primary_key)
    out: list[dict[str, Any]] = []
    names: list[str] = []
    for column in select.columns:
        if isinstance(column, ast.AllColumns):
            names.extend(n for n in display_columns(docs, primary_key) if n not in names)
        elif column.text not in names:
            names.append(column.text)
    for row, doc in zip(rows, docs, strict=True):
        shown: dict[str, Any] = {}
        for column in select.columns:
            if isinstance(column, ast.AllColumns):
                shown.update(doc)
            else:
                shown[column.text] = value_at(row, column.path)[1]
        out.append(shown)
    return out, names


# ---------------------------------------------------------------- DIFF


DIFF_COLUMNS = ["key", "change", "before", "after", "fields"]


def diff_rows(
    table: ReadTable, start: ast.AsOf | None, end: ast.AsOf | None, where: ast.Expr | None
) -> list[dict[str, Any]]:
    """One row per key whose row differs between two points, in key order: {key, change
    ("added", "removed", "changed"), before, after, fields (the dotted leaf paths that
    differ)}. Only the keys with an event between the points are read (the `seqs` index)."""
    view: HistoryView
    with table.view() as view:  # type: ignore[assignment]
        a = resolve(table, view, start)
        b = resolve(table, view, end)
        out = []
        for key in view.keys_changed(a, b):
            before = view.get(key, a)
            after = view.get(key, b)
            if before is None and after is None:
                continue
            if before is not None and after is not None and same_value(before, after):
                continue
            if where is not None and not any(
                row is not None and matches(where, row) for row in (before, after)
            ):
                continue
            change = "added" if before is None else "removed" if after is None else "changed"
            out.append(
                {
                    "key": key,
                    "change": change,
                    "before": before,
                    "after": after,
                    "fields": changed_paths(before, after),
                }
            )
    return out


# ---------------------------------------------------------------- BLAME


BLAME_COLUMNS = ["field", "value", "seq", "ts", "op", "meta"]


def blame_rows(table: ReadTable, key: Key, as_of: ast.AsOf | None) -> list[dict[str, Any]]:
    """One row per leaf field path of the row at `as_of`, naming the event that set the value
    it holds: the oldest event of the unbroken run of versions, back from `as_of`, in which the
    path held that same value (a patch writing the same value again takes no blame; an INSERT
    sets every field)."""
    view: HistoryView
    with table.view() as view:  # type: ignore[assignment]
        seq = resolve(table, view, as_of)
        steps = [s for s in view.key_steps(key, -1, seq) if s.seq <= seq]
        if not steps or steps[-1].row is None:
            point = "now" if as_of is None or as_of.kind == "now" else f"at {as_of.text}"
            raise KeyNotFoundError(f'table "{table.name}" has no live row with key {key!r} {point}')
        current = steps[-1].row
        out = []
        metas: dict[int, dict[str, Any] | None] = {}
        for path, value in leaf_items(current):
            i = len(steps) - 1
            while i > 0 and steps[i].type is not EventType.INSERT:
                earlier = steps[i - 1].row
                if earlier is None:
                    break
                found, old = value_at(earlier, path)
                if not found or not same_value(old, value):
                    break
                i -= 1
            step = steps[i]
            if i not in metas:
                metas[i] = view.step_meta(key, step)
            out.append(
                {
                    "field": ".".join(path),
                    "value": value,
                    "seq": step.seq,
                    "ts": format_unix_ms(step.unix_ms),
                    "op": step.type.name,
                    "meta": metas[i],
                }
            )
    return out


# ---------------------------------------------------------------- EXPLAIN


def explain_history(table: ReadTable, stmt: Any) -> str:
    """The plan of a SELECT over versions, DIFF, SHOW BLAME, RESTORE or ALTER TABLE."""
    if isinstance(stmt, ast.Select):
        assert isinstance(stmt.as_of, ast.SystemTime)
        plan = _version_plan(table, stmt.where)
        if isinstance(plan, KeyLookup):
            how = f"VERSIONS OF KEY {', '.join(map(repr, plan.keys))} from the key directory"
        elif isinstance(plan, FullScan):
            how = (
                "VERSIONS of every key live at the range's start (one seek per key) and of the "
                "keys of the events in the range (the seqs index)"
            )
        else:
            how = f"VERSIONS of the keys from {plan.describe()} over runs overlapping the range"
        if _seq_floor(stmt.where) is not None:
            how += f"; only keys with an event after @seq:{_seq_floor(stmt.where)} (the seqs index)"
        return how + (", then FILTER by the full WHERE" if stmt.where is not None else "")
    if isinstance(stmt, ast.Diff):
        text = (
            "DIFF: keys of the events between the two points (the seqs index), each row at "
            "both points from the key directory"
        )
        return text + (", then FILTER (before or after matches)" if stmt.where else "")
    if isinstance(stmt, ast.ShowBlame):
        return (
            f"BLAME KEY {stmt.key!r}: the versions of the key up to the point from the key "
            "directory; audit meta from the blamed events' frames"
        )
    if isinstance(stmt, ast.Restore):
        if stmt.key is not None:
            return (
                f"RESTORE KEY {stmt.key!r}: its row at the point and now from the key "
                "directory; one PATCH, INSERT or SOFT DELETE, or nothing when equal"
            )
        return (
            "RESTORE: keys of the events after the point (the seqs index); one event per key "
            "that differs, all in one atomic batch"
        )
    assert isinstance(stmt, ast.AlterTable)
    columns = ", ".join(stmt.columns)
    if stmt.action == "add":
        return (
            f"ADD INDEX ({columns}): one pass over every version in the key directory builds "
            "the temporal index and value counts, in one transaction; then schema.yaml"
        )
    return f"DROP INDEX ({columns}): schema.yaml, then the index entries are dropped"
