"""A table: the Python API for writing events and reading any past state of its rows."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from driftdb.engine.tablestore import TableStore
from driftdb.engine.view import TableView
from driftdb.errors import (
    CorruptionError,
    DriftWarning,
    DuplicateKeyError,
    InvalidInputError,
    KeyNotFoundError,
)
from driftdb.index.keycodec import MAX_U64
from driftdb.model.clock import Clock
from driftdb.model.document import check_document, check_key, key_too_long
from driftdb.model.events import Document, EventType, Key
from driftdb.model.replay import DriftEntry
from driftdb.model.retention import Horizon, check_point
from driftdb.model.schema import TableSchema
from driftdb.model.timepoint import AsOf, TimePoint, parse_timepoint
from driftdb.query.engine import run_count, run_select
from driftdb.query.source import Where
from driftdb.storage import rewrite
from driftdb.storage.snapshot import (
    SnapshotInfo,
)

if TYPE_CHECKING:  # imported when used: a cold command that does no maintenance skips them
    from driftdb.maintenance.compaction import CompactReport
    from driftdb.maintenance.purge import PurgeReport

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

    def read_stamp(self, table: Table) -> rewrite.Stamp | int: ...

    def read_was_stable(
        self, table: Table, before: rewrite.Stamp | int, view: TableView | None
    ) -> bool: ...


class Table(TableStore):
    """One table of a database. Writes return the event's seq once it is durable (or, inside
    `db.batch()`, the seq it will have when the batch commits). What the engine holds of the
    table (files, LMDB environment, active segment, snapshot policy) is its TableStore."""

    def __init__(self, db: Owner, schema: TableSchema, directory: str) -> None:
        super().__init__(db.path, schema, directory)
        self.db = db

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
        if type(key) is not int or not -(2**63) <= key < 2**63:  # (ints: checked here)
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
            before = self.db.read_stamp(self)
            try:
                with self.view() as view:
                    result = read(view)
                    stable = self.db.read_was_stable(self, before, view)
            except (CorruptionError, FileNotFoundError):
                failures += 1
                if failures >= 2 and self.db.read_was_stable(self, before, None):
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

    def snapshot(self) -> SnapshotInfo:
        """Write `snapshots/<seq>.snap`: the table's state at its newest event, checksummed
        and zstd-compressed. Durable when it returns (temp file, fsync, rename, directory
        fsync). Full-table reads AS OF a later seq may start from it."""
        with self.db.maintenance():
            return self._take_snapshot()

    def compact(self, before: AsOf = None) -> CompactReport:
        """COMPACT: merge the sealed segments into fewer (up to segment_size_bytes each),
        refresh a snapshot and the indexes. No answer to any query changes.

        With `before` (a seq, "@seq:N", an RFC 3339 time or a datetime), discard history
        before that point: the state there becomes the base snapshot, later answers stay the
        same, and AS OF earlier raises HistoryUnavailableError. The horizon is moved back to
        the start of a batch it would split, and never moves back past an earlier horizon.
        Crash-safe at every step (see storage/rewrite.py)."""
        from driftdb.maintenance.compaction import compact

        return compact(self, before)

    def purge(self, key: Key, reason: str | None = None) -> PurgeReport:
        """PURGE: erase every version of `key` from snapshots and indexes, and redact its
        frames in the log in place of their data (same seq, time and type, a "purged" entry
        with when and `reason`). Afterwards the key appears in no query at any seq;
        `history(key)` lists the redacted events with no data and no row. Raises
        KeyNotFoundError if the key has no history. Crash-safe like compaction."""
        check_key(key, f"PURGE {self.name}")
        from driftdb.maintenance.purge import purge

        return purge(self, key, reason)
