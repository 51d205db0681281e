"""Batches and commit: how writes are collected (Batch) and become durable events and then
index entries (commit).

Frames are encoded first (bad input leaves the log untouched), appended per table, fsynced
per table (the durability point is the last fsync), and only then applied to the indexes, so
an index that covers a seq proves the events up to it were acknowledged (docs/format.md,
"Batches", gives the batch marks this writes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from driftdb.engine.handle import TableHandle
from driftdb.engine.view import TableView
from driftdb.errors import DriftIOError, InvalidInputError
from driftdb.model.document import check_document
from driftdb.model.events import Document, Event, EventType, Key, Txn, pack_payload
from driftdb.model.replay import row_after
from driftdb.storage.frame import encode_frame
from driftdb.storage.position import Located
from driftdb.storage.segment import SegmentAppender


class Writer(Protocol):
    """The database a batch commits to: the seq its first write will have."""

    next_seq: int


@dataclass
class PendingWrite:
    """One event queued by a batch, with the seq it will have."""

    table: TableHandle
    type: EventType
    key: Key
    data: Document | None
    meta: dict[str, Any] | None
    seq: int


class Batch:
    """Writes collected to commit together: one fsync per table touched, all or nothing."""

    def __init__(self, db: Writer) -> None:
        self.db = db
        self.writes: list[PendingWrite] = []
        self.rows: dict[tuple[str, Key], Document | None] = {}
        self._views: dict[str, TableView] = {}
        self._undo: list[tuple[tuple[str, Key], bool, Document | None]] = []

    def current_row(self, table: TableHandle, key: Key) -> Document | None:
        """The row as this batch would leave it (pending writes first, then the indexes, read
        through one view per table for the whole batch)."""
        marker = (table.name, key)
        if marker in self.rows:
            return self.rows[marker]
        view = self._views.get(table.name)
        if view is None:
            # Committed state only: a table's first write reads its row here first, so the
            # view opens before the table has pending events to overlay.
            view = self._views[table.name] = table.view()
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
        self.writes.append(PendingWrite(table, kind, key, data, dict(meta) if meta else None, seq))
        marker = (table.name, key)
        current = self.rows[marker] if marker in self.rows else self.current_row(table, key)
        self._undo.append((marker, True, current))
        self.rows[marker] = row_after(current, kind, key, data, table.primary_key)
        return seq


def commit(
    tables: Mapping[str, TableHandle],
    writes: Sequence[PendingWrite],
    unix_ms: int,
    stop: Callable[[str], None],
) -> int:
    """Append the frames of `writes` (one batch, all stamped `unix_ms`), fsync each table's
    segment, then update the indexes; returns the next seq.

    The durability point is the last fsync: after it the batch survives any crash. A
    failure before it stops the writer (the kernel may have dropped what it had): `stop`
    records why, and only a reopen, which re-validates the log from disk, may write again."""
    first = writes[0].seq
    parts: dict[str, int] = {}
    for write in writes:
        parts[write.table.name] = parts.get(write.table.name, 0) + 1
    txn = Txn(first, len(writes), parts if len(parts) > 1 else {}) if len(writes) > 1 else None
    per_table: dict[str, list[Event]] = {}
    for write in writes:
        event = Event(write.seq, unix_ms, write.type, write.key, write.data, write.meta, txn)
        per_table.setdefault(write.table.name, []).append(event)
    # Encode every frame before the first byte is appended: a value msgpack cannot encode
    # or a frame over the bound is bad input, and must leave the log untouched.
    encoded: dict[str, list[bytes]] = {}
    for name, events in per_table.items():
        frames = []
        for e in events:
            try:
                frames.append(encode_frame(e.seq, e.unix_ms, int(e.type), pack_payload(e)))
            except (TypeError, ValueError, OverflowError) as exc:
                raise InvalidInputError(
                    f'{e.type.name} into table "{name}" key {e.key!r}: cannot be stored '
                    f"({exc}); nothing was written"
                ) from None
        encoded[name] = frames
    located: dict[str, list[Located]] = {}
    try:
        for name, events in per_table.items():
            table = tables[name]
            if table.appender is None:
                table.appender = SegmentAppender(
                    table.segments_dir, table.schema.option("segment_size_bytes")
                )
            frames = encoded[name]
            segment, offset = table.appender.append(b"".join(frames))
            spots = []
            for event, frame in zip(events, frames, strict=True):
                spots.append(Located(event, segment, offset, offset + len(frame)))
                offset += len(frame)
            located[name] = spots
        for name in per_table:
            appender = tables[name].appender
            assert appender is not None
            appender.sync()
    except BaseException as exc:
        # Bytes may be in the log that were never made durable: only a reopen, which
        # re-validates the log from disk, may write again.
        stop(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, Exception):
            raise DriftIOError(
                f"write failed ({exc}); nothing was acknowledged and the writer is "
                "stopped: reopen the database"
            ) from exc
        raise
    for name, spots in located.items():
        index = tables[name].index
        assert index is not None
        try:
            index.apply(spots, tables[name].primary_key)
        except Exception as exc:
            # The events are durable; only the index lags. Stop, so reopening catches up.
            stop(f"index update failed: {exc}")
            raise DriftIOError(
                f"the write is durable (seq {writes[-1].seq}) but updating the index of "
                f'table "{name}" failed ({exc}); reopen the database to catch it up'
            ) from exc
    for name, spots in located.items():
        tables[name].note_commit(len(spots), spots[-1].end_offset - spots[0].offset)
    return writes[-1].seq + 1
