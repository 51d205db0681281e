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
from driftdb.model.replay import DriftEntry, Payload
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
    from driftdb.engine.restore import RestoreReport
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
        key = self._insert_key(doc)
        with self.db.batch() as batch:
            return self._queue_insert(batch, key, doc, meta)

    def insert_many(
        self, docs: Iterable[Document], *, meta: Mapping[str, Any] | None = None
    ) -> list[int]:
        """Insert several rows as one atomic batch with one fsync: all of them or none."""
        with self.db.batch() as batch:
            # (each insert queued straight into the batch: a block of its own per document
            # would undo nothing more, as a failing insert queues nothing)
            return [self._queue_insert(batch, self._insert_key(doc), doc, meta) for doc in docs]

    def _insert_key(self, doc: Document) -> Key:
        """The key of a document to insert, after checking the document."""
        where = f"INSERT INTO {self.name}"
        check_document(doc, where)
        if self.primary_key not in doc:
            raise InvalidInputError(
                f'{where}: document has no primary key field "{self.primary_key}"'
            )
        return check_key(doc[self.primary_key], where)

    def _queue_insert(
        self, batch: PendingBatch, key: Key, doc: Document, meta: Mapping[str, Any] | None
    ) -> int:
        if batch.current_row(self, key) is not None:
            raise DuplicateKeyError(
                f'table "{self.name}" already has a live row with key {key!r}; '
                "use PATCH to change it"
            )
        return batch.add(self, EventType.INSERT, key, dict(doc), meta)

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
        view = self.db.view_of(self)
        try:
            # (now is MAX_U64 and never before the horizon: no point to parse or check)
            return view.get(key, MAX_U64 if as_of is None else self.resolve(view, as_of))
        finally:
            view.close()

    def select(
        self,
        where: Where = None,
        as_of: AsOf = None,
        order_by: str | Sequence[str] | None = None,
        limit: int | None = None,
        params: Sequence[Any] = (),
        offset: int | None = None,
    ) -> Iterator[Document]:
        """Rows matching `where` at `as_of`. `where` is a mapping of column (dotted paths
        allowed) to value, AND-ed, or a DriftQL expression with `?` placeholders bound from
        `params`. `order_by` takes column names, each optionally followed by " DESC".
        `offset` skips that many rows (after ordering), then `limit` caps the rest."""
        rows = run_select(self, where, params, as_of, order_by, limit, offset)
        return iter(rows)

    def count(self, where: Where = None, as_of: AsOf = None, params: Sequence[Any] = ()) -> int:
        """How many rows match `where` at `as_of`."""
        return run_count(self, where, params, as_of)

    def history(self, key: Key) -> list[DriftEntry]:
        """Every event of `key` in seq order, each with the row as it stood after it."""
        if type(key) is not int or not -(2**63) <= key < 2**63:  # (ints: checked here)
            if key_too_long(key):
                return []
            check_key(key, f"history of {self.name}")

        def reload(entries: list[DriftEntry]) -> list[Payload]:
            return self._read_frames(lambda view: view.payloads(key, entries))

        # The key directory gives each entry but its payload (data, meta), read from the
        # frames only if asked for (q6 of the benchmark never asks). The listing opens no
        # frame, so a rewrite cannot move one under it: one read, no retry (engine/payloads.py
        # checks the frames when they are read).
        view = self.db.view_of(self)
        try:
            return view.history(key, reload)
        finally:
            view.close()

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

    # -- history: versions, DIFF, BLAME, RESTORE (query/temporal.py) -----------------------

    def versions(
        self,
        start: AsOf = None,
        end: AsOf = None,
        where: Where = None,
        params: Sequence[Any] = (),
        order_by: str | Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Every version of every row visible at some point from `start` to `end` (both
        included; None: the first event, and now), as FOR SYSTEM_TIME BETWEEN reads them: the
        row with its system columns `_seq _ts _op _end_seq _end_ts _meta`. `where` may use the
        system columns too (`where="id = 7"`, `where="_op = 'PATCH'"`)."""
        from driftdb.query import ast
        from driftdb.query.engine import order_items, to_expr
        from driftdb.query.temporal import version_rows

        clause = (
            ast.SystemTime("all")
            if start is None and end is None
            else ast.SystemTime(
                "between", parse_timepoint(0 if start is None else start), parse_timepoint(end)
            )
        )
        select = ast.Select(
            self.name,
            columns=(ast.AllColumns(), ast.Column(("_meta",))),
            where=to_expr(where, params),
            as_of=clause,
            order_by=order_items(order_by),
        )
        return self._read_frames(lambda _view: version_rows(self, select))

    def diff(
        self, start: AsOf, end: AsOf, where: Where = None, params: Sequence[Any] = ()
    ) -> list[dict[str, Any]]:
        """The keys whose row differs between `start` and `end`, in key order:
        {"key", "change" ("added" | "removed" | "changed"), "before", "after", "fields"}.
        `where` keeps a key when its row before or after matches. Reads only the keys with an
        event between the two points."""
        from driftdb.query.engine import to_expr
        from driftdb.query.temporal import diff_rows

        expr = to_expr(where, params)
        return diff_rows(self, parse_timepoint(start), parse_timepoint(end), expr)

    def blame(self, key: Key, as_of: AsOf = None) -> list[dict[str, Any]]:
        """For each leaf field of the row at `as_of` (now by default): {"field", "value",
        "seq", "ts", "op", "meta"} of the event that set the value it holds. Raises
        KeyNotFoundError when the key has no live row there."""
        from driftdb.query.temporal import blame_rows

        check_key(key, f"BLAME {self.name}")
        point = parse_timepoint(as_of)
        return self._read_frames(lambda _view: blame_rows(self, key, point))

    def restore(
        self, as_of: AsOf, key: Key | None = None, meta: Mapping[str, Any] | None = None
    ) -> RestoreReport:
        """Make the current row of `key` (or of every key, when None) equal its state at
        `as_of` by appending events, never by rewriting history: a PATCH (the merge patch
        between the two), an INSERT if it is deleted now, a SOFT DELETE if it did not exist
        then; nothing for a row that already equals it. Every event's meta is `meta` plus
        {"restored_from": <seq of as_of>}. All of it is one atomic batch, durable when this
        returns. (A null inside an object cannot be written by a merge patch: such a row is
        restored by a SOFT DELETE and an INSERT in the same batch.)"""
        from driftdb.engine.restore import restore

        point = parse_timepoint(as_of)
        if key is not None:
            check_key(key, f"RESTORE {self.name}")
        if meta is not None:
            check_document(dict(meta), f"RESTORE {self.name} META")
        return restore(self, point, key, dict(meta) if meta is not None else None)

    # -- indexes added later (engine/alter.py) ---------------------------------------------

    def add_index(self, columns: list[str] | tuple[str, ...]) -> str:
        """ALTER TABLE ADD INDEX: build the temporal index and value counts of `columns` over
        the whole history (so AS OF any past point uses them), then record them in
        schema.yaml (replaced atomically) with the seq at which it happened."""
        from driftdb.engine.alter import add_index

        with self.db.maintenance():
            return add_index(self, list(columns), self.db.head())

    def drop_index(self, columns: list[str] | tuple[str, ...]) -> str:
        """ALTER TABLE DROP INDEX: record it in schema.yaml, then drop the entries."""
        from driftdb.engine.alter import drop_index

        with self.db.maintenance():
            return drop_index(self, list(columns), self.db.head())

    # -- DataFrames and Arrow (driftdb/frames.py; pip install "driftdb[arrow]") -------------

    def to_arrow(
        self, as_of: AsOf = None, where: Where = None, columns: Sequence[str] | None = None
    ) -> Any:
        """The rows at `as_of` matching `where` as a pyarrow Table (union schema, primary key
        first, conflicting types as JSON strings: see driftdb/frames.py)."""
        from driftdb import frames

        return frames.to_arrow(self, as_of, where, columns)

    def arrow_reader(
        self, as_of: AsOf = None, where: Where = None, columns: Sequence[str] | None = None
    ) -> Any:
        """The same rows as a pyarrow RecordBatchReader, streamed in record batches."""
        from driftdb import frames

        return frames.arrow_reader(self, as_of, where, columns)

    def to_pandas(
        self, as_of: AsOf = None, where: Where = None, columns: Sequence[str] | None = None
    ) -> Any:
        """The rows at `as_of` as a pandas DataFrame (pip install "driftdb[pandas]")."""
        from driftdb import frames

        return frames.table_to_pandas(self, as_of, where, columns)

    def to_polars(
        self, as_of: AsOf = None, where: Where = None, columns: Sequence[str] | None = None
    ) -> Any:
        """The rows at `as_of` as a Polars DataFrame (pip install "driftdb[polars]")."""
        from driftdb import frames

        return frames.table_to_polars(self, as_of, where, columns)

    def history_frame(self, key: Key | None = None, as_of: AsOf = None) -> Any:
        """Every event up to `as_of` (of `key`, or of all keys) as a pyarrow Table: seq, ts,
        op, meta, the primary key, then the row after the event. `.to_pandas()` of it, or
        driftdb.frames, for pandas and Polars."""
        from driftdb import frames

        return frames.history_reader(self, key, as_of).read_all()

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

    def compact(self, before: AsOf = None, *, force: bool = False) -> CompactReport:
        """COMPACT: merge the sealed segments into fewer (up to segment_size_bytes each),
        refresh a snapshot and the indexes. No answer to any query changes.

        With `before` (a seq, "@seq:N", an RFC 3339 time or a datetime), discard history
        before that point: the state there becomes the base snapshot, later answers stay the
        same, and AS OF earlier raises HistoryUnavailableError. The horizon is moved back to
        the start of a batch it would split, and never moves back past an earlier horizon.
        A `before` with no event of the table before it sets no horizon (the report says
        "nothing before ... to discard"); one past the head (a seq beyond the newest, a time in
        the future) would keep only the current state: InvalidInputError unless `force=True`.
        Crash-safe at every step (see storage/rewrite.py)."""
        from driftdb.maintenance.compaction import compact

        return compact(self, before, force)

    def purge(self, key: Key, reason: str | None = None) -> PurgeReport:
        """PURGE: erase every version of `key` from snapshots and indexes, and redact its
        frames in the log in place of their data (same seq, time and type, a "purged" entry
        with when and `reason`). Afterwards the key appears in no query at any seq;
        `history(key)` lists the redacted events with no data and no row. Raises
        KeyNotFoundError if the key has no history. Crash-safe like compaction."""
        check_key(key, f"PURGE {self.name}")
        from driftdb.maintenance.purge import purge

        return purge(self, key, reason)
