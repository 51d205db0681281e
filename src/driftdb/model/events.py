"""Events: the immutable facts a table's history is made of, and their msgpack payloads."""

from __future__ import annotations

import enum
import math
import threading
from typing import Any

import msgpack

from driftdb.errors import InvalidInputError
from driftdb.model.document import Document as Document  # re-exported: the event vocabulary
from driftdb.model.document import Key as Key
from driftdb.model.document import check_document, check_json, check_key
from driftdb.model.frozen import Frozen, set_field


class EventType(enum.IntEnum):
    """The three event types of the format (docs/format.md); no others exist."""

    INSERT = 1
    PATCH = 2
    SOFT_DELETE = 3


class Txn(Frozen):
    """Marks an event as part of a batch: the batch's first seq, its event count, and how many
    of its events each table holds, so recovery and readers can tell a whole batch from a cut one.
    """

    __slots__ = __match_args__ = ("first", "count", "parts")
    first: int
    count: int
    parts: dict[str, int]

    def __init__(self, first: int, count: int, parts: dict[str, int] | None = None) -> None:
        set_field(self, "first", first)
        set_field(self, "count", count)
        set_field(self, "parts", {} if parts is None else parts)

    def to_wire(self) -> dict[str, Any]:
        return {"first": self.first, "count": self.count, "parts": self.parts}

    @staticmethod
    def from_wire(raw: Any) -> Txn:
        """The txn entry of a payload; ValueError unless it is exactly what a writer writes."""
        if not isinstance(raw, dict):
            raise ValueError("txn entry is not a map")
        first: Any = raw.get("first")
        count: Any = raw.get("count")
        parts: Any = raw.get("parts") or {}
        if not _is_count(first, 1):
            raise ValueError("txn entry has no valid first seq")
        if not _is_count(count, 1):
            raise ValueError("txn entry has no valid event count")
        if not isinstance(parts, dict) or not all(
            isinstance(k, str) and _is_count(v, 0) for k, v in parts.items()
        ):
            raise ValueError("txn parts is not a map of table names to counts")
        return Txn(first, count, dict(parts))


_MAX_DEPTH = 64  # as model/document.MAX_DEPTH: what an insert accepts
MAX_UNIX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: a later time is damage
MAX_SEQ = 2**63 - 1


def _is_count(value: Any, least: int) -> bool:
    return type(value) is int and least <= value <= MAX_SEQ


class Event(Frozen):
    """One change to one key of one table.

    `data` is the full document for INSERT, the merge patch for PATCH, None for SOFT_DELETE.
    `purged` is set when the key was purged: the payload then carries no data.
    """

    __slots__ = __match_args__ = (
        "seq", "unix_ms", "type", "key", "data", "meta", "txn", "purged"
    )  # fmt: skip
    seq: int
    unix_ms: int
    type: EventType
    key: Key
    data: Document | None
    meta: dict[str, Any] | None
    txn: Txn | None
    purged: dict[str, Any] | None

    def __init__(
        self,
        seq: int,
        unix_ms: int,
        type: EventType,
        key: Key,
        data: Document | None = None,
        meta: dict[str, Any] | None = None,
        txn: Txn | None = None,
        purged: dict[str, Any] | None = None,
    ) -> None:
        set_field(self, "seq", seq)
        set_field(self, "unix_ms", unix_ms)
        set_field(self, "type", type)
        set_field(self, "key", key)
        set_field(self, "data", data)
        set_field(self, "meta", meta)
        set_field(self, "txn", txn)
        set_field(self, "purged", purged)

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
    """The frame payload of `event`: msgpack of `payload()`, as `msgpack.packb(...,
    use_bin_type=True)` gives it, by a packer kept per thread (`packb` makes a packer, and
    allocates its buffer, per call: half the cost of packing a small event)."""
    packer = getattr(_packers, "packer", None)
    if packer is None:
        packer = _packers.packer = msgpack.Packer(use_bin_type=True)
    return bytes(packer.pack(event.payload()))  # (a failed pack leaves the packer empty)


_packers = threading.local()


def plain_key(key: str | int) -> bool:
    """What an insert accepts as a key (model/document.check_key, the slow path with messages):
    an int64, or a non-empty string of at most 250 UTF-8 bytes (msgpack strings are always
    valid UTF-8)."""
    if isinstance(key, int):
        return -(2**63) <= key < 2**63
    return 0 < len(key) <= 250 // 4 or (len(key) > 0 and _key_bytes(key) <= 250)


def _key_bytes(key: str) -> int:
    raw = key.encode(errors="surrogatepass")
    return len(raw) + raw.count(0)


def plain_json(value: Any, depth: int = 0) -> bool:
    """Whether `value` is a JSON value as a document may hold one (no msgpack bin, ext or
    Timestamp, no inf or NaN, str keys, at most MAX_DEPTH levels): the fast check every read
    makes; model/document explains a failure."""
    if depth > _MAX_DEPTH:
        return False
    kind = type(value)
    if kind is str or kind is bool or value is None or kind is int:
        return True  # msgpack holds ints within 64 bits only, strings as valid UTF-8 only
    if kind is float:
        return math.isfinite(value)
    if kind is dict:
        for name, item in value.items():
            if type(name) is not str or not plain_json(item, depth + 1):
                return False
        return True
    if kind is list:  # loops, not all(genexpr): this runs for every value of every read
        for item in value:  # noqa: SIM110
            if not plain_json(item, depth + 1):
                return False
        return True
    return False


def _explain(key: Any, etype: EventType, data: Any, purged: Any, meta: Any) -> None:
    """Raise ValueError saying which rule a payload breaks (the checks inserts make)."""
    try:
        check_key(key, "payload")
        if data is not None:
            check_document(data, f"{etype.name} payload")
        if purged is not None:
            check_json(purged, "purged entry")
        if meta is not None:
            check_json(meta, "meta entry")
    except InvalidInputError as exc:
        raise ValueError(str(exc)) from None
    raise ValueError("payload holds a value a document may not hold")


def unpack_event(seq: int, unix_ms: int, event_type: int, payload: bytes) -> Event:
    """Rebuild an event from a frame's fields. Raises ValueError on a malformed payload.

    A frame whose CRC matches but which breaks the model's rules (a key no insert accepts, a
    value that is not JSON, a txn entry no writer writes, a time past year 9999) is damage, not
    data: it is refused here, so readers, doctor and repair all see the same corruption.
    """
    try:
        etype = EventType(event_type)
    except ValueError:
        raise ValueError(f"unknown event type {event_type}") from None
    if not 0 <= seq <= MAX_SEQ:
        raise ValueError(f"seq {seq} is out of range")
    if not 0 <= unix_ms <= MAX_UNIX_MS:
        raise ValueError(f"unix_ms {unix_ms} is past the year 9999")
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
    meta = raw.get("meta")
    data: Any = None
    if purged is None:
        if etype is EventType.INSERT:
            data = raw.get("doc")
        elif etype is EventType.PATCH:
            data = raw.get("patch")
        if etype is not EventType.SOFT_DELETE and not isinstance(data, dict):
            raise ValueError(f"{etype.name} payload has no document map")
    if not (
        plain_key(key)
        and (data is None or plain_json(data, 0))
        and (purged is None or plain_json(purged, 0))
        and (meta is None or plain_json(meta, 0))
    ):
        _explain(key, etype, data, purged, meta)
    txn = Txn.from_wire(raw["txn"]) if raw.get("txn") is not None else None
    if txn is not None and txn.first > seq:
        raise ValueError(f"txn entry starts at seq {txn.first}, after this event's seq {seq}")
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
