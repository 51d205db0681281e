"""Events: the immutable facts a table's history is made of, and their msgpack payloads."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import msgpack

Key = str | int
Document = dict[str, Any]


class EventType(enum.IntEnum):
    """The three event types of the format (docs/format.md); no others exist."""

    INSERT = 1
    PATCH = 2
    SOFT_DELETE = 3


@dataclass(frozen=True, slots=True)
class Txn:
    """Marks an event as part of a batch: the batch's first seq, its event count, and how many
    of its events each table holds, so recovery and readers can tell a whole batch from a cut one.
    """

    first: int
    count: int
    parts: dict[str, int] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {"first": self.first, "count": self.count, "parts": self.parts}

    @staticmethod
    def from_wire(raw: Any) -> Txn:
        if not isinstance(raw, dict):
            raise ValueError("txn entry is not a map")
        parts = raw.get("parts") or {}
        return Txn(int(raw["first"]), int(raw["count"]), {str(k): int(v) for k, v in parts.items()})


@dataclass(frozen=True, slots=True)
class Event:
    """One change to one key of one table.

    `data` is the full document for INSERT, the merge patch for PATCH, None for SOFT_DELETE.
    `purged` is set when the key was purged: the payload then carries no data.
    """

    seq: int
    unix_ms: int
    type: EventType
    key: Key
    data: Document | None = None
    meta: dict[str, Any] | None = None
    txn: Txn | None = None
    purged: dict[str, Any] | None = None

    def payload(self) -> dict[str, Any]:
        """The msgpack map stored in the frame."""
        out: dict[str, Any] = {"key": self.key}
        if self.purged is None:
            if self.type is EventType.INSERT:
                out["doc"] = self.data
            elif self.type is EventType.PATCH:
                out["patch"] = self.data
        else:
            out["purged"] = self.purged
        if self.meta:
            out["meta"] = self.meta
        if self.txn is not None:
            out["txn"] = self.txn.to_wire()
        return out


def pack_payload(event: Event) -> bytes:
    return bytes(msgpack.packb(event.payload(), use_bin_type=True))


def unpack_event(seq: int, unix_ms: int, event_type: int, payload: bytes) -> Event:
    """Rebuild an event from a frame's fields. Raises ValueError on a malformed payload."""
    try:
        etype = EventType(event_type)
    except ValueError:
        raise ValueError(f"unknown event type {event_type}") from None
    try:
        raw = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types
        raise ValueError(f"payload is not valid msgpack ({exc})") from None
    if not isinstance(raw, dict) or "key" not in raw:
        raise ValueError("payload is not a map with a key")
    key = raw["key"]
    if isinstance(key, bool) or not isinstance(key, str | int):
        raise ValueError(f"payload key has type {type(key).__name__}")
    purged = raw.get("purged")
    data: Any = None
    if purged is None:
        if etype is EventType.INSERT:
            data = raw.get("doc")
        elif etype is EventType.PATCH:
            data = raw.get("patch")
        if etype is not EventType.SOFT_DELETE and not isinstance(data, dict):
            raise ValueError(f"{etype.name} payload has no document map")
    txn = Txn.from_wire(raw["txn"]) if raw.get("txn") is not None else None
    meta = raw.get("meta")
    return Event(
        seq,
        unix_ms,
        etype,
        key,
        data,
        meta if isinstance(meta, dict) else None,
        txn,
        purged if isinstance(purged, dict) else None,
    )
