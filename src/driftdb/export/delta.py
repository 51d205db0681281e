"""Export a database's history to Delta Lake: one Delta table per DriftDB table, one row per
event, with the full row after each event, so that AS OF is one portable query in DuckDB,
Spark or Trino (docs/export.md).

The export is incremental and idempotent. Each Delta commit carries Delta's `txn` action
(`appId` = `app_id(database, table)`, `version` = the highest seq exported so far): the
watermark. A run reads the watermark and commits on one Delta table snapshot, so two exports
racing on one table cannot both append the same seqs: delta-rs refuses the second commit
(a concurrent transaction with the same appId), and this module says so.

Needs the optional packages `deltalake` and `pyarrow` (`pip install "driftdb[delta]"`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from driftdb.engine.view import TableView
from driftdb.errors import CorruptionError, DriftError, HistoryUnavailableError, InvalidInputError
from driftdb.export.source import ExportedEvent, base_events, events_after
from driftdb.model.events import EventType
from driftdb.storage import rewrite
from driftdb.table import Table

if TYPE_CHECKING:
    import pyarrow as pa

PIP_HINT = 'pip install "driftdb[delta]"'
# The columns, in order, with their Delta types (docs/export.md: "The schema").
COLUMNS = (
    ("seq", "long"),
    ("ts_ms", "long"),
    ("ts", "timestamp"),  # with the UTC zone: Delta's `timestamp`, not `timestamp_ntz`
    ("commit", "long"),
    ("op", "string"),
    ("key", "string"),
    ("doc", "string"),
    ("patch", "string"),
    ("meta", "string"),
)
REQUIRED = {"seq", "ts_ms", "ts", "commit", "op", "key"}
CHUNK_EVENTS = 20_000  # events per Arrow record batch while a slice is built
META_PREFIX = "driftdb."  # commit info keys: driftdb.seq_first, driftdb.seq_last, ...


class ExportError(DriftError):
    """An export that cannot go on: a missing package, a location holding something else, a
    lost race with another export, history discarded before the export's watermark."""


class Source(Protocol):
    """What the export asks of a database (driftdb.database.Database)."""

    @property
    def path(self) -> str: ...

    def tables(self) -> list[str]: ...

    def table(self, name: str) -> Table: ...

    def view_of(self, table: Table) -> TableView: ...

    def read_was_stable(self, table: Table, before: rewrite.Stamp, view: TableView) -> bool: ...


@dataclass(frozen=True)
class TableExport:
    """What one run did for one table: the seqs it appended (none: `events` is 0) and the Delta
    versions it committed, one per slice."""

    table: str
    uri: str
    watermark_before: int | None
    watermark: int | None
    events: int = 0
    versions: tuple[int, ...] = field(default_factory=tuple)
    seconds: float = 0.0

    def __str__(self) -> str:
        if not self.events:
            mark = f"@seq:{self.watermark}" if self.watermark is not None else "its start"
            return f'table "{self.table}": nothing new after {mark} ({self.uri})'
        start = (self.watermark_before or 0) + 1
        versions = ", ".join(str(v) for v in self.versions)
        plural = "s" if len(self.versions) > 1 else ""
        return (
            f'table "{self.table}": {self.events} events (@seq:{start}..@seq:{self.watermark}) '
            f"-> {self.uri}, Delta version{plural} {versions}"
        )


class _Moved(Exception):
    """A maintenance rewrite overlapped the read of a slice (never escapes this module)."""


def require_packages() -> tuple[Any, Any]:
    """The `deltalake` and `pyarrow` modules; ExportError naming the pip command without them."""
    try:
        import deltalake
        import pyarrow
    except ImportError as exc:
        raise ExportError(
            f"the Delta Lake export needs the deltalake and pyarrow packages ({exc.name} is "
            f"missing): {PIP_HINT}"
        ) from None
    return deltalake, pyarrow


def app_id(database: str, table: str) -> str:
    """The `appId` of the watermark: names the database (its directory's name) and the table."""
    return f"driftdb:{os.path.basename(os.path.abspath(database))}:{table}"


def table_uri(uri: str, table: str) -> str:
    """Where table `table` goes: `<uri>/<table>` (a local path or an object-store URI)."""
    return uri.rstrip("/") + "/" + table


def arrow_schema() -> pa.Schema:
    _, pa = require_packages()
    types = {"long": pa.int64(), "string": pa.string(), "timestamp": pa.timestamp("us", "UTC")}
    return pa.schema(
        [pa.field(name, types[kind], nullable=name not in REQUIRED) for name, kind in COLUMNS]
    )


