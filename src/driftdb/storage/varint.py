"""Unsigned LEB128 varints, as the segment format uses for `seq`."""

from __future__ import annotations

MAX_VARINT_BYTES = 10  # enough for any u64


def encode_varint(value: int) -> bytes:
    """Encode a non-negative integer as unsigned LEB128."""
    if value < 0:
        raise ValueError(f"varint must be non-negative, got {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(data: bytes | memoryview, pos: int = 0) -> tuple[int, int]:
    """Decode a varint at `pos`; returns (value, position after it).

    Raises ValueError if the data ends inside the varint or it is longer than 10 bytes.
    """
    result = 0
    shift = 0
    for i in range(MAX_VARINT_BYTES):
        if pos + i >= len(data):
            raise ValueError("varint runs past the end of the frame")
        byte = data[pos + i]
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos + i + 1
        shift += 7
    raise ValueError("varint longer than 10 bytes")
