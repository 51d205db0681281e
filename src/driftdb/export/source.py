"""Every event of a table after a seq, with the row after it, read through one read view.

The export needs each event's own payload (patch, meta, batch mark) and the row after it.
`Table.history` answers that per key; for every key of a large table that is one B+tree walk
per key, so this reads the log itself, in seq order, from the frame of the first event after
`after` (the `seqs` index gives its place). The row after a PATCH comes from the key
directory (one seek); the replay rule gives the others without a row before (an INSERT's row
is its document, a SOFT_DELETE leaves none). Events the index does not cover yet (a reader's
view of the writer's newest batches) come from the view's tail, already checked for whole
batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from driftdb.engine.view import TableView
from driftdb.errors import CorruptionError
from driftdb.index.store import NO_SEGMENT
from driftdb.model.events import Document, Event, EventType, Key, unpack_event
from driftdb.model.replay import event_row_after
from driftdb.storage.frame import HEADER_SIZE
from driftdb.storage.paths import segment_path
from driftdb.storage.segment import iter_frames


@dataclass(frozen=True, slots=True)
class ExportedEvent:
    """One event as the export writes it. `synthetic` marks a row of the base state at the
    horizon (an INSERT standing for history discarded by COMPACT ... BEFORE)."""

    event: Event
    row: Document | None
    synthetic: bool = False


def base_events(view: TableView) -> Iterator[ExportedEvent]:
    """The base state at the view's horizon as synthetic INSERTs at the horizon's seq and
    time (meta `{"horizon": seq}`), in key order; nothing without a horizon."""
    horizon = view.horizon
    if horizon is None:
        return
    for key, row in view.rows(horizon.seq):
        event = Event(
            horizon.seq,
            horizon.base_unix_ms,
            EventType.INSERT,
            key,
            dict(row),
            {"horizon": horizon.seq},
        )
        yield ExportedEvent(event, row, synthetic=True)


def events_after(view: TableView, after: int) -> Iterator[ExportedEvent]:
    """Every event of the view's table with seq > `after`, in seq order, up to the newest the
    view shows, each with the row after it. Raises CorruptionError on a bad frame."""
    upto = view.last_seq()
    indexed = view.covered_seq if view.reader is not None else -1
    if view.reader is not None and after < indexed:
        yield from _indexed_events(view, after, indexed)
    for event in view.tail:
        if event.seq > after and event.seq <= upto:
            yield ExportedEvent(event, view.get(event.key, event.seq))


def _indexed_events(view: TableView, after: int, upto: int) -> Iterator[ExportedEvent]:
    """Events after `after` up to `upto` (what the index covers), read from the log from the
    frame of the first of them, each row after from the key directory."""
    assert view.reader is not None
    count, where = view.reader.count_after(after, 1)
    if count == 0 or where is None:
        return
    segment, offset = where
    if segment == NO_SEGMENT:  # the horizon's own entry: the log after it starts at the top
        offset = HEADER_SIZE
    for result in iter_frames(view.segments_dir, segment, offset, after):
        for record in result.frames:
            body = record.body
            if body.seq <= after:
                continue
            if body.seq > upto:
                return
            try:
                event = unpack_event(body.seq, body.unix_ms, body.event_type, body.payload)
            except ValueError as exc:
                path = segment_path(view.segments_dir, record.segment)
                raise CorruptionError(path, record.offset, f"undecodable event ({exc})") from None
            if event.type is EventType.PATCH and event.purged is None:
                row = _row_after(view, event.key, event.seq)
            else:  # the replay rule needs no row before: an INSERT's row is its document
                row = event_row_after(None, event, view.primary_key)
            yield ExportedEvent(event, row)
        if result.problem is not None:
            problem = result.problem
            if problem.torn:  # the writer mid-append, after everything this view shows
                return
            raise CorruptionError(problem.path, problem.offset, problem.reason)


def _row_after(view: TableView, key: Key, seq: int) -> Document | None:
    """The key directory's row image of `key` at exactly `seq`."""
    assert view.reader is not None
    version = view.reader.version_at(key, seq)
    if version is None or version.seq != seq:
        raise CorruptionError(
            view.segments_dir, None, f"the key directory has no version of {key!r} at seq {seq}"
        )
    return version.row
