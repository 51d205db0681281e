"""Runs parsed DriftQL statements against a database and returns uniform results."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from driftdb.errors import InvalidInputError, KeyNotFoundError
from driftdb.model.frozen import Record
from driftdb.model.replay import DriftEntry
from driftdb.model.timepoint import format_unix_ms
from driftdb.model.wording import plural, seq_span
from driftdb.query import ast
from driftdb.query.aggregate import (
    distinct_rows,
    finish,
    group_rows,
    is_grouped,
    project_items,
    resolve_order,
)
from driftdb.query.engine import (
    count_rows,
    display_columns,
    explain_select,
    select_groups,
    select_rows,
    to_timepoint,
)
from driftdb.query.evaluate import order_rows, project
from driftdb.query.parser import output_name, parse
from driftdb.query.source import Catalog


class Result(Record):
    """What a statement produced: rows (with their column order), and/or a message.

    Iterating a Result iterates its rows; `seq` is the last seq a write produced.
    """

    __slots__ = __match_args__ = ("kind", "rows", "columns", "message", "seq")
    kind: str
    rows: list[dict[str, Any]]
    columns: list[str]
    message: str | None
    seq: int | None

    def __init__(
        self,
        kind: str,
        rows: list[dict[str, Any]] | None = None,
        columns: list[str] | None = None,
        message: str | None = None,
        seq: int | None = None,
    ) -> None:
        self.kind = kind
        self.rows = [] if rows is None else rows
        self.columns = [] if columns is None else columns
        self.message = message
        self.seq = seq

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def count(self) -> int | None:
        """The number a COUNT(*) returned (None for other statements, and when LIMIT 0 or an
        OFFSET left no row)."""
        return int(self.rows[0]["count"]) if self.kind == "count" and self.rows else None

    # DataFrames (model/columnar.py: pip install "driftdb[arrow]", "[pandas]", "[polars]")

    def to_arrow(self) -> Any:
        """The rows as a pyarrow Table, columns in `columns` order."""
        from driftdb.model.columnar import table_of

        return table_of(self.rows, self.columns or None)

    def to_pandas(self) -> Any:
        from driftdb.model.columnar import to_pandas

        return to_pandas(self.to_arrow())

    def to_polars(self) -> Any:
        from driftdb.model.columnar import to_polars

        return to_polars(self.to_arrow())

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        """The Arrow PyCapsule stream: pyarrow.table(result), polars.DataFrame(result) and
        DuckDB read a Result directly."""
        return self.to_arrow().__arrow_c_stream__(requested_schema)


DRIFT_COLUMNS = ["seq", "ts", "type", "data", "row", "meta"]


def drift_rows(entries: list[DriftEntry]) -> list[dict[str, Any]]:
    """History entries as the documented drift objects {seq, ts, type, data, row, meta}; an
    event whose payload PURGE erased also has `purged`: {"ts": when, ...the purge record}."""
    rows = []
    for e in entries:
        row = {
            "seq": e.seq,
            "ts": format_unix_ms(e.unix_ms),
            "type": e.type.name,
            "data": e.data,
            "row": e.row,
            "meta": e.meta,
        }
        if e.purged is not None:
            row["purged"] = _purge_record(e.purged)
        rows.append(row)
    return rows


def _purge_record(purged: dict[str, Any]) -> dict[str, Any]:
    record = {k: v for k, v in purged.items() if k != "unix_ms"}
    if isinstance(purged.get("unix_ms"), int):
        record = {"ts": format_unix_ms(purged["unix_ms"]), **record}
    return record


def drift_result(entries: list[DriftEntry], key: Any) -> Result:
    """The drift of one key. If PURGE erased its payloads, a `purged` column and a message say
    so: null data and rows would otherwise read as events that wrote nothing."""
    rows = drift_rows(entries)
    purges = [r["purged"] for r in rows if "purged" in r]
    if not purges:
        return Result("drift", rows, list(DRIFT_COLUMNS))
    when = purges[-1].get("ts", "an unknown time")
    note = (
        f"key {key!r} was purged at {when}: the data of {len(purges)} of its events was "
        "erased (their seqs, times and types remain)"
    )
    return Result("drift", rows, [*DRIFT_COLUMNS, "purged"], message=note)


def execute_script(db: Catalog, source: str, params: Sequence[Any] = ()) -> list[Result]:
    """Parse every statement first (so a syntax error anywhere runs nothing), then run them."""
    return [execute_statement(db, stmt) for stmt in parse(source, params)]


def execute_statement(db: Catalog, stmt: ast.Statement) -> Result:
    """Run one statement. A write inside a transaction says it is pending, not the seq it
    would get: a ROLLBACK gives that seq to the next write, and COMMIT reports the seqs."""
    result = _execute(db, stmt)
    if result.kind == "write" and result.message and db.transaction_seqs() is not None:
        result.message = _SEQ_NOTE.sub("(pending until COMMIT)", result.message)
    return result


# How a write's message ends: "(seq 5)" or "(seqs 5-7)".
_SEQ_NOTE = re.compile(r"\(seqs? \d+(?:-\d+)?\)$")


def _execute(db: Catalog, stmt: ast.Statement) -> Result:
    if isinstance(stmt, ast.Select):
        return _select(db, stmt)
    if isinstance(stmt, ast.Diff | ast.ShowBlame | ast.Restore | ast.AlterTable):
        return _history_statement(db, stmt)
    if isinstance(stmt, ast.Explain):
        return _explain(db, stmt)
    if isinstance(stmt, ast.Insert):
        table = db.table(stmt.table)
        docs = [dict(d) for d in stmt.documents]
        seqs = table.insert_many(docs) if len(docs) > 1 else [table.insert(docs[0])]
        message = f"inserted {plural(len(seqs), 'row')} ({seq_span(seqs)})"
        return Result("write", message=message, seq=seqs[-1])
    if isinstance(stmt, ast.Patch):
        seq = db.table(stmt.table).patch(stmt.key, dict(stmt.patch))
        return Result("write", message=f"patched key {stmt.key!r} (seq {seq})", seq=seq)
    if isinstance(stmt, ast.SoftDelete):
        seq = db.table(stmt.table).soft_delete(stmt.key)
        return Result("write", message=f"soft-deleted key {stmt.key!r} (seq {seq})", seq=seq)
    if isinstance(stmt, ast.CreateTable):
        db.create_table(stmt.table, primary_key=stmt.primary_key, indexes=list(stmt.indexes))
        return Result("ddl", message=f'created table "{stmt.table}"')
    if isinstance(stmt, ast.ShowTables):
        rows: list[dict[str, Any]] = [{"table": name} for name in db.tables()]
        return Result("rows", rows, ["table"])
    if isinstance(stmt, ast.Describe):
        return _describe(db, stmt.table)
    if isinstance(stmt, ast.ShowDrift):
        entries = db.table(stmt.table).history(stmt.key)
        if not entries:
            raise _no_history(db, stmt.table, stmt.key)
        return drift_result(entries, stmt.key)
    if isinstance(stmt, ast.Snapshot | ast.Compact | ast.Purge):
        return _maintenance_statement(db, stmt)
    if isinstance(stmt, ast.Begin | ast.Commit | ast.Rollback):
        return _transaction(db, stmt)
    raise InvalidInputError(f"unsupported statement {type(stmt).__name__}")


def _maintenance_statement(db: Catalog, stmt: ast.Snapshot | ast.Compact | ast.Purge) -> Result:
    if isinstance(stmt, ast.Snapshot):
        return _maintenance(db, stmt.table, "snapshot")
    if isinstance(stmt, ast.Compact):
        return _maintenance(db, stmt.table, "compact", stmt.before, force=stmt.force)
    return _maintenance(db, stmt.table, "purge", key=stmt.key)


def _transaction(db: Catalog, stmt: ast.Transaction) -> Result:
    """BEGIN / COMMIT / ROLLBACK: the database's transaction (Database.begin)."""
    if isinstance(stmt, ast.Begin):
        db.begin()
        return Result("transaction", message="transaction open")
    seqs = db.transaction_seqs() or range(0)
    if isinstance(stmt, ast.Commit):
        seq = db.commit()
        return Result("transaction", message=f"committed {_writes_with_seqs(seqs)}", seq=seq)
    db.rollback()
    if not seqs:
        return Result("transaction", message="rolled back")
    return Result("transaction", message=f"rolled back; {plural(len(seqs), 'write')} discarded")


