"""A consistent read of one table: its indexes plus any log tail they do not cover yet.

The writer keeps its indexes current, so its tail is empty. A reader may find the writer a step
ahead of the indexes (or no indexes at all): the events after the covered point form an
overlay, applied on top of the indexed row of each key they touch.
"""

from __future__ import annotations

import heapq
import os
import warnings
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from driftdb.engine.payloads import Reload, changed_error, deferred_history, same_event
from driftdb.errors import CorruptionError, DriftError, DriftWarning
from driftdb.index.keycodec import MAX_U64, decode_value, encode_key
from driftdb.index.store import NO_SEGMENT, IndexReader, Version
from driftdb.model.events import Document, Event, EventType, Key, unpack_event
from driftdb.model.replay import DriftEntry, Payload, apply_event
from driftdb.model.retention import Horizon
from driftdb.storage import paths
from driftdb.storage.paths import list_snapshots, segment_path, snapshot_name
from driftdb.storage.position import Covered
from driftdb.storage.segment import FrameReader
from driftdb.storage.snapshot import SnapshotError, read_info, read_snapshot


def synthetic_entry(horizon: Horizon, row: Document) -> DriftEntry:
    """The first entry of a key's history after retention: the row as it stood at the horizon
    (an INSERT at the horizon's seq whose meta says it stands for discarded history)."""
    return DriftEntry(
        horizon.seq,
        horizon.base_unix_ms,
        EventType.INSERT,
        dict(row),
        {"horizon": horizon.seq},
        dict(row),
        None,
    )


# Whether full-table reads may start from a snapshot: "auto" (when cheaper), or forced one way
# (tests use "always" to check that path against the reference).
SNAPSHOT_READS: Literal["auto", "always", "never"] = "auto"


