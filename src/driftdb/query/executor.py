"""Runs parsed DriftQL statements against a database and returns uniform results."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from driftdb.errors import InvalidInputError, KeyNotFoundError
from driftdb.model.replay import DriftEntry
from driftdb.model.timepoint import format_unix_ms
from driftdb.query import ast
from driftdb.query.engine import count_rows, display_columns, explain, select_rows, to_timepoint
from driftdb.query.evaluate import project
from driftdb.query.parser import parse
from driftdb.query.source import Catalog


@dataclass
class Result:
    """What a statement produced: rows (with their column order), and/or a message.

    Iterating a Result iterates its rows; `seq` is the last seq a write produced.
    """

    kind: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    message: str | None = None
    seq: int | None = None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def count(self) -> int | None:
        """The number a COUNT(*) returned (None for other statements)."""
        return int(self.rows[0]["count"]) if self.kind == "count" else None

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


def drift_rows(entries: list[DriftEntry]) -> list[dict[str, Any]]:
    """History entries as the documented drift objects {seq, ts, type, data, row, meta}."""
    return [
        {
            "seq": e.seq,
            "ts": format_unix_ms(e.unix_ms),
            "type": e.type.name,
            "data": e.data,
            "row": e.row,
            "meta": e.meta,
        }
        for e in entries
    ]


def execute_script(db: Catalog, source: str, params: Sequence[Any] = ()) -> list[Result]:
    """Parse every statement first (so a syntax error anywhere runs nothing), then run them."""
    return [execute_statement(db, stmt) for stmt in parse(source, params)]


def execute_statement(db: Catalog, stmt: ast.Statement) -> Result:
    if isinstance(stmt, ast.Select):
        return _select(db, stmt)
    if isinstance(stmt, ast.Explain):
        table = db.table(stmt.select.table)
        to_timepoint(stmt.select.as_of)  # a bad AS OF fails here too
        text = explain(table, stmt.select.where)
        return Result("plan", [{"plan": text}], ["plan"], text)
    if isinstance(stmt, ast.Insert):
        table = db.table(stmt.table)
        docs = [dict(d) for d in stmt.documents]
        seqs = table.insert_many(docs) if len(docs) > 1 else [table.insert(docs[0])]
        noun = "row" if len(seqs) == 1 else "rows"
        span = f"seq {seqs[0]}" if len(seqs) == 1 else f"seqs {seqs[0]}-{seqs[-1]}"
        return Result("write", message=f"inserted {len(seqs)} {noun} ({span})", seq=seqs[-1])
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
        return Result("drift", drift_rows(entries), ["seq", "ts", "type", "data", "row", "meta"])
    if isinstance(stmt, ast.Snapshot):
        return _maintenance(db, stmt.table, "snapshot")
    if isinstance(stmt, ast.Compact):
        return _maintenance(db, stmt.table, "compact", stmt.before)
    if isinstance(stmt, ast.Purge):
        return _maintenance(db, stmt.table, "purge", key=stmt.key)
    if isinstance(stmt, ast.Begin | ast.Commit | ast.Rollback):
        return _transaction(db, stmt)
    raise InvalidInputError(f"unsupported statement {type(stmt).__name__}")


def _transaction(db: Catalog, stmt: ast.Transaction) -> Result:
    """BEGIN / COMMIT / ROLLBACK: the database's transaction (Database.begin)."""
    if isinstance(stmt, ast.Begin):
        db.begin()
        return Result("transaction", message="transaction open")
    if isinstance(stmt, ast.Commit):
        seq = db.commit()
        done = f"committed (last seq {seq})" if seq is not None else "committed (no writes)"
        return Result("transaction", message=done, seq=seq)
    db.rollback()
    return Result("transaction", message="rolled back")


def _no_history(db: Catalog, table: str, key: Any) -> Exception:
    return KeyNotFoundError(
        f'table "{table}" has no history for key {key!r}'
        + (' (keys are typed: "7" and 7 differ)' if isinstance(key, str | int) else "")
    )


def _select(db: Catalog, stmt: ast.Select) -> Result:
    table = db.table(stmt.table)
    if stmt.count:
        n = count_rows(table, stmt.where, stmt.as_of)
        return Result("count", [{"count": n}], ["count"])
    rows = select_rows(table, stmt.where, stmt.as_of, stmt.order_by, stmt.limit, stmt.offset)
    if stmt.columns is None:
        return Result("rows", rows, display_columns(rows, table.primary_key))
    names = [c.text for c in stmt.columns]
    return Result("rows", [project(row, stmt.columns) for row in rows], names)


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
    rows = [{"property": k, "value": v} for k, v in info.items()]
    return Result("describe", rows, ["property", "value"])


def _maintenance(
    db: Catalog, name: str, action: str, before: ast.AsOf | None = None, key: Any = None
) -> Result:
    table = db.table(name)
    method = getattr(table, action, None)
    if method is None:
        raise InvalidInputError(f"{action.upper()} is not available in this build")
    if action == "compact":
        report = method(before=to_timepoint(before)) if before is not None else method()
    elif action == "purge":
        report = method(key)
    else:
        report = method()
    return Result("maintenance", message=str(report))
