"""An independent reader of the segment format, written from docs/format.md alone.

    header := "DRIFTSEG" u32 version(=1) u32 reserved(=0)
    frame  := u32 length, u32 crc32, varint seq, u64 unix_ms, u8 event_type, msgpack payload

A run of zero bytes from the end of the last frame to the end of the file is unwritten
space (a frame's length is never 0), not a frame.

It is strict: any deviation is an AssertionError, so a test that parses a log with it also
checks that DriftDB wrote exactly the documented format.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import msgpack

SEGMENT_HEADER = b"DRIFTSEG" + struct.pack("<I", 1) + struct.pack("<I", 0)


def varint_by_hand(value: int) -> bytes:
    """Unsigned LEB128, seven bits at a time, low group first."""
    out = bytearray()
    while True:
        group = value & 0x7F
        value >>= 7
        out.append(group | (0x80 if value else 0))
        if not value:
            return bytes(out)


def frame_by_hand(seq: int, unix_ms: int, event_type: int, payload: bytes) -> bytes:
    body = varint_by_hand(seq) + struct.pack("<Q", unix_ms) + bytes([event_type]) + payload
    return struct.pack("<I", len(body)) + struct.pack("<I", zlib.crc32(body)) + body


@dataclass(frozen=True)
class RawFrame:
    offset: int
    length: int
    crc: int
    seq: int
    unix_ms: int
    event_type: int
    payload: dict[str, Any]

    @property
    def end(self) -> int:
        return self.offset + 8 + self.length


def parse_segment(data: bytes) -> list[RawFrame]:
    assert data[:16] == SEGMENT_HEADER, f"bad segment header {data[:16]!r}"
    frames: list[RawFrame] = []
    offset = 16
    while offset < len(data):
        if not data[offset:].strip(b"\0"):
            break  # unwritten space to the end of the file
        assert offset + 8 <= len(data), f"short frame prefix at {offset}"
        length, crc = struct.unpack_from("<II", data, offset)
        body = data[offset + 8 : offset + 8 + length]
        assert len(body) == length, f"short frame body at {offset}"
        assert zlib.crc32(body) == crc, f"CRC mismatch at {offset}"
        seq, shift, pos = 0, 0, 0
        while True:
            byte = body[pos]
            seq |= (byte & 0x7F) << shift
            shift += 7
            pos += 1
            if not byte & 0x80:
                break
        (unix_ms,) = struct.unpack_from("<Q", body, pos)
        event_type = body[pos + 8]
        assert event_type in (1, 2, 3), f"event type {event_type} at {offset}"
        payload = msgpack.unpackb(body[pos + 9 :], raw=False, strict_map_key=False)
        assert isinstance(payload, dict) and "key" in payload, f"payload at {offset}"
        frames.append(RawFrame(offset, length, crc, seq, unix_ms, event_type, payload))
        offset += 8 + length
    return frames


def parse_file(path: str | os.PathLike[str]) -> list[RawFrame]:
    with open(path, "rb") as handle:
        return parse_segment(handle.read())


def written_part(data: bytes) -> bytes:
    """A segment's bytes up to the end of its last frame; what follows must be zeros (the
    writer's unwritten space, present while it holds the segment)."""
    frames = parse_segment(data)
    end = frames[-1].end if frames else len(SEGMENT_HEADER)
    assert not data[end:].strip(b"\0"), f"non-zero bytes after the last frame at {end}"
    return data[:end]