def _writes_with_seqs(seqs: range) -> str:
    """`2 writes (seqs 8-9)`, `1 write (seq 8)`, `(no writes)`."""
    if not seqs:
        return "(no writes)"
    return f"{plural(len(seqs), 'write')} ({seq_span(seqs)})"


def _no_history(db: Catalog, table: str, key: Any) -> Exception:
    return KeyNotFoundError(
        f'table "{table}" has no history for key {key!r}'
        + (' (keys are typed: "7" and 7 differ)' if isinstance(key, str | int) else "")
    )


def _history_statement(
    db: Catalog, stmt: ast.Diff | ast.ShowBlame | ast.Restore | ast.AlterTable
) -> Result:
    """DIFF, SHOW BLAME, RESTORE and ALTER TABLE (query/temporal.py; the writes in table.py)."""
    from driftdb.query import temporal

    table = db.table(stmt.table)
    if isinstance(stmt, ast.Diff):
        rows = temporal.diff_rows(table, stmt.start, stmt.end, stmt.where)
        return Result("rows", rows, list(temporal.DIFF_COLUMNS))
    if isinstance(stmt, ast.ShowBlame):
        rows = temporal.blame_rows(table, stmt.key, stmt.as_of)
        return Result("rows", rows, list(temporal.BLAME_COLUMNS))
    if isinstance(stmt, ast.Restore):
        report = table.restore(to_timepoint(stmt.as_of), key=stmt.key, meta=stmt.meta)
        return Result("write", message=str(report), seq=report.last_seq)
    if stmt.action == "add":
        message = table.add_index(list(stmt.columns))
    else:
        message = table.drop_index(list(stmt.columns))
    return Result("ddl", message=message)


