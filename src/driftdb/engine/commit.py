"""Batches and commit: how writes are collected (Batch) and become durable events and then
index entries (GroupCommit).

Frames are encoded first (bad input leaves the log untouched) and appended per table under
the writer's mutex; the mutex is then released and the batch waits for its fsync. Group
commit: one waiting batch (the leader) fsyncs every table that the waiting batches appended
to and acknowledges them together; batches that arrive while an fsync is in flight share the
next one. No batch returns before its own frames are fsynced.

Write-behind indexes: a batch is acknowledged once its frames are fsynced, before any index
holds it. Durable batches wait in `unindexed` (seq order) until one of these applies them,
all at once (one LMDB transaction per table, however many batches: the per-commit cost of
the indexes is mostly that transaction):
- the leader of a group, after acknowledging it, once the lag reaches INDEX_LAG_EVENTS
  events or its oldest batch is INDEX_LAG_S old (so a reader process, which reads the log
  after what the index covers, has little to read), unless another thread is applying;
- a read of the writer's database (Database.view_of), so a read after an acknowledged
  commit in the same process sees it;
- maintenance and close (`drain`);
- the background thread of an automatic snapshot, before it reads the rows at its seq.
The bounds are checked when a group is acknowledged: an idle writer's indexes stay behind
until its next commit, read or close.
Only durable batches are ever applied, so an index that covers a seq still proves the events
up to it were acknowledged (docs/format.md, "Batches", gives the batch marks this writes).

Until its events are indexed, a batch's rows live in the writer's `pending` map (key -> the
seq and row after its last appended write), so that a later batch validates against them
(an INSERT of a key appended but not yet indexed is a duplicate): a batch reads its rows
through `Writer.batch_view`, which does not apply the lag. Entries are pruned at the start
of a batch, under the mutex, once the index holds them: a batch never opens an index view
older than the pruning, so it can never miss a row.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from driftdb.engine.handle import TableHandle
from driftdb.engine.view import TableView
from driftdb.errors import DriftIOError, InvalidInputError
from driftdb.model.document import check_document
from driftdb.model.events import Document, Event, EventType, Key, Txn, pack_payload
from driftdb.model.frozen import Record
from driftdb.model.replay import row_after
from driftdb.storage import fs
from driftdb.storage.appender import SegmentAppender
from driftdb.storage.frame import encode_frame
from driftdb.storage.position import Located

Pending = dict[tuple[str, Key], tuple[int, Document | None]]

# How far the indexes may lag the acknowledged log (see the module docstring): the leader
# of a group applies the durable batches once they hold this many events, or once the
# oldest is this old. Small next to reads.STALE_TAIL_EVENTS. Measured (100k-event table,
# two indexed columns): a catch-up costs ~0.1 ms for one event and ~20 us per event from
# 16 on (32: ~0.7 ms, a few commits' worth), so a bigger lag saves nothing more.
INDEX_LAG_EVENTS = 32
INDEX_LAG_S = 0.05


def _write_failed(why: object) -> str:
    """What a failed append or fsync says, to its own caller and to every batch after it."""
    return (
        f"write failed ({why}); nothing was acknowledged and the writer is stopped: "
        "reopen the database"
    )


class Writer(Protocol):
    """The database a batch commits to: the seq its first write will have, the rows of
    batches appended but not yet indexed, and a view of a table's indexes (without
    applying the durable batches not yet indexed: `pending` has their rows)."""

    next_seq: int
    pending: Pending

    def batch_view(self, table: TableHandle) -> TableView: ...


class PendingWrite(Record):
    """One event queued by a batch, with the seq it will have and the rows before and after
    it (computed once, here, and reused by the index writer)."""

    __slots__ = __match_args__ = ("table", "type", "key", "data", "meta", "seq", "before", "after")
    table: TableHandle
    type: EventType
    key: Key
    data: Document | None
    meta: dict[str, Any] | None
    seq: int
    before: Document | None
    after: Document | None

    def __init__(
        self,
        table: TableHandle,
        type: EventType,
        key: Key,
        data: Document | None,
        meta: dict[str, Any] | None,
        seq: int,
        before: Document | None = None,
        after: Document | None = None,
    ) -> None:
        self.table, self.type, self.key, self.data = table, type, key, data
        self.meta, self.seq, self.before, self.after = meta, seq, before, after


class Batch:
    """Writes collected to commit together: one fsync per table touched, all or nothing."""

    def __init__(self, db: Writer) -> None:
        self.db = db
        self.writes: list[PendingWrite] = []
        self.rows: dict[tuple[str, Key], Document | None] = {}
        self._views: dict[str, TableView] = {}
        self._undo: list[tuple[tuple[str, Key], bool, Document | None]] = []

    def current_row(self, table: TableHandle, key: Key) -> Document | None:
        """The row as this batch would leave it (pending writes first, then batches appended
        but not yet indexed, then the indexes, read through one view per table for the whole
        batch)."""
        marker = (table.name, key)
        if marker in self.rows:
            return self.rows[marker]
        appended = self.db.pending.get(marker)
        if appended is not None:
            row = appended[1]  # appended by an earlier batch, not yet indexed (group commit)
        else:
            view = self._views.get(table.name)
            if view is None:
                # Committed state only: a table's first write reads its row here first, so
                # the view opens before the table has pending events to overlay.
                view = self._views[table.name] = self.db.batch_view(table)
            row = view.get(key, 2**64 - 1)
        self.rows[marker] = row
        return row

    def pending_events(self, table: str, unix_ms: int) -> list[Event]:
        """The events queued for `table`, as a read view overlays them (TableView.
        overlay_pending), stamped `unix_ms` (no later than the commit will stamp them)."""
        return [
            Event(w.seq, unix_ms, w.type, w.key, w.data, w.meta)
            for w in self.writes
            if w.table.name == table
        ]

    def savepoint(self) -> tuple[int, int]:
        return len(self.writes), len(self._undo)

    def rollback_to(self, mark: tuple[int, int]) -> None:
        """Forget the writes queued since `mark` and what they did to the pending rows."""
        writes, undo = mark
        del self.writes[writes:]
        while len(self._undo) > undo:
            marker, had, old = self._undo.pop()
            if had:
                self.rows[marker] = old
            else:
                self.rows.pop(marker, None)

    def close_views(self) -> None:
        for view in self._views.values():
            view.close()
        self._views.clear()

    def add(
        self,
        table: TableHandle,
        kind: EventType,
        key: Key,
        data: Document | None,
        meta: Mapping[str, Any] | None,
    ) -> int:
        """Queue one event (already validated against `current_row`); returns its seq."""
        if meta is not None:
            check_document(meta, f'audit meta of {kind.name} into table "{table.name}"')
        seq = self.db.next_seq + len(self.writes)
        marker = (table.name, key)
        current = self.rows[marker] if marker in self.rows else self.current_row(table, key)
        after = row_after(current, kind, key, data, table.primary_key)
        self.writes.append(
            PendingWrite(table, kind, key, data, dict(meta) if meta else None, seq, current, after)
        )
        self._undo.append((marker, True, current))
        self.rows[marker] = after
        return seq


class _Appended:
    """A batch whose frames are in the log (not yet fsynced): what the index writer needs."""

    __slots__ = ("count", "last_seq", "located", "rows")

    def __init__(
        self,
        located: dict[str, list[Located]],
        rows: dict[str, list[tuple[Document | None, Document | None]]],
        last_seq: int,
        count: int,  # events
    ) -> None:
        self.located, self.rows, self.last_seq, self.count = located, rows, last_seq, count


class GroupCommit:
    """The writer's commit pipeline: `append` (under the writer's mutex), then `wait` (outside
    it) until the batch is fsynced; `catch_up` applies acknowledged batches to the indexes.
    See the module docstring."""

    def __init__(self, tables: Mapping[str, TableHandle], stop: Callable[[str], None]) -> None:
        self.tables = tables
        self.stop = stop
        self._state = threading.Lock()  # guards the fields below and the queues
        # fsync and closing a segment (rotation, maintenance) exclude each other: an fsync
        # never meets a descriptor closed (or reused) under it
        self.sync_lock = threading.Lock()
        self._queue: list[_Appended] = []
        self._syncing = False
        self._waiters: list[tuple[int, threading.Lock]] = []  # (last seq, its turn), see wait
        self.indexed_seq = 0  # every batch up to this seq is durable and indexed
        self.durable_seq = 0  # every batch up to this seq is fsynced (acknowledged)
        self._failure: str | None = None
        # durable batches the indexes do not hold yet (seq order), their events, and since when
        self._unindexed: list[_Appended] = []
        self._unindexed_events = 0
        self._unindexed_since = 0.0
        # applying to the indexes: one at a time, in seq order (the leader, a read, close)
        self._index_lock = threading.Lock()
        self._index_failure: str | None = None

    def append(self, writes: Sequence[PendingWrite], unix_ms: int) -> int:
        """Append the frames of `writes` (one batch, all stamped `unix_ms`) to each table's
        segment, not yet fsynced; returns the seq of the last. A failure stops the writer."""
        per_table: dict[str, list[PendingWrite]] = {}
        for write in writes:
            per_table.setdefault(write.table.name, []).append(write)
        txn = None  # a single write carries no batch mark (docs/format.md, "Batches")
        if len(writes) > 1:
            parts = {name: len(group) for name, group in per_table.items()}
            txn = Txn(writes[0].seq, len(writes), parts if len(parts) > 1 else {})
        # Encode every frame before the first byte is appended: a value msgpack cannot encode
        # or a frame over the bound is bad input, and must leave the log untouched.
        encoded: dict[str, tuple[list[Event], list[bytes]]] = {}
        for name, group in per_table.items():
            events, frames = [], []
            for w in group:
                e = Event(w.seq, unix_ms, w.type, w.key, w.data, w.meta, txn)
                try:
                    frames.append(encode_frame(e.seq, e.unix_ms, int(e.type), pack_payload(e)))
                except (TypeError, ValueError, OverflowError) as exc:
                    raise InvalidInputError(
                        f'{e.type.name} into table "{name}" key {e.key!r}: cannot be stored '
                        f"({exc}); nothing was written"
                    ) from None
                events.append(e)
            encoded[name] = (events, frames)
        located: dict[str, list[Located]] = {}
        try:
            for name, (events, frames) in encoded.items():
                table = self.tables[name]
                if table.appender is None:
                    table.appender = SegmentAppender(
                        table.segments_dir, table.schema.option("segment_size_bytes")
                    )
                appender = table.appender
                data = b"".join(frames)
                if appender.fd is None or appender.size >= appender.segment_size_bytes:
                    with self.sync_lock:  # rotation closes the descriptor an fsync may hold
                        segment, offset = appender.append(data)
                else:
                    segment, offset = appender.append(data)
                spots = []
                for event, frame in zip(events, frames, strict=True):
                    spots.append(Located(event, segment, offset, offset + len(frame)))
                    offset += len(frame)
                located[name] = spots
        except BaseException as exc:
            # Bytes may be in the log that were never made durable: only a reopen, which
            # re-validates the log from disk, may write again.
            self._fail(f"{type(exc).__name__}: {exc}")
            if isinstance(exc, Exception):
                raise DriftIOError(_write_failed(exc)) from exc
            raise
        rows = {name: [(w.before, w.after) for w in group] for name, group in per_table.items()}
        with self._state:
            self._queue.append(_Appended(located, rows, writes[-1].seq, len(writes)))
        return writes[-1].seq

    def wait(self, last_seq: int) -> None:
        """Return once the batch ending at `last_seq` is fsynced (leading the group's fsync
        if none is in flight; the leader then applies the indexes if they lag too far);
        raise DriftIOError if its group failed. A waiter sleeps on its own lock and is woken
        once: when its batch is durable (or failed), or to lead the next fsync; waking every
        waiter after each fsync costs each commit a GIL hand-off per waiting thread."""
        while True:
            with self._state:
                if self.durable_seq >= last_seq:
                    return
                if self._failure is not None:
                    raise DriftIOError(self._failure)
                turn = None
                if self._syncing:
                    turn = threading.Lock()
                    turn.acquire()
                    self._waiters.append((last_seq, turn))
                else:
                    self._syncing = True
                    group, self._queue = self._queue, []
            if turn is not None:
                turn.acquire()  # released by a leader: durable, failed, or this one leads next
                continue
            try:
                self._sync(group)
            finally:
                with self._state:
                    self._syncing = False
                    woken = self._release_waiters()
                for turn in woken:
                    turn.release()
            if self._lagging():
                self.catch_up(block=False)

    def _release_waiters(self) -> list[threading.Lock]:
        """(Under `_state`.) The waiters to wake after an fsync: those now durable (every one
        if the writer failed), and the first still waiting, to lead the next fsync."""
        if not self._waiters:
            return []  # (a single thread: nothing to wake)
        if self._failure is not None:
            woken, self._waiters = [turn for _, turn in self._waiters], []
            return woken
        durable = self.durable_seq
        woken = [turn for seq, turn in self._waiters if seq <= durable]
        self._waiters = [(seq, turn) for seq, turn in self._waiters if seq > durable]
        if self._waiters:
            woken.append(self._waiters.pop(0)[1])
        return woken

    def drain(self) -> None:
        """Wait until every appended batch is durable and indexed (or the group failed):
        before maintenance and close."""
        with self._state:
            last = self._queue[-1].last_seq if self._queue else 0
        with contextlib.suppress(DriftIOError):  # the writer is stopped; its waiters say why
            if last:
                self.wait(last)
            self.catch_up()

    def catch_up(self, block: bool = True) -> None:
        """Apply every durable batch not yet indexed to the indexes (in seq order, one
        transaction per table); raise DriftIOError if the indexes failed (now or before).
        `block=False` (a leader over the lag bound): if another thread is applying, leave
        the rest to the next leader rather than hold an acknowledged commit back."""
        if self.indexed_seq >= self.durable_seq and self._index_failure is None:
            return  # the common case, without a lock (not `_unindexed`: it is emptied
            # before its batches are applied, and a reader must wait for those)
        if not self._index_lock.acquire(blocking=block):
            return
        try:
            if self._index_failure is not None:
                raise DriftIOError(self._index_failure)
            with self._state:
                group, self._unindexed = self._unindexed, []
                self._unindexed_events = 0
            if group:
                self._index(group)
        finally:
            self._index_lock.release()

    def _lagging(self) -> bool:
        return bool(self._unindexed) and (
            self._unindexed_events >= INDEX_LAG_EVENTS
            or time.monotonic() - self._unindexed_since >= INDEX_LAG_S
        )

    def _fail(self, why: str) -> None:
        self.stop(why)
        with self._state:
            if self._failure is None:
                self._failure = _write_failed(why)
            woken = self._release_waiters()
        for turn in woken:
            turn.release()

    def _sync(self, group: list[_Appended]) -> None:
        """fsync every table `group` appended to, then acknowledge it (and queue it for the
        indexes) and count it towards the automatic snapshots."""
        if not group:
            return
        names = list(dict.fromkeys(name for item in group for name in item.located))
        try:
            with self.sync_lock:
                for name in names:
                    appender = self.tables[name].appender
                    # Unconditional (no `dirty` test): another batch may append while this
                    # fsync runs, and its own leader must still fsync after it. Data only:
                    # the frames overwrite zeros written ahead (storage/appender.py), and a
                    # length change is durable through fdatasync too.
                    if appender is not None and appender.fd is not None:
                        fs.layer().fdatasync(appender.fd)
        except BaseException as exc:
            self._fail(f"{type(exc).__name__}: {exc}")
            if isinstance(exc, Exception):
                raise DriftIOError(_write_failed(exc)) from exc
            raise
        with self._state:
            if not self._unindexed:
                self._unindexed_since = time.monotonic()
            self._unindexed.extend(group)
            self._unindexed_events += sum(item.count for item in group)
            self.durable_seq = group[-1].last_seq
        for item in group:
            # per batch, so a snapshot falls where its threshold is crossed; its background
            # thread catches the indexes up to it first
            for name, spots in item.located.items():
                newest = spots[-1].event
                self.tables[name].note_commit(
                    len(spots),
                    spots[-1].end_offset - spots[0].offset,
                    (newest.seq, newest.unix_ms),
                    self.catch_up,
                )

    def _index(self, group: list[_Appended]) -> None:
        """Apply durable batches to the indexes (under `_index_lock`), one transaction per
        table for all of them."""
        names = list(dict.fromkeys(name for item in group for name in item.located))
        last = group[-1].last_seq
        for name in names:
            spots = [s for item in group for s in item.located.get(name, ())]
            rows = [r for item in group for r in item.rows.get(name, ())]
            table = self.tables[name]
            index = table.index
            assert index is not None
            try:
                index.apply(spots, table.primary_key, rows)
            except Exception as exc:
                # The events are durable; only the index lags. Stop, so reopening catches up.
                self.stop(f"index update failed: {exc}")
                message = (
                    f"the writes up to seq {last} are durable but updating the index of "
                    f'table "{name}" failed ({exc}); reopen the database to catch it up'
                )
                with self._state:
                    self._index_failure = message
                    if self._failure is None:
                        self._failure = message
                    woken = self._release_waiters()
                for turn in woken:
                    turn.release()
                raise DriftIOError(message) from exc
        with self._state:
            self.indexed_seq = last