class TableView:
    """Answers reads at a resolved seq (`MAX_U64` means now). Close it when done."""

    def __init__(
        self,
        primary_key: str,
        segments_dir: str,
        reader: IndexReader | None,
        tail: list[Event],
        horizon: Horizon | None = None,
        base: dict[Key, Document] | None = None,
    ) -> None:
        """`horizon` and `base` (the base snapshot's rows) are given only when there is no
        usable index; with one, the index carries both."""
        self.primary_key = primary_key
        self.segments_dir = segments_dir
        self._frames: FrameReader | None = None
        self.reader = reader
        # With an index, its covered position and horizon are read when first asked for (a
        # point read asks for neither): see the properties below.
        self._horizon: Horizon | None = horizon
        self._covered: Covered | None = None
        self._unread = reader is not None
        self.base: dict[Key, Document] | None = base if reader is None else None
        self.tail = tail
        self.overlay: dict[Key, list[Event]] = {}
        for event in tail:
            self.overlay.setdefault(event.key, []).append(event)

    def _read_index_meta(self) -> None:
        assert self.reader is not None
        if self.reader.txn is None:
            raise DriftError("this view is closed: read its horizon and position while open")
        self._covered = self.reader.covered()
        self._horizon = self.reader.horizon()
        self._unread = False

    @property
    def horizon(self) -> Horizon | None:
        """The retention horizon (from the index, or the base snapshot without one)."""
        if self._unread:
            self._read_index_meta()
        return self._horizon

    @property
    def covered_seq(self) -> int:
        """The last seq the indexes cover (without them: the base snapshot's, or -1)."""
        if self._unread:
            self._read_index_meta()
        if self._covered is not None:
            return self._covered.seq
        if self.base is not None and self._horizon is not None:
            return self._horizon.seq
        return -1

    @property
    def covered_live(self) -> int:
        """Live rows at the covered position (0 without an index)."""
        if self._unread:
            self._read_index_meta()
        return self._covered.live if self._covered is not None else 0

    def overlay_pending(self, events: list[Event]) -> None:
        """Lay a batch's pending events (seqs after every committed one, in order) over this
        view, so that reads through the writer inside the batch see them as they will stand
        after the commit (engine/commit.py, Batch.pending_events)."""
        self.tail = [*self.tail, *events]
        for event in events:
            self.overlay.setdefault(event.key, []).append(event)

    @property
    def snapshots_dir(self) -> str:
        return paths.snapshots_dir(os.path.dirname(self.segments_dir))

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
        if self._frames is not None:
            self._frames.close()
            self._frames = None

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
        if first is None and self.base is not None and self.horizon is not None:
            first = self.horizon.seq
        if first is None and self.tail:
            return self.tail[0].seq
        return first

    def seq_at_time(self, unix_ms: int) -> int:
        """The last seq of this table at or before `unix_ms` (-1 before its first event)."""
        if unix_ms < 0:
            return -1  # before 1970: before any event DriftDB can have written
        for event in reversed(self.tail):
            if event.unix_ms <= unix_ms:
                return event.seq
        found = self.reader.seq_at_time(unix_ms) if self.reader is not None else None
        if found is None and self.base is not None and self.horizon is not None:
            found = self.horizon.seq if unix_ms >= self.horizon.base_unix_ms else None
        return -1 if found is None else found

    def _base_row(self, key: Key, seq: int) -> Document | None:
        """The row before the tail: from the index, or from the base snapshot without one."""
        if self.reader is not None:
            return self.reader.row_at(key, seq)
        if self.base is not None and self.horizon is not None and seq >= self.horizon.seq:
            return self.base.get(key)
        return None

    # -- rows ------------------------------------------------------------------------------

    def _overlaid_row(self, key: Key, seq: int) -> Document | None:
        base = self._base_row(key, self.covered_seq) if self.covered_seq >= 0 else None
        state: dict[Key, Document] = {}
        if base is not None:
            state[key] = base
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
        if self.overlay and self._touched(key, seq):
            return self._overlaid_row(key, seq)
        reader = self.reader
        if reader is not None:  # (_base_row's first case, inline: the whole of a point read)
            return reader.row_at(key, seq)
        return self._base_row(key, seq)

    def rows(self, seq: int, streamed: bool = False) -> Iterator[tuple[Key, Document]]:
        """Every live row at `seq`, in primary-key order, whatever the source: the key
        directory (or a snapshot, or the base snapshot without an index), with the rows the
        tail touched merged in. `streamed`: the caller may stop early, so never load a
        snapshot whole."""
        if seq < 0:
            return
        touched = {k for k in self.overlay if self._touched(k, seq)}
        below: Iterable[tuple[Key, Document]] = ()
        if self.reader is not None:
            indexed = None if streamed else self._rows_from_snapshot(seq)
            below = indexed if indexed is not None else self.reader.rows_at(seq)
            if not touched:
                yield from below  # the indexes alone: no merge
                return
        elif self.base is not None and self.horizon is not None and seq >= self.horizon.seq:
            below = sorted(self.base.items(), key=lambda item: encode_key(item[0]))
        changed = []
        for key in touched:
            row = self._overlaid_row(key, seq)
            if row is not None:
                changed.append((key, row))
        changed.sort(key=lambda item: encode_key(item[0]))
        unchanged = ((k, r) for k, r in below if k not in touched)
        yield from heapq.merge(unchanged, changed, key=lambda item: encode_key(item[0]))

    def row_list(self, seq: int) -> list[Document]:
        """The rows of `rows` without their keys, as one list: when the indexes answer alone
        (no tail touches a row by `seq`), the key directory's rows are decoded in bulk and no
        key is decoded (a full-table SELECT needs only the rows)."""
        if seq < 0:
            return []
        if self.reader is None or any(self._touched(k, seq) for k in self.overlay):
            return [row for _, row in self.rows(seq)]
        indexed = self._rows_from_snapshot(seq)
        if indexed is not None:
            return [row for _, row in indexed]
        return self.reader.row_list_at(seq)

    def _rows_from_snapshot(self, seq: int) -> list[tuple[Key, Document]] | None:
        """The indexed rows at `seq` from the nearest snapshot <= seq plus the keys changed
        since, when that is cheaper than one pass over every version in the key directory
        (the index has a full row image per version, so it is only cheaper when versions far
        outnumber rows). None means: use the key directory."""
        if self.reader is None or SNAPSHOT_READS == "never":
            return None
        newest = min(seq, self.last_seq())  # never a snapshot newer than this view
        seqs = [s for s in list_snapshots(self.snapshots_dir) if s <= newest]
        floor = self.horizon.seq if self.horizon is not None else -1
        if not seqs or seqs[-1] < floor:
            return None
        path = os.path.join(self.snapshots_dir, snapshot_name(seqs[-1]))
        try:
            info = read_info(path)
        except SnapshotError as exc:
            warnings.warn(DriftWarning(f"ignoring damaged snapshot {exc}"), stacklevel=3)
            return None
        # Measured (5,000 rows of 6 fields): a snapshot read costs about what a pass over
        # 3 versions per row does (index/scan.py), a changed key about one row more.
        budget = self.reader.version_count() // 3 - info.row_count
        if SNAPSHOT_READS == "always":
            budget = MAX_U64
        elif budget <= 0:
            return None
        touched = self.reader.keys_touched(info.seq, seq, budget)
        if touched is None:
            return None
        try:
            _, rows = read_snapshot(path)
        except SnapshotError as exc:
            warnings.warn(DriftWarning(f"ignoring damaged snapshot {exc}"), stacklevel=3)
            return None
        state = dict(rows)
        for key in set(touched):
            version = self.reader.version_at(key, seq)
            if version is None or version.row is None:
                state.pop(key, None)
            else:
                state[key] = version.row
        return sorted(state.items(), key=lambda item: encode_key(item[0]))

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
        elif self.base is not None:
            # No index: every base key is a candidate (the caller re-checks each row).
            yield from (k for k in self.base if not self._touched(k, seq))
        yield from touched

    def candidates_exact(self, column: str) -> bool:
        """Whether `keys_in_range` on `column` yields exactly the keys in range (a temporal
        index answers); without one it offers every key of the retention base, and the
        caller must re-check each row."""
        return self.reader is not None and column in self.reader.index.ix

    def rows_with_value(self, column: str, value: Any, seq: int) -> Iterator[Document] | None:
        """The rows holding exactly `value` in `column` at `seq` from the temporal index and
        the key directory in one loop (in primary-key order at now), or None when the index
        cannot answer alone (no index on the column, or a tail touches rows)."""
        if self.reader is None or self.overlay or column not in self.reader.index.ix:
            return None
        if seq < 0:
            return iter(())
        return self.reader.rows_with_value(column, value, seq)

    def count_with_value(self, column: str, value: Any, seq: int) -> int | None:
        """Rows holding `value` in `column` at `seq`, from the temporal count index, or None
        when it cannot answer alone (no index, counts untrusted, or a tail touches rows)."""
        if self.reader is None or seq < 0:
            return None if self.reader is None else 0
        if any(self._touched(k, seq) for k in self.overlay):
            return None
        if self.horizon is not None and seq < self.horizon.seq:
            return None
        return self.reader.count_with_value(column, value, seq)

    def value_counts(self, column: str, seq: int) -> list[tuple[Any, int]] | None:
        """(value, rows holding it) for each value `column` has at `seq`, from the value
        counts alone; None when they cannot answer (no index, counts untrusted, a tail that
        touches rows, before the horizon, or a value the index keeps only as a digest)."""
        if self.reader is None or column not in self.reader.index.cnt:
            return None
        if seq < 0:
            return []
        if any(self._touched(k, seq) for k in self.overlay):
            return None
        if self.horizon is not None and seq < self.horizon.seq:
            return None
        counted = self.reader.value_counts(column, seq)
        if counted is None:
            return None
        out = []
        for encoded, count in counted:
            exact, value = decode_value(encoded)
            if not exact:
                return None
            out.append((value, count))
        return out

    def count(self, seq: int) -> int:
        if seq < 0:
            return 0
        if self.reader is not None and not any(self._touched(k, seq) for k in self.overlay):
            return self.reader.live_count_at(seq)
        return sum(1 for _ in self.rows(seq))

    def history(self, key: Key, reload: Reload | None = None) -> list[DriftEntry]:
        """Every event of `key` in order with the row after it. Without `reload`, payloads
        come from the frames the key directory points at (CRC-checked on the way). With it,
        the key directory alone gives each indexed entry and payloads are read when first
        asked for (engine/payloads.py; `reload` calls `payloads` on a fresh view)."""
        if reload is None:
            versions = self.reader.versions(key) if self.reader is not None else []
            entries = [self._entry(key, v) for v in versions]
        else:
            listed = self.reader.version_tuples(key) if self.reader is not None else []
            if listed and listed[0][3] == NO_SEGMENT:  # a retention base entry: no frame
                entries = [self._entry(key, Version(*listed[0]))]  # (it sorts first)
                listed = listed[1:]
                entries += deferred_history(self.segments_dir, key, reload, listed)
            else:
                entries = deferred_history(self.segments_dir, key, reload, listed)
        base = self.base
        if base is not None and self.horizon is not None and key in base:
            entries.append(synthetic_entry(self.horizon, base[key]))
        overlaid = self.overlay.get(key) if self.overlay else None
        if overlaid:
            state: dict[Key, Document] = {}
            if entries and entries[-1].row is not None:
                state[key] = entries[-1].row
            for event in overlaid:
                apply_event(state, event, self.primary_key)
                entries.append(DriftEntry.of(event, state.get(key)))
        return entries

    def payloads(self, key: Key, entries: list[DriftEntry]) -> list[Payload]:
        """The payloads of `entries` (indexed events of `key` an earlier view listed) from
        the frames this view's key directory points at now: an event that is gone or changed
        since is an error (engine/payloads.py)."""
        located = {v.seq: v for v in self.reader.versions(key)} if self.reader is not None else {}
        out: list[Payload] = []
        for entry in entries:
            version = located.get(entry.seq)
            framed = version is not None and version.segment != NO_SEGMENT
            event = self._event(key, version) if framed and version is not None else None
            if event is None or not same_event(entry, event):
                raise changed_error(key, entry)
            out.append((event.data, event.meta, event.purged))
        return out

    def _entry(self, key: Key, version: Version) -> DriftEntry:
        if version.segment == NO_SEGMENT:
            assert self.horizon is not None and version.row is not None
            return synthetic_entry(self.horizon, version.row)
        return DriftEntry.of(self._event(key, version), version.row)

    def _event(self, key: Key, version: Version) -> Event:
        """The event of an indexed version, from its frame; damage, or a frame that is not
        the one the key directory names, is a CorruptionError."""
        if self._frames is None:
            self._frames = FrameReader(self.segments_dir)
        found = self._frames.read(version.segment, version.offset)
        if isinstance(found, str):
            raise CorruptionError(self._path(version), version.offset, found)
        try:
            event = unpack_event(found.seq, found.unix_ms, found.event_type, found.payload)
        except ValueError as exc:
            raise CorruptionError(self._path(version), version.offset, str(exc)) from None
        if event.seq != version.seq or event.key != key:
            raise CorruptionError(
                self._path(version),
                version.offset,
                f"key directory says seq {version.seq}, frame has {event.seq}",
            )
        return event

    # -- versions over seq ranges (engine/versions.py) -------------------------------------

    def versions_in_range(
        self, lo: int, hi: int, keys: Iterable[Key] | None = None
    ) -> Iterator[Any]:
        """Versions overlapping the seq range [lo, hi] (of `keys`, or of every key)."""
        from driftdb.engine.versions import versions_in_range

        return versions_in_range(self, lo, hi, keys)

    def key_steps(self, key: Key, lo: int = -1, hi: int = MAX_U64) -> list[Any]:
        """The events of `key` that bear on [lo, hi], each with the row after it."""
        from driftdb.engine.versions import key_steps

        return key_steps(self, key, lo, hi)

    def keys_changed(self, a: int, b: int) -> list[Key]:
        """Keys with an event between seqs a and b, in key order."""
        from driftdb.engine.versions import keys_changed

        return keys_changed(self, a, b)

    def step_meta(self, key: Key, step: Any) -> dict[str, Any] | None:
        """The audit meta of one event found by `key_steps` or `versions_in_range`."""
        from driftdb.engine.versions import step_meta

        return step_meta(self, key, step)

    def keys_in_range_during(
        self,
        column: str,
        lower: Any,
        upper: Any,
        lo: int,
        hi: int,
        include_lower: bool,
        include_upper: bool,
    ) -> Iterator[Key] | None:
        """Candidate keys whose `column` held a value in the range at some seq in [lo, hi],
        from the temporal index (plus the keys the tail touched); None without that index."""
        if self.reader is None or column not in self.reader.index.ix:
            return None
        found = self.reader.keys_with_value_during(
            column, lower, upper, lo, hi, include_lower, include_upper
        )
        return iter([*found, *self.overlay])

    def _path(self, version: Version) -> str:
        return segment_path(self.segments_dir, version.segment)