def _explain(db: Catalog, stmt: ast.Explain) -> Result:
    inner = stmt.select
    if not isinstance(inner, ast.Select) or isinstance(inner.as_of, ast.SystemTime):
        return _explain_history(db, inner)
    table = db.table(inner.table)
    to_timepoint(inner.as_of)  # a bad AS OF fails here too
    text = explain_select(table, inner)
    return Result("plan", [{"plan": text}], ["plan"], text)


def _explain_history(
    db: Catalog, stmt: ast.Select | ast.Diff | ast.ShowBlame | ast.Restore | ast.AlterTable
) -> Result:
    from driftdb.query.temporal import explain_history

    text = explain_history(db.table(stmt.table), stmt)
    return Result("plan", [{"plan": text}], ["plan"], text)


def _select_versions(db: Catalog, stmt: ast.Select) -> Result:
    from driftdb.query import temporal

    table = db.table(stmt.table)
    if stmt.items or stmt.distinct:
        # Aggregates, aliases, DISTINCT over versions: filter here, then group, order and
        # cut as for rows at a point (ORDER BY and LIMIT apply to the groups, not the versions).
        everything = ast.Select(
            stmt.table, None, False, stmt.where, stmt.as_of, (), None, None, (), False, (), None
        )
        return _items_over(temporal.version_rows(table, everything), stmt, table.primary_key)
    rows = temporal.version_rows(table, stmt)
    if stmt.count:
        return Result("count", [{"count": len(rows)}], ["count"])
    shown, names = temporal.project_versions(rows, stmt, table.primary_key)
    return Result("rows", shown, names)


def _select(db: Catalog, stmt: ast.Select) -> Result:
    if isinstance(stmt.as_of, ast.SystemTime):
        return _select_versions(db, stmt)
    table = db.table(stmt.table)
    if stmt.count:
        n = count_rows(table, stmt.where, stmt.as_of)
        start = stmt.offset or 0
        end = None if stmt.limit is None else start + stmt.limit
        return Result("count", [{"count": n}][start:end], ["count"])
    if stmt.items or stmt.distinct:
        return _select_items(table, stmt)
    rows = select_rows(table, stmt.where, stmt.as_of, stmt.order_by, stmt.limit, stmt.offset)
    if stmt.columns is None:
        return Result("rows", rows, display_columns(rows, table.primary_key))
    if any(isinstance(c, ast.AllColumns) for c in stmt.columns):
        return _star_and_columns(rows, stmt.columns, table.primary_key)
    columns = [c for c in stmt.columns if isinstance(c, ast.Column)]
    names = [c.text for c in columns]
    return Result("rows", [project(row, columns) for row in rows], names)


