"""A table: the Python API for writing events and reading any past state of its rows."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

from driftdb.engine.view import TableView
from driftdb.errors import (
    CorruptionError,
    DriftWarning,
    DuplicateKeyError,
    InvalidInputError,
    KeyNotFoundError,
)
from driftdb.index.keycodec import MAX_U64
from driftdb.index.store import NO_SEGMENT, TableIndex
from driftdb.maintenance.compaction import CompactReport, compact
from driftdb.maintenance.purge import PurgeReport, purge
from driftdb.model.clock import Clock
from driftdb.model.document import check_document, check_key, key_too_long
from driftdb.model.events import Document, EventType, Key
from driftdb.model.replay import DriftEntry
from driftdb.model.retention import Horizon, check_point
from driftdb.model.schema import TableSchema
from driftdb.model.timepoint import AsOf, TimePoint, parse_timepoint
from driftdb.query.engine import run_count, run_select
from driftdb.query.source import Where
from driftdb.storage import paths, rewrite
from driftdb.storage.paths import list_bases, list_segments, list_snapshots, segment_path
from driftdb.storage.segment import SegmentAppender
from driftdb.storage.snapshot import (
    SnapshotError,
    SnapshotInfo,
    find_base,
    read_snapshot,
    write_snapshot,
)

T = TypeVar("T")


class PendingBatch(Protocol):
    """The batch a write joins (driftdb.database.Batch)."""

    def current_row(self, table: Table, key: Key) -> Document | None: ...

    def add(
        self,
        table: Table,
        kind: EventType,
        key: Key,
        data: Document | None,
        meta: Mapping[str, Any] | None,
    ) -> int: ...


class Owner(Protocol):
    """What a table asks of its database (driftdb.database.Database), so that this module
    does not import it back."""

    @property
    def path(self) -> str: ...

    @property
    def clock(self) -> Clock: ...

    def batch(self) -> AbstractContextManager[PendingBatch]: ...

    def maintenance(self) -> AbstractContextManager[None]: ...

    def head(self) -> int: ...

    def view_of(self, table: Table) -> TableView: ...

    def read_was_stable(self, table: Table, before: rewrite.Stamp, view: TableView) -> bool: ...


class Table:
    """One table of a database. Writes return the event's seq once it is durable (or, inside
    `db.batch()`, the seq it will have when the batch commits)."""

    def __init__(self, db: Owner, schema: TableSchema, directory: str) -> None:
        self.db = db
        self.schema = schema
        self.directory = directory
        self.segments_dir = paths.segments_dir(directory)
        self.index_dir = paths.index_dir(directory)
        self.snapshots_dir = paths.snapshots_dir(directory)
        self.index: TableIndex | None = None
        self.appender: SegmentAppender | None = None
        # Events and log bytes since the newest snapshot: kept by the writer, initialised
        # from disk at its first commit to this table (None until then).
        self.events_since_snapshot: int | None = None
        self.bytes_since_snapshot: int | None = None

    @property
    def name(self) -> str:
        return self.schema.name

    @property
    def primary_key(self) -> str:
        return self.schema.primary_key

    def __repr__(self) -> str:
        return f"<Table {self.name} pk={self.primary_key}>"

    # -- writes ----------------------------------------------------------------------------

    def insert(self, doc: Document, *, meta: Mapping[str, Any] | None = None) -> int:
        """Insert a new row (or re-create a soft-deleted one). Raises DuplicateKeyError if the
        key is live, InvalidInputError for a bad document."""
        where = f"INSERT INTO {self.name}"
        check_document(doc, where)
        if self.primary_key not in doc:
            raise InvalidInputError(
                f'{where}: document has no primary key field "{self.primary_key}"'
            )
        key = check_key(doc[self.primary_key], where)
        with self.db.batch() as batch:
            if batch.current_row(self, key) is not None:
                raise DuplicateKeyError(
                    f'table "{self.name}" already has a live row with key {key!r}; '
                    "use PATCH to change it"
                )
            return batch.add(self, EventType.INSERT, key, dict(doc), meta)

    def insert_many(
        self, docs: Iterable[Document], *, meta: Mapping[str, Any] | None = None
    ) -> list[int]:
        """Insert several rows as one atomic batch with one fsync: all of them or none."""
        with self.db.batch():
            return [self.insert(doc, meta=meta) for doc in docs]

    def patch(self, key: Key, changes: Document, *, meta: Mapping[str, Any] | None = None) -> int:
        """Apply a JSON Merge Patch (RFC 7386) to a live row. The primary key cannot change."""
        where = f"PATCH {self.name} KEY {key!r}"
        check_key(key, where)
        check_document(changes, where)
        if self.primary_key in changes and changes[self.primary_key] != key:
            raise InvalidInputError(
                f'{where}: a patch cannot change or remove the primary key "{self.primary_key}"'
            )
        with self.db.batch() as batch:
            if batch.current_row(self, key) is None:
                raise KeyNotFoundError(self._missing(key, "PATCH"))
            return batch.add(self, EventType.PATCH, key, dict(changes), meta)

    def soft_delete(self, key: Key, *, meta: Mapping[str, Any] | None = None) -> int:
        """Remove a row from the current state; its history stays readable."""
        where = f"SOFT DELETE FROM {self.name} KEY {key!r}"
        check_key(key, where)
        with self.db.batch() as batch:
            if batch.current_row(self, key) is None:
                raise KeyNotFoundError(self._missing(key, "SOFT DELETE"))
            return batch.add(self, EventType.SOFT_DELETE, key, None, meta)

    def _missing(self, key: Key, verb: str) -> str:
        return (
            f'{verb}: table "{self.name}" has no live row with key {key!r} '
            "(never inserted, or soft-deleted)"
        )

    # -- reads -----------------------------------------------------------------------------

    def view(self) -> TableView:
        """A consistent read of this table (close it, or use it as a context manager)."""
        return self.db.view_of(self)

    def resolve(self, view: TableView, as_of: AsOf) -> int:
        """The seq an AS OF point means for this table (MAX_U64 for now; -1 before the
        table's first event). Warns when a seq lies beyond the head."""
        point = parse_timepoint(as_of)
        return self.resolve_point(view, point)

    def resolve_point(self, view: TableView, point: TimePoint) -> int:
        """The seq `point` means; raises HistoryUnavailableError before the horizon."""
        check_point(self.name, view.horizon, point)
        if point.kind == "now":
            return MAX_U64
        if point.kind == "seq":
            assert point.seq is not None
            head = self.db.head()
            if point.seq > head:
                warnings.warn(
                    DriftWarning(
                        f"AS OF {point.text} is beyond the head (@seq:{head}); "
                        "showing the current state"
                    ),
                    stacklevel=3,
                )
            return point.seq
        assert point.unix_ms is not None
        return view.seq_at_time(point.unix_ms)

    def get(self, key: Key, as_of: AsOf = None) -> Document | None:
        """The row with `key` as it stood at `as_of` (now by default), or None."""
        if key_too_long(key):
            return None  # no such key can have been written
        check_key(key, f"get from {self.name}")
        with self.view() as view:
            return view.get(key, self.resolve(view, as_of))

    def select(
        self,
        where: Where = None,
        as_of: AsOf = None,
        order_by: str | Sequence[str] | None = None,
        limit: int | None = None,
        params: Sequence[Any] = (),
    ) -> Iterator[Document]:
        """Rows matching `where` at `as_of`. `where` is a mapping of column (dotted paths
        allowed) to value, AND-ed, or a DriftQL expression with `?` placeholders bound from
        `params`. `order_by` takes column names, each optionally followed by " DESC"."""
        rows = run_select(self, where, params, as_of, order_by, limit)
        return iter(rows)

    def count(self, where: Where = None, as_of: AsOf = None, params: Sequence[Any] = ()) -> int:
        """How many rows match `where` at `as_of`."""
        return run_count(self, where, params, as_of)

    def history(self, key: Key) -> list[DriftEntry]:
        """Every event of `key` in seq order, each with the row as it stood after it."""
        if key_too_long(key):
            return []
        check_key(key, f"history of {self.name}")
        return self._read_frames(lambda view: view.history(key))

    def _read_frames(self, read: Callable[[TableView], T]) -> T:
        """Run a read that opens frames by location, again if a maintenance rewrite moved
        them under it (the key directory and the files are replaced in two steps)."""
        deadline = time.monotonic() + 5.0
        failures = 0
        while True:
            before = rewrite.stamp(self.directory)
            try:
                with self.view() as view:
                    result = read(view)
                    stable = self.db.read_was_stable(self, before, view)
            except (CorruptionError, FileNotFoundError):
                failures += 1
                if failures >= 2 and rewrite.unchanged(before, rewrite.stamp(self.directory)):
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
                continue
            if stable or time.monotonic() > deadline:
                return result
            time.sleep(0.02)

    def head(self) -> int:
        """The seq of this table's newest event (0 if it has none)."""
        with self.view() as view:
            return max(view.last_seq(), 0)

    # -- maintenance -----------------------------------------------------------------------

    def horizon(self) -> int | None:
        """The retention horizon's seq (AS OF before it raises HistoryUnavailableError), or
        None when the table keeps its whole history."""
        found = self.horizon_info()
        return found.seq if found is not None else None

    def horizon_info(self) -> Horizon | None:
        """The retention horizon with its times (see driftdb.model.retention.Horizon)."""
        with self.view() as view:
            return view.horizon

    def base_info(self) -> SnapshotInfo | None:
        """The checked header of the base snapshot (None without retention); raises
        CorruptionError if it is damaged: it is the only record of the horizon."""
        try:
            return find_base(self.snapshots_dir)
        except SnapshotError as exc:
            raise CorruptionError(
                os.path.relpath(exc.path, self.db.path),
                None,
                f"{exc.reason} (the retention base snapshot)",
            ) from None

    def base_rows(self) -> list[tuple[Key, Document]]:
        """The rows of the base snapshot ([] without retention); CorruptionError if damaged."""
        info = self.base_info()
        if info is None:
            return []
        try:
            return read_snapshot(info.path)[1]
        except SnapshotError as exc:
            raise CorruptionError(
                os.path.relpath(exc.path, self.db.path),
                None,
                f"{exc.reason} (the retention base snapshot)",
            ) from None

    def snapshot(self) -> SnapshotInfo:
        """Write `snapshots/<seq>.snap`: the table's state at its newest event, checksummed
        and zstd-compressed. Durable when it returns (temp file, fsync, rename, directory
        fsync). Full-table reads AS OF a later seq may start from it."""
        with self.db.maintenance():
            return self._take_snapshot()

    def _take_snapshot(self) -> SnapshotInfo:
        assert self.index is not None
        with self.index.read() as reader:
            covered = reader.covered()
            horizon = reader.horizon()
            rows = list(reader.rows_at(MAX_U64))
        seq = covered.seq if covered is not None and covered.seq >= 0 else 0
        unix_ms = covered.unix_ms if covered is not None else 0
        info = write_snapshot(self.snapshots_dir, rows, seq, unix_ms, horizon, base=False)
        self.reset_snapshot_counters()
        return info

    def refresh_snapshot(self) -> SnapshotInfo | None:
        """A new snapshot if events were written since the newest one (else None)."""
        self._init_snapshot_counters()
        newest = max(
            [*list_snapshots(self.snapshots_dir), *list_bases(self.snapshots_dir)], default=None
        )
        if newest is not None and not self.events_since_snapshot:
            return None
        return self._take_snapshot()

    def reset_snapshot_counters(self) -> None:
        self.events_since_snapshot = 0
        self.bytes_since_snapshot = 0

    def _init_snapshot_counters(self) -> None:
        if self.events_since_snapshot is not None:
            return
        assert self.index is not None
        newest = max(
            [*list_snapshots(self.snapshots_dir), *list_bases(self.snapshots_dir)], default=-1
        )
        budget = self.schema.option("snapshot_every_events")
        with self.index.read() as reader:
            count, first = reader.count_after(newest, budget)
        size = 0
        if first is not None and first[0] != NO_SEGMENT:
            for number in list_segments(self.segments_dir):
                if number >= first[0]:
                    size += os.path.getsize(segment_path(self.segments_dir, number))
            size -= first[1]
        self.events_since_snapshot = count
        self.bytes_since_snapshot = max(size, 0)

    def note_commit(self, events: int, size_bytes: int) -> None:
        """Count a commit towards the next automatic snapshot, and take it when due. A
        failed automatic snapshot does not fail the (already durable) commit: it warns."""
        if self.events_since_snapshot is None:
            self._init_snapshot_counters()  # counts this commit too: it is indexed
        else:
            self.events_since_snapshot += events
            assert self.bytes_since_snapshot is not None
            self.bytes_since_snapshot += size_bytes
        assert self.events_since_snapshot is not None and self.bytes_since_snapshot is not None
        if self.events_since_snapshot >= self.schema.option(
            "snapshot_every_events"
        ) or self.bytes_since_snapshot >= self.schema.option("snapshot_every_bytes"):
            try:
                self._take_snapshot()
            except Exception as exc:
                self.reset_snapshot_counters()  # try again after another full interval
                warnings.warn(
                    DriftWarning(
                        f'automatic snapshot of table "{self.name}" failed ({exc}); '
                        "the log and indexes are intact"
                    ),
                    stacklevel=4,
                )

    def close_appender(self) -> None:
        """Close the active segment (maintenance is about to replace it); the next commit
        reopens whatever segment is then the newest."""
        if self.appender is not None:
            self.appender.close()
            self.appender = None

    def compact(self, before: AsOf = None) -> CompactReport:
        """COMPACT: merge the sealed segments into fewer (up to segment_size_bytes each),
        refresh a snapshot and the indexes. No answer to any query changes.

        With `before` (a seq, "@seq:N", an RFC 3339 time or a datetime), discard history
        before that point: the state there becomes the base snapshot, later answers stay the
        same, and AS OF earlier raises HistoryUnavailableError. The horizon is moved back to
        the start of a batch it would split, and never moves back past an earlier horizon.
        Crash-safe at every step (see storage/rewrite.py)."""
        return compact(self, before)

    def purge(self, key: Key, reason: str | None = None) -> PurgeReport:
        """PURGE: erase every version of `key` from snapshots and indexes, and redact its
        frames in the log in place of their data (same seq, time and type, a "purged" entry
        with when and `reason`). Afterwards the key appears in no query at any seq;
        `history(key)` lists the redacted events with no data and no row. Raises
        KeyNotFoundError if the key has no history. Crash-safe like compaction."""
        check_key(key, f"PURGE {self.name}")
        return purge(self, key, reason)
