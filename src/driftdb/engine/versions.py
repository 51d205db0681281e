"""Versions of rows over seq ranges, read through the indexes (FOR SYSTEM_TIME, DIFF, BLAME,
RESTORE).

A version is what one INSERT or PATCH made of a row; the key's next event (a PATCH or the
SOFT DELETE) ends it. A version overlaps the closed seq range [lo, hi] when it started at or
before hi and had not ended by lo (its end seq > lo). What is read:
- the versions of one key: one seek in the key directory, then its entries from the last at or
  before lo to the first after hi (`IndexReader.versions_around`);
- which keys have a version in a range: the keys live at lo (one seek per key) and the keys of
  the events in (lo, hi] (the `seqs` index, read from lo on): nothing before lo is walked;
- which keys changed between two points: the `seqs` entries between them only.
A key the reader's log tail touched (the writer a step ahead of the indexes), and a read
without an index, take the key's whole history instead (`TableView.history`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from driftdb.index.keycodec import MAX_U64, encode_key
from driftdb.index.store import NO_SEGMENT, IndexReader, Version
from driftdb.model.events import Document, Event, EventType, Key
from driftdb.model.replay import DriftEntry
from driftdb.model.retention import Horizon


class TableView(Protocol):
    """What these reads need of engine/view.TableView (which calls them: no import back)."""

    reader: IndexReader | None
    overlay: dict[Key, list[Event]]
    base: dict[Key, Document] | None

    @property
    def horizon(self) -> Horizon | None: ...

    def history(self, key: Key) -> list[DriftEntry]: ...

    def _entry(self, key: Key, version: Version) -> DriftEntry: ...


@dataclass(frozen=True, slots=True)
class Step:
    """One event of a key: its seq, time, type and the row after it (None: no live row).
    `version` locates its frame in the key directory; `meta` is known when it came from the
    log tail or a synthetic base version."""

    seq: int
    unix_ms: int
    type: EventType
    row: Document | None
    version: Version | None = None
    meta: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RowVersion:
    """One version of one row, with the event that started it and the one that ended it."""

    key: Key
    seq: int
    unix_ms: int
    type: EventType
    row: Document
    end_seq: int | None
    end_unix_ms: int | None
    start: Step


def _uses_history(view: TableView, key: Key) -> bool:
    return view.reader is None or key in view.overlay


def key_steps(view: TableView, key: Key, lo: int = -1, hi: int = MAX_U64) -> list[Step]:
    """The events of `key` that bear on [lo, hi] (the last at or before lo, those in the
    range, the first after it), or all of them when the key directory alone cannot say."""
    if not _uses_history(view, key):
        assert view.reader is not None
        return [
            Step(v.seq, v.unix_ms, v.type, v.row, v)
            for v in view.reader.versions_around(key, lo, hi)
        ]
    return [Step(e.seq, e.unix_ms, e.type, e.row, None, e.meta or None) for e in view.history(key)]


def versions_of_key(view: TableView, key: Key, lo: int, hi: int) -> list[RowVersion]:
    """The versions of `key` that overlap [lo, hi], oldest first."""
    steps = key_steps(view, key, lo, hi)
    out = []
    for i, step in enumerate(steps):
        if step.row is None or step.seq > hi:
            continue
        end = steps[i + 1] if i + 1 < len(steps) else None
        if end is not None and end.seq <= lo:
            continue
        out.append(
            RowVersion(
                key,
                step.seq,
                step.unix_ms,
                step.type,
                step.row,
                end.seq if end is not None else None,
                end.unix_ms if end is not None else None,
                step,
            )
        )
    return out


def keys_with_versions(view: TableView, lo: int, hi: int) -> list[Key]:
    """Every key with a version overlapping [lo, hi], in key order: the keys live at lo and
    the keys of the events in (lo, hi]."""
    keys: set[Key] = set(view.overlay)
    if view.reader is not None:
        # Before a retention horizon the rows live at it stand for the discarded history
        # (synthetic versions at the horizon's seq, which `seqs` gives no key for).
        start = max(lo, view.horizon.seq if view.horizon is not None else -1)
        if start >= 0:
            keys.update(view.reader.keys_live_at(start))
        touched = view.reader.keys_touched(lo, hi, MAX_U64)
        keys.update(touched or ())
    elif view.base is not None:
        keys.update(view.base)
    return sorted(keys, key=encode_key)


def keys_changed(view: TableView, a: int, b: int) -> list[Key]:
    """Every key with an event in (min(a, b), max(a, b)], in key order (from `seqs`)."""
    lo, hi = min(a, b), max(a, b)
    keys: set[Key] = {
        k for k, events in view.overlay.items() if any(lo < e.seq <= hi for e in events)
    }
    if view.reader is not None:
        keys.update(view.reader.keys_touched(lo, hi, MAX_U64) or ())
    elif view.base is not None and lo < (view.horizon.seq if view.horizon else -1) <= hi:
        keys.update(view.base)
    return sorted(keys, key=encode_key)


def versions_in_range(
    view: TableView, lo: int, hi: int, keys: Iterable[Key] | None = None
) -> Iterator[RowVersion]:
    """The versions overlapping [lo, hi] of `keys` (default: every key that has one), in key
    order, each key's oldest first."""
    chosen = keys_with_versions(view, lo, hi) if keys is None else keys
    for key in chosen:
        yield from versions_of_key(view, key, lo, hi)


def step_meta(view: TableView, key: Key, step: Step) -> dict[str, Any] | None:
    """The audit meta of the event of `step` (read from its frame, CRC-checked)."""
    if step.version is None:
        return step.meta
    if step.version.segment == NO_SEGMENT:
        return {"horizon": step.version.seq}
    return view._entry(key, step.version).meta