def export_delta(
    db: Source,
    uri: str,
    tables: Sequence[str] | None = None,
    max_events: int | None = None,
) -> list[TableExport]:
    """Append every event after each table's watermark to `<uri>/<table>` (all tables by
    default): one Delta commit per table, or one per `max_events` events (a batch is never
    split, so a slice may hold more). Raises ExportError (see there); what was committed
    before an error stays committed, with its watermark."""
    require_packages()
    if max_events is not None and max_events < 1:
        raise InvalidInputError(f"max_events must be at least 1, not {max_events}")
    names = list(tables) if tables else db.tables()
    chosen = [db.table(name) for name in names]  # every name checked before any export
    return [export_table(db, t, table_uri(uri, t.name), max_events) for t in chosen]


def export_table(db: Source, table: Table, uri: str, max_events: int | None) -> TableExport:
    """Export one table. Plan:
    1. Open the Delta table at `uri` if there is one (one snapshot) and read the watermark
       under this database's appId; refuse a table with another schema or another owner.
    2. Take a consistent read view of the DriftDB table (the writer goes on meanwhile).
    3. The events to export: those after the watermark; with no watermark, the base state at
       the horizon as synthetic INSERTs (after COMPACT ... BEFORE) and then every event.
       A watermark before the horizon is an error: the events between were discarded.
    4. Cut them into slices of whole batches and commit each as one Delta version carrying the
       new watermark, on the snapshot of step 1, which each commit advances.
    5. Before each commit, check that no maintenance rewrite overlapped the read; if one did,
       start again from step 2 at the watermark reached.
    """
    started = time.monotonic()
    deltalake, _ = require_packages()
    app = app_id(db.path, table.name)
    delta = _open_delta(deltalake, uri, app)
    first_mark = delta.transaction_version(app) if delta is not None else None
    mark = first_mark
    versions: list[int] = []
    events = 0
    for _attempt in range(5):
        before = rewrite.stamp(table.directory)
        try:
            with db.view_of(table) as view:
                for part in _slices(_events_to_export(table, view, mark), max_events):
                    if not db.read_was_stable(table, before, view):
                        raise _Moved
                    assert part.last is not None
                    last = part.last.event.seq
                    delta = _commit(
                        deltalake, delta, uri, app, db.path, table, part.batches, mark, last
                    )
                    versions.append(delta.version())
                    events += part.events
                    mark = last
            break
        except _Moved:
            time.sleep(0.05)  # a rewrite moved frames under this read: read again
        except (CorruptionError, FileNotFoundError):
            if rewrite.unchanged(before, rewrite.stamp(table.directory)):
                raise  # damage, not a rewrite: say so
            time.sleep(0.05)
    else:
        raise ExportError(f'table "{table.name}" kept being rewritten by maintenance; try again')
    return TableExport(
        table.name, uri, first_mark, mark, events, tuple(versions), time.monotonic() - started
    )


def _open_delta(deltalake: Any, uri: str, app: str) -> Any:
    """The Delta table at `uri` (None if there is none yet), checked to be this database's
    export of this table."""
    try:
        delta = deltalake.DeltaTable(uri)
    except deltalake.exceptions.TableNotFoundError:
        return None
    names = [f.name for f in delta.schema().fields]
    if names != [name for name, _ in COLUMNS]:
        raise ExportError(
            f"{uri} is a Delta table with other columns ({', '.join(names)}); "
            "export to a new location"
        )
    if delta.transaction_version(app) is None:
        raise ExportError(
            f'{uri} holds no export under the appId "{app}" (another database\'s, or written '
            "by something else); export to a new location"
        )
    return delta


def _events_to_export(table: Table, view: TableView, mark: int | None) -> Iterator[ExportedEvent]:
    horizon = view.horizon
    if mark is None:
        if horizon is not None:
            yield from base_events(view)
            yield from events_after(view, horizon.seq)
        else:
            yield from events_after(view, 0)
        return
    if horizon is not None and mark < horizon.seq:
        raise HistoryUnavailableError(
            f'table "{table.name}" keeps history from {horizon.describe()}, but its export '
            f"stops at @seq:{mark}: the events between were discarded by COMPACT ... BEFORE; "
            "export to a new location (a first export starts from the base state)"
        )
    yield from events_after(view, mark)


@dataclass
class _Slice:
    """One Delta commit's worth of events: their Arrow record batches, count and last seq."""

    batches: list[Any] = field(default_factory=list)
    events: int = 0
    last: ExportedEvent | None = None


def _slices(todo: Iterator[ExportedEvent], max_events: int | None) -> Iterator[_Slice]:
    """Slices of at most `max_events` events (all of them without a limit), never ending
    inside a batch. Events are held as Python objects only until their chunk of CHUNK_EVENTS
    becomes an Arrow record batch."""
    limit = max_events or 0
    chunk: list[ExportedEvent] = []
    current = _Slice()
    for item in todo:
        if limit and current.events >= limit and not _same_batch(current.last, item):
            if chunk:
                current.batches.append(_record_batch(chunk))
                chunk = []
            yield current
            current = _Slice()
        chunk.append(item)
        current.events += 1
        current.last = item
        if len(chunk) >= CHUNK_EVENTS:
            current.batches.append(_record_batch(chunk))
            chunk = []
    if chunk:
        current.batches.append(_record_batch(chunk))
    if current.events:
        yield current


