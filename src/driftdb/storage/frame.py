"""The segment format, in constants: the only home of these numbers (see docs/format.md).

    segment := header frame*
    header  := "DRIFTSEG" u32 version(=1) u32 reserved(=0)             (16 bytes)
    frame   := u32 length, u32 crc32, varint seq, u64 unix_ms, u8 event_type, msgpack payload

Integers are little-endian. `length` counts the bytes after the crc field; `crc32` is zlib's
CRC-32 over those same bytes. The CRC does not cover `length`, which is why readers bound it and
never allocate what it claims.
"""

from __future__ import annotations

import struct
import zlib

from driftdb.model.frozen import Frozen, set_field
from driftdb.storage.varint import decode_varint, encode_varint

MAGIC = b"DRIFTSEG"
FORMAT_VERSION = 1
HEADER = struct.Struct("<8sII")
HEADER_SIZE = HEADER.size  # 16
PREFIX = struct.Struct("<II")  # length, crc32
PREFIX_SIZE = PREFIX.size  # 8
UNIX_MS = struct.Struct("<Q")
MAX_FRAME_BYTES = 64 * 1024 * 1024
MIN_BODY_BYTES = 1 + 8 + 1 + 1  # shortest varint, unix_ms, event_type, a 1-byte msgpack map


def segment_header() -> bytes:
    """The 16 bytes every segment file starts with."""
    return HEADER.pack(MAGIC, FORMAT_VERSION, 0)


def check_segment_header(data: bytes) -> str | None:
    """None if `data` is a valid header, else the reason it is not."""
    if len(data) < HEADER_SIZE:
        return f"segment header is {len(data)} bytes, expected {HEADER_SIZE}"
    magic, version, reserved = HEADER.unpack_from(data)
    if magic != MAGIC:
        return f"bad magic {magic!r}, expected {MAGIC!r}"
    if version != FORMAT_VERSION:
        return f"unsupported segment format version {version} (this DriftDB reads {FORMAT_VERSION})"
    if reserved != 0:
        return f"reserved header field is {reserved}, expected 0"
    return None


def encode_frame(seq: int, unix_ms: int, event_type: int, payload: bytes) -> bytes:
    """One frame, ready to append."""
    body = encode_varint(seq) + UNIX_MS.pack(unix_ms) + bytes((event_type,)) + payload
    if len(body) > MAX_FRAME_BYTES:
        raise ValueError(f"frame of {len(body)} bytes exceeds the {MAX_FRAME_BYTES}-byte bound")
    return PREFIX.pack(len(body), zlib.crc32(body)) + body


class FrameBody(Frozen):
    """The decoded fields of a frame body (after its CRC was checked)."""

    __slots__ = __match_args__ = ("seq", "unix_ms", "event_type", "payload")
    seq: int
    unix_ms: int
    event_type: int
    payload: bytes

    def __init__(self, seq: int, unix_ms: int, event_type: int, payload: bytes) -> None:
        set_field(self, "seq", seq)
        set_field(self, "unix_ms", unix_ms)
        set_field(self, "event_type", event_type)
        set_field(self, "payload", payload)


def decode_body(body: bytes) -> FrameBody:
    """Split a CRC-checked body into its fields. Raises ValueError if it is malformed."""
    seq, pos = decode_varint(body)
    if pos + 9 > len(body):
        raise ValueError("frame body too short for its timestamp and event type")
    (unix_ms,) = UNIX_MS.unpack_from(body, pos)
    event_type = body[pos + 8]
    return FrameBody(seq, unix_ms, event_type, body[pos + 9 :])
