"""A consistent read of one table: its indexes plus any log tail they do not cover yet.

The writer keeps its indexes current, so its tail is empty. A reader may find the writer a step
ahead of the indexes (or no indexes at all): the events after the covered point form an
overlay, applied on top of the indexed row of each key they touch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from driftdb.errors import CorruptionError
from driftdb.index.store import IndexReader, Version
from driftdb.model.events import Document, Event, Key, unpack_event
from driftdb.model.replay import DriftEntry, apply_event
from driftdb.storage.segment import read_frame, segment_path


class TableView:
    """Answers reads at a resolved seq (`MAX_U64` means now). Close it when done."""

    def __init__(
        self, primary_key: str, segments_dir: str, reader: IndexReader | None, tail: list[Event]
    ) -> None:
        self.primary_key = primary_key
        self.segments_dir = segments_dir
        self.reader = reader
        covered = reader.covered() if reader is not None else None
        self.covered_seq = covered.seq if covered is not None else -1
        self.covered_live = covered.live if covered is not None else 0
        self.tail = tail
        self.overlay: dict[Key, list[Event]] = {}
        for event in tail:
            self.overlay.setdefault(event.key, []).append(event)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()

    def __enter__(self) -> TableView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- positions -------------------------------------------------------------------------

    def last_seq(self) -> int:
        """The seq of this table's newest visible event (-1 if none)."""
        return self.tail[-1].seq if self.tail else self.covered_seq

    def first_seq(self) -> int | None:
        first = self.reader.first_seq() if self.reader is not None else None
        if first is None and self.tail:
            return self.tail[0].seq
        return first

    def seq_at_time(self, unix_ms: int) -> int:
        """The last seq of this table at or before `unix_ms` (-1 before its first event)."""
        for event in reversed(self.tail):
            if event.unix_ms <= unix_ms:
                return event.seq
        found = self.reader.seq_at_time(unix_ms) if self.reader is not None else None
        return -1 if found is None else found

    # -- rows ------------------------------------------------------------------------------

    def _overlaid_row(self, key: Key, seq: int) -> Document | None:
        base = None
        if self.reader is not None and self.covered_seq >= 0:
            base = self.reader.version_at(key, self.covered_seq)
        state: dict[Key, Document] = {}
        if base is not None and base.row is not None:
            state[key] = base.row
        for event in self.overlay[key]:
            if event.seq > seq:
                break
            apply_event(state, event, self.primary_key)
        return state.get(key)

    def _touched(self, key: Key, seq: int) -> bool:
        events = self.overlay.get(key)
        return bool(events) and events[0].seq <= seq  # type: ignore[index]

    def get(self, key: Key, seq: int) -> Document | None:
        if seq < 0:
            return None
        if self._touched(key, seq):
            return self._overlaid_row(key, seq)
        if self.reader is None:
            return None
        version = self.reader.version_at(key, seq)
        return version.row if version is not None else None

    def rows(self, seq: int) -> Iterator[tuple[Key, Document]]:
        """Every live row at `seq` (indexed rows in key order, then rows the tail touched)."""
        if seq < 0:
            return
        touched = {k for k in self.overlay if self._touched(k, seq)}
        if self.reader is not None:
            for key, row in self.reader.rows_at(seq):
                if key not in touched:
                    yield key, row
        for key in touched:
            changed = self._overlaid_row(key, seq)
            if changed is not None:
                yield key, changed

    def keys_in_range(
        self,
        column: str,
        lower: Any,
        upper: Any,
        seq: int,
        include_lower: bool,
        include_upper: bool,
    ) -> Iterator[Key]:
        """Candidate keys from a temporal index (plus every key the tail touched: the caller
        re-checks those against their row)."""
        if seq < 0:
            return
        touched = [k for k in self.overlay if self._touched(k, seq)]
        if self.reader is not None and column in self.reader.index.ix:
            for key in self.reader.keys_with_value(
                column, lower, upper, seq, include_lower, include_upper
            ):
                if key not in self.overlay or not self._touched(key, seq):
                    yield key
        yield from touched

    def count(self, seq: int) -> int:
        if seq < 0:
            return 0
        if not any(self._touched(k, seq) for k in self.overlay):
            return self.reader.live_count_at(seq) if self.reader is not None else 0
        return sum(1 for _ in self.rows(seq))

    def history(self, key: Key) -> list[DriftEntry]:
        """Every event of `key` in order with the row after it; payloads come from the frames
        the key directory points at (CRC-checked on the way)."""
        versions = self.reader.versions(key) if self.reader is not None else []
        entries = [self._entry(key, v) for v in versions]
        state: dict[Key, Document] = {}
        if entries and entries[-1].row is not None:
            state[key] = entries[-1].row
        for event in self.overlay.get(key, []):
            apply_event(state, event, self.primary_key)
            entries.append(
                DriftEntry(
                    event.seq,
                    event.unix_ms,
                    event.type,
                    event.data,
                    event.meta,
                    state.get(key),
                    event.purged,
                )
            )
        return entries

    def _entry(self, key: Key, version: Version) -> DriftEntry:
        found = read_frame(self.segments_dir, version.segment, version.offset)
        path = segment_path(self.segments_dir, version.segment)
        if isinstance(found, str):
            raise CorruptionError(path, version.offset, found)
        try:
            event = unpack_event(found.seq, found.unix_ms, found.event_type, found.payload)
        except ValueError as exc:
            raise CorruptionError(path, version.offset, str(exc)) from None
        if event.seq != version.seq or event.key != key:
            raise CorruptionError(
                path, version.offset, f"key directory says seq {version.seq}, frame has {event.seq}"
            )
        return DriftEntry(
            event.seq, event.unix_ms, event.type, event.data, event.meta, version.row, event.purged
        )
