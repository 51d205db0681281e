"""Tables and their history as Arrow, pandas and Polars, at any point in history.

`table.to_arrow(as_of=..., where=..., columns=...)` reads the rows live at that point through
one consistent read view, in primary-key order, and streams them as record batches
(`table.arrow_reader(...)` gives the pyarrow RecordBatchReader itself): a first pass finds the
union schema (model/columnar.py says how documents map to Arrow types: structs, lists, a JSON
string column where types conflict, the primary key first), a second builds one batch at a
time, so the rows are never all held as Python objects. The (top-level) indexed columns are
always present (Arrow type null while no row holds them), so SQL over them works at any point.
`to_pandas` converts the Arrow table releasing its buffers as it goes: about one extra copy of
the data at the peak.

`table.history_frame(...)`: one row per event, with the system columns `seq`, `ts` (UTC
timestamp, ms), `op` (INSERT, PATCH, SOFT_DELETE) and `meta` (the audit map, or null), then
the primary key and the row as it stood after the event (null fields after a SOFT_DELETE).
A row field named like a system column appears as `row.<name>`.

The optional packages: `pip install "driftdb[arrow]"` (pyarrow), `[pandas]`, `[polars]`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from driftdb.index.keycodec import encode_key
from driftdb.model.columnar import Columns, Shape, require, to_pandas, to_polars
from driftdb.model.timepoint import AsOf, parse_timepoint
from driftdb.query.engine import iter_matching, to_expr
from driftdb.query.planner import plan_where
from driftdb.query.source import ReadTable, Where

# What the history needs beyond ReadTable (a read view's key directory, base, overlay and
# history): driftdb.Table. Named loosely so that this module does not import table.py back.
Table = ReadTable

SYSTEM_COLUMNS = ("seq", "ts", "op", "meta")


def arrow_reader(
    table: Table,
    as_of: AsOf = None,
    where: Where = None,
    columns: Sequence[str] | None = None,
    params: Sequence[Any] = (),
) -> Any:
    """A pyarrow RecordBatchReader of the rows live at `as_of` that match `where`, with the
    top-level `columns` given (all by default, the primary key first). The read view stays
    open until the reader is exhausted or closed."""
    pa = require("pyarrow", "arrow")
    expr = to_expr(where, params)
    plan = plan_where(expr, table.schema.indexes, table.primary_key)
    view: Any = table.view()  # a TableView: closed when the stream ends
    try:
        seq = table.resolve_point(view, parse_timepoint(as_of))
        only = list(columns) if columns is not None else None
        shape = Columns([table.primary_key], only).observe_all(iter_matching(view, expr, plan, seq))
        for column in table.schema.indexes:  # always there: SQL may name an indexed column
            if "." not in column and only is None:  # before any row at this point holds it
                shape.shapes.setdefault(column, Shape())
        schema = shape.schema()
    except BaseException:
        view.close()
        raise

    def stream() -> Iterator[Any]:
        try:
            yield from shape.batches(iter_matching(view, expr, plan, seq))
        finally:
            view.close()

    return pa.RecordBatchReader.from_batches(schema, stream())


def to_arrow(
    table: Table,
    as_of: AsOf = None,
    where: Where = None,
    columns: Sequence[str] | None = None,
    params: Sequence[Any] = (),
) -> Any:
    """The rows at `as_of` as a pyarrow Table (see `arrow_reader`)."""
    return arrow_reader(table, as_of, where, columns, params).read_all()


def table_to_pandas(
    table: Table,
    as_of: AsOf = None,
    where: Where = None,
    columns: Sequence[str] | None = None,
    params: Sequence[Any] = (),
) -> Any:
    require("pandas", "pandas")
    return to_pandas(to_arrow(table, as_of, where, columns, params))


def table_to_polars(
    table: Table,
    as_of: AsOf = None,
    where: Where = None,
    columns: Sequence[str] | None = None,
    params: Sequence[Any] = (),
) -> Any:
    require("polars", "polars")
    return to_polars(to_arrow(table, as_of, where, columns, params))


def history_reader(table: Any, key: Any = None, as_of: AsOf = None) -> Any:
    """A RecordBatchReader of the table's events up to `as_of` (of one key, or of every key
    in key order, each key's events in seq order): system columns, then the row after."""
    pa = require("pyarrow", "arrow")
    view = table.view()
    try:
        upto = table.resolve_point(view, parse_timepoint(as_of))
        if key is not None:
            keys: list[Any] = [key]
        elif view.reader is not None:
            keys = list(view.reader.distinct_keys())
            extra = [k for k in view.overlay if k not in set(keys)]
            keys = sorted([*keys, *extra], key=encode_key) if extra else keys
        else:
            known = set(view.base or ()) | set(view.overlay)
            keys = sorted(known, key=encode_key)

        def events() -> Iterator[dict[str, Any]]:
            for k in keys:
                for entry in view.history(k):
                    if entry.seq > upto:
                        break
                    yield _event_row(table.primary_key, k, entry)

        types = {"seq": pa.int64(), "ts": pa.timestamp("ms", tz="UTC"), "op": pa.string()}
        first = [*SYSTEM_COLUMNS, table.primary_key]
        shape = Columns(first, types=types).observe_all(events())
        schema = shape.schema()
    except BaseException:
        view.close()
        raise

    def stream() -> Iterator[Any]:
        try:
            yield from shape.batches(events())
        finally:
            view.close()

    return pa.RecordBatchReader.from_batches(schema, stream())


def _event_row(primary_key: str, key: Any, entry: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "seq": entry.seq,
        "ts": entry.unix_ms,
        "op": entry.type.name,
        "meta": entry.meta or None,
        primary_key: key,
    }
    for name, value in (entry.row or {}).items():
        if name in SYSTEM_COLUMNS:
            out[f"row.{name}"] = value
        elif name != primary_key:
            out[name] = value
    return out