def _same_batch(previous: ExportedEvent | None, item: ExportedEvent) -> bool:
    """Whether `item` belongs to the same DriftDB batch (or synthetic base) as `previous`."""
    if previous is None:
        return False
    if previous.synthetic or item.synthetic:
        return previous.synthetic and item.synthetic
    a, b = previous.event.txn, item.event.txn
    return a is not None and b is not None and a.first == b.first


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _json(value: Any) -> str:
    """Compact JSON text, non-ASCII kept as is (an integer key is its digits)."""
    return str(value) if type(value) is int else _ENCODER.encode(value)


def _record_batch(items: list[ExportedEvent]) -> Any:
    """The rows of `items` as one Arrow record batch of the export's schema."""
    _, pa = require_packages()
    seqs: list[int] = []
    times: list[int] = []
    commits: list[int] = []
    ops: list[str] = []
    keys: list[str] = []
    docs: list[str | None] = []
    patches: list[str | None] = []
    metas: list[str | None] = []
    for item in items:
        event = item.event
        seqs.append(event.seq)
        times.append(event.unix_ms)
        commits.append(event.txn.first if event.txn is not None else event.seq)
        ops.append(event.type.name)
        keys.append(_json(event.key))
        row = item.row if event.type is not EventType.SOFT_DELETE else None
        doc = _json(row) if row is not None else None
        docs.append(doc)
        if event.purged is not None:
            patches.append(_json({"purged": event.purged}))
        elif event.type is EventType.INSERT and not item.synthetic:
            patches.append(doc)  # an INSERT's row after is its document
        else:
            patches.append(_json(event.data) if event.data is not None else None)
        metas.append(_json(event.meta) if event.meta else None)
    schema = arrow_schema()
    ts = pa.array([t * 1000 for t in times], pa.int64()).cast(pa.timestamp("us", "UTC"))
    columns = [
        pa.array(seqs, pa.int64()),
        pa.array(times, pa.int64()),
        ts,
        pa.array(commits, pa.int64()),
        pa.array(ops, pa.string()),
        pa.array(keys, pa.string()),
        pa.array(docs, pa.string()),
        pa.array(patches, pa.string()),
        pa.array(metas, pa.string()),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _commit(
    deltalake: Any,
    delta: Any,
    uri: str,
    app: str,
    database: str,
    table: Table,
    batches: list[Any],
    mark: int | None,
    last: int,
) -> Any:
    """Append one slice as one Delta version with the watermark `last`; the Delta table
    (snapshot advanced past the commit) is returned."""
    _, pa = require_packages()
    data = pa.Table.from_batches(batches, schema=arrow_schema())
    first = int(data.column("seq")[0].as_py())
    properties = deltalake.CommitProperties(
        custom_metadata={
            META_PREFIX + "database": os.path.abspath(database),
            META_PREFIX + "table": table.name,
            META_PREFIX + "seq_first": str(first),
            META_PREFIX + "seq_last": str(last),
            META_PREFIX + "events": str(data.num_rows),
        },
        app_transactions=[deltalake.Transaction(app, last)],
    )
    try:
        deltalake.write_deltalake(
            delta if delta is not None else uri,
            data,
            mode="append" if delta is not None else "error",  # never append to a stranger's
            name=table.name,
            description=f'DriftDB events of table "{table.name}" ({app})',
            commit_properties=properties,
        )
    except deltalake.exceptions.CommitFailedError as exc:
        raise ExportError(
            f'another export of table "{table.name}" committed to {uri} at the same time '
            f"({exc}); this run's slice @seq:{first}..@seq:{last} was not committed: run the "
            "export again to continue from the watermark"
        ) from None
    except deltalake.exceptions.DeltaError as exc:
        if delta is None and deltalake.DeltaTable.is_deltatable(uri):
            raise ExportError(
                f"another export created {uri} at the same time ({exc}); nothing of this run "
                "was committed: run the export again"
            ) from None
        raise ExportError(f"writing the Delta table {uri} failed: {exc}") from None
    if delta is None:
        delta = deltalake.DeltaTable(uri)
    found = delta.transaction_version(app)
    if found != last:
        raise ExportError(
            f"the watermark of {uri} is @seq:{found} after this run committed @seq:{last} "
            f"(from @seq:{mark}): another export wrote to it; run `driftdb export --verify`"
        )
    return delta
