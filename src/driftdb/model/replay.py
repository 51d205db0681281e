"""The replay rule (how an event changes a row), and the reference answer built on it.

`row_after` is the one statement of the rule: the batch writer (pending rows), the index
writer (row images) and every replay call it. `state_at` and `drift_of` replay a table's
events in order: deliberately the simplest correct code, against which every fast path is
checked; it is not how DriftDB answers queries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from driftdb.model.events import Document, Event, EventType, Key
from driftdb.model.merge_patch import merge_patch


def row_after(
    before: Document | None,
    kind: EventType,
    key: Key,
    data: Document | None,
    primary_key: str,
    purged: bool = False,
) -> Document | None:
    """The row after an event of type `kind` with payload `data`, given the row `before` it
    (None: no live row). SOFT_DELETE, and any purged event, leaves no row; INSERT gives its
    document; PATCH merges (RFC 7386) into the row before and keeps the primary key."""
    if purged or kind is EventType.SOFT_DELETE:
        return None
    if kind is EventType.INSERT:
        return dict(data or {})
    row: Document = merge_patch(before or {}, data or {})
    row[primary_key] = key
    return row


def event_row_after(before: Document | None, event: Event, primary_key: str) -> Document | None:
    """`row_after` for a decoded event."""
    return row_after(
        before, event.type, event.key, event.data, primary_key, event.purged is not None
    )


def apply_event(state: dict[Key, Document], event: Event, primary_key: str) -> None:
    """Apply one event to `state` (key -> live row) in place."""
    row = event_row_after(state.get(event.key), event, primary_key)
    if row is None:
        state.pop(event.key, None)
    else:
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

    @classmethod
    def of(cls, event: Event, row: Document | None) -> DriftEntry:
        """The entry for `event`, with `row` as it stood after it."""
        return cls(event.seq, event.unix_ms, event.type, event.data, event.meta, row, event.purged)


def drift_of(events: Iterable[Event], key: Key, primary_key: str) -> list[DriftEntry]:
    """The history of one key, by replay."""
    state: dict[Key, Document] = {}
    out: list[DriftEntry] = []
    for event in events:
        if event.key != key:
            continue
        apply_event(state, event, primary_key)
        out.append(DriftEntry.of(event, state.get(key)))
    return out
