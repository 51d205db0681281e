"""The replay rule (how an event changes a row), and the reference answer built on it.

`row_after` is the one statement of the rule: the batch writer (pending rows), the index
writer (row images) and every replay call it. `state_at` and `drift_of` replay a table's
events in order: deliberately the simplest correct code, against which every fast path is
checked; it is not how DriftDB answers queries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import TYPE_CHECKING, Any

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


Payload = tuple[Document | None, dict[str, Any] | None, dict[str, Any] | None]
"""What a history entry may read from its frame on first use: (data, meta, purged)."""


class PayloadGroup:
    """The entries of one history whose payloads (data, meta, purged) are still in their
    frames: the key directory gives each entry's seq, time, type and row, so a history that is
    only walked for those never opens a frame; the first entry asked for a payload reads the
    frames of the whole group at once with `load` (engine/payloads.py, where every frame is
    checked to be the event listed)."""

    __slots__ = ("entries", "load")

    def __init__(self, load: Callable[[list[DriftEntry]], list[Payload]]) -> None:
        self.entries: list[DriftEntry] = []
        self.load = load

    def defer(
        self, versions: list[tuple[int, EventType, int, int, int, Document | None]]
    ) -> list[DriftEntry]:
        """Entries for key directory versions (seq, type, unix_ms, segment, offset, row) whose
        payloads this group reads when one is first asked for."""
        out = []
        new = object.__new__
        for seq, kind, unix_ms, _segment, _offset, row in versions:
            # (no __init__: the payload slots stay unset until `fill`, the only way to them)
            entry = new(DriftEntry)
            entry._seq, entry._unix_ms, entry._type, entry._row = seq, unix_ms, kind, row
            entry._group = self
            out.append(entry)
        self.entries += out
        return out

    def fill(self) -> None:
        payloads = self.load(self.entries)  # raises, leaving the entries deferred, on failure
        for entry, payload in zip(self.entries, payloads, strict=True):
            entry._settle(payload)


class DriftEntry:
    """One event of a key's history, with the row as it stood after it (None if deleted).

    Immutable (its fields are read-only), compared by value like the frozen dataclass it
    replaces; `data`, `meta` and `purged` may be read from the event's frame on first use (see
    PayloadGroup). Plain slots and C getters: a history builds one per version."""

    __slots__ = ("_data", "_group", "_meta", "_purged", "_row", "_seq", "_type", "_unix_ms")

    def __init__(
        self,
        seq: int,
        unix_ms: int,
        type: EventType,
        data: Document | None,
        meta: dict[str, Any] | None,
        row: Document | None,
        purged: dict[str, Any] | None = None,
    ) -> None:
        self._seq = seq
        self._unix_ms = unix_ms
        self._type = type
        self._row = row
        self._data = data
        self._meta = meta
        self._purged = purged
        self._group: PayloadGroup | None = None

    if TYPE_CHECKING:

        @property
        def seq(self) -> int: ...
        @property
        def unix_ms(self) -> int: ...
        @property
        def type(self) -> EventType: ...
        @property
        def row(self) -> Document | None: ...

    else:
        seq = property(attrgetter("_seq"), doc="The event's seq.")
        unix_ms = property(attrgetter("_unix_ms"), doc="The event's commit time (ms).")
        type = property(attrgetter("_type"), doc="INSERT, PATCH or SOFT_DELETE.")
        row = property(attrgetter("_row"), doc="The row after the event (None: no live row).")

    @classmethod
    def of(cls, event: Event, row: Document | None) -> DriftEntry:
        """The entry for `event`, with `row` as it stood after it."""
        return cls(event.seq, event.unix_ms, event.type, event.data, event.meta, row, event.purged)

    def _settle(self, payload: Payload) -> None:
        self._data, self._meta, self._purged = payload
        self._group = None

    @property
    def data(self) -> Document | None:
        """The event's document (INSERT) or merge patch (PATCH); None for a soft delete."""
        if self._group is not None:
            self._group.fill()
        return self._data

    @property
    def meta(self) -> dict[str, Any] | None:
        """The audit meta the event was written with."""
        if self._group is not None:
            self._group.fill()
        return self._meta

    @property
    def purged(self) -> dict[str, Any] | None:
        """The purge record, if the event's payload was purged."""
        if self._group is not None:
            self._group.fill()
        return self._purged

    def _fields(self) -> tuple[Any, ...]:
        return (self.seq, self.unix_ms, self.type, self.data, self.meta, self.row, self.purged)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DriftEntry):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        names = ("seq", "unix_ms", "type", "data", "meta", "row", "purged")
        inner = ", ".join(f"{n}={v!r}" for n, v in zip(names, self._fields(), strict=True))
        return f"DriftEntry({inner})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (DriftEntry, self._fields())


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