def _star_and_columns(
    rows: list[dict[str, Any]], columns: tuple[ast.Column | ast.AllColumns, ...], pk: str
) -> Result:
    """`SELECT *, a, b.c`: every field, then the columns named (a name shows once)."""
    names = display_columns(rows, pk)
    extra = [c for c in columns if isinstance(c, ast.Column)]
    names += [c.text for c in extra if c.text not in names]
    return Result("rows", [{**row, **project(row, extra)} for row in rows], names)


def _items_over(rows: list[dict[str, Any]], stmt: ast.Select, primary_key: str) -> Result:
    """A SELECT with aliases, aggregates, GROUP BY, HAVING or DISTINCT over rows already
    filtered by its WHERE (the versions of a FOR SYSTEM_TIME range)."""
    if is_grouped(stmt):
        shown, names = finish(group_rows(rows, stmt), stmt)
        return Result("rows", shown, names)
    order = resolve_order(stmt)
    found = [dict(r) for r in order_rows(rows, order)] if order else rows
    if stmt.items:
        names = [output_name(i) for i in stmt.items]
        out = [project_items(row, stmt.items) for row in found]
    else:  # DISTINCT *
        out = [dict(row) for row in found]
        names = display_columns(out, primary_key)
    if stmt.distinct:
        out = distinct_rows(out)
    start = stmt.offset or 0
    end = None if stmt.limit is None else start + stmt.limit
    return Result("rows", out[start:end], names)


def _select_items(table: Any, stmt: ast.Select) -> Result:
    """A SELECT with aliases, aggregates, GROUP BY, HAVING or DISTINCT."""
    if is_grouped(stmt):
        rows, names = select_groups(table, stmt)
        return Result("rows", rows, names)
    assert not isinstance(stmt.as_of, ast.SystemTime)  # versions: _select_versions
    order = resolve_order(stmt)
    if not stmt.distinct:
        found = select_rows(table, stmt.where, stmt.as_of, order, stmt.limit, stmt.offset)
        names = [output_name(i) for i in stmt.items]
        return Result("rows", [project_items(row, stmt.items) for row in found], names)
    found = select_rows(table, stmt.where, stmt.as_of, order)
    if stmt.items:
        rows = distinct_rows(project_items(row, stmt.items) for row in found)
        names = [output_name(i) for i in stmt.items]
    else:  # DISTINCT *
        rows = distinct_rows(dict(row) for row in found)
        names = display_columns(rows, table.primary_key)
    start = stmt.offset or 0
    end = None if stmt.limit is None else start + stmt.limit
    return Result("rows", rows[start:end], names)


def _describe(db: Catalog, name: str) -> Result:
    table = db.table(name)
    with table.view() as view:
        first = view.first_seq()
        last = view.last_seq()
        live = view.count(2**64 - 1)
    horizon = table.horizon() if hasattr(table, "horizon") else None
    info: dict[str, Any] = {
        "table": table.name,
        "primary_key": table.primary_key,
        "indexes": ", ".join(table.schema.indexes) or "(none)",
        "rows": live,
        "first_seq": first if first is not None else None,
        "last_seq": last if last >= 0 else None,
        "horizon": f"@seq:{horizon}" if horizon is not None else "(full history)",
    }
    if table.schema.index_changes:
        info["index_changes"] = "; ".join(
            f"{c['action'].upper()} INDEX ({', '.join(c['columns'])}) at @seq:{c['seq']}"
            for c in table.schema.index_changes
        )
    rows = [{"property": k, "value": v} for k, v in info.items()]
    return Result("describe", rows, ["property", "value"])


def _maintenance(
    db: Catalog,
    name: str,
    action: str,
    before: ast.AsOf | None = None,
    key: Any = None,
    force: bool = False,
) -> Result:
    table = db.table(name)
    method = getattr(table, action, None)
    if method is None:
        raise InvalidInputError(f"{action.upper()} is not available in this build")
    if action == "compact":
        report = (
            method(before=to_timepoint(before), force=force) if before is not None else method()
        )
    elif action == "purge":
        report = method(key)
    else:
        report = method()
    return Result("maintenance", message=str(report))
