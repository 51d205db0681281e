"""The reference answer: replay a table's events in order. Every fast path is checked against it.

This is deliberately the simplest correct code; it is not how DriftDB answers queries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from driftdb.model.events import Document, Event, EventType, Key
from driftdb.model.merge_patch import merge_patch


def apply_event(state: dict[Key, Document], event: Event, primary_key: str) -> None:
    """Apply one event to `state` (key -> live row) in place."""
    if event.purged is not None or event.type is EventType.SOFT_DELETE:
        state.pop(event.key, None)
    elif event.type is EventType.INSERT:
        state[event.key] = dict(event.data or {})
    else:
        row = merge_patch(state.get(event.key, {}), event.data or {})
        row[primary_key] = event.key
        state[event.key] = row


def state_at(events: Iterable[Event], seq: int, primary_key: str) -> dict[Key, Document]:
    """Live rows after every event with seq <= `seq`."""
    state: dict[Key, Document] = {}
    for event in events:
        if event.seq > seq:
            break
        apply_event(state, event, primary_key)
    return state


@dataclass(frozen=True)
class DriftEntry:
    """One event of a key's history, with the row as it stood after it (None if deleted)."""

    seq: int
    unix_ms: int
    type: EventType
    data: Document | None
    meta: dict[str, Any] | None
    row: Document | None
    purged: dict[str, Any] | None = None


def drift_of(events: Iterable[Event], key: Key, primary_key: str) -> list[DriftEntry]:
    """The history of one key, by replay."""
    state: dict[Key, Document] = {}
    out: list[DriftEntry] = []
    for event in events:
        if event.key != key:
            continue
        apply_event(state, event, primary_key)
        out.append(
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
    return out
