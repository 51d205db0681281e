"""Order-preserving, prefix-free byte encodings of keys and values for LMDB.

One total order across types, the same one ORDER BY uses:
null < false < true < numbers < strings < lists < objects.
Numbers compare numerically (ints and floats together, as IEEE doubles); strings by UTF-8
bytes (code point order); lists and objects by their canonical JSON text. Every encoding is
prefix-free (strings are escaped and terminated), so `value + suffix` keys never collide.
"""

from __future__ import annotations

import hashlib
import json
import struct
from typing import Any

TAG_NULL, TAG_BOOL, TAG_NUMBER, TAG_STRING, TAG_LIST, TAG_OBJECT = 1, 2, 3, 4, 5, 6
_TERMINATOR = b"\x00\x01"
_LONG_MARK = b"\x00\x02"  # sorts after the terminator: a long value after its exact prefix
LONG_VALUE_BYTES = 100
DIGEST_BYTES = 16
_DOUBLE = struct.Struct(">d")
_U64 = struct.Struct(">Q")
MAX_U64 = 2**64 - 1
EXACT_INT = 2**53


def u64(value: int) -> bytes:
    return _U64.pack(value)


def read_u64(data: bytes, offset: int = 0) -> int:
    return int(_U64.unpack_from(data, offset)[0])


def _escape(raw: bytes) -> bytes:
    return raw.replace(b"\x00", b"\x00\xff") + _TERMINATOR


def _double(value: float) -> bytes:
    if value == 0:
        value = 0.0  # -0.0 and 0.0 are one value
    bits = bytearray(_DOUBLE.pack(value))
    if bits[0] & 0x80:
        bits = bytearray(b ^ 0xFF for b in bits)
    else:
        bits[0] |= 0x80
    return bytes(bits)


def encode_value(value: Any) -> bytes:
    """Encode an indexed value. Integers beyond 2**53 lose precision (see `is_exact`)."""
    if value is None:
        return bytes((TAG_NULL,))
    if value is True or value is False:
        return bytes((TAG_BOOL, 1 if value else 0))
    if isinstance(value, int | float):
        return bytes((TAG_NUMBER,)) + _double(float(value))
    if isinstance(value, str):
        return bytes((TAG_STRING,)) + _escape_bounded(value.encode())
    tag = TAG_LIST if isinstance(value, list | tuple) else TAG_OBJECT
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return bytes((tag,)) + _escape_bounded(text.encode())


def _escape_bounded(raw: bytes) -> bytes:
    """Escape a value, cutting a long one to a prefix plus a digest: LMDB keys are at most
    511 bytes. Long values keep their order by prefix and their identity by digest, and are
    not `is_exact` (so what the index finds for them is re-checked against the row)."""
    if len(raw) <= LONG_VALUE_BYTES:
        return _escape(raw)
    digest = hashlib.blake2b(raw, digest_size=DIGEST_BYTES).digest()
    return raw[:LONG_VALUE_BYTES].replace(b"\x00", b"\x00\xff") + _LONG_MARK + digest


def is_exact(value: Any) -> bool:
    """Whether equal encodings imply equal values (false for huge ints and long values), so a
    match found in an index needs no re-check against the row."""
    if isinstance(value, str):
        return len(value.encode()) <= LONG_VALUE_BYTES
    if isinstance(value, list | dict):
        return False
    return not (isinstance(value, int) and not isinstance(value, bool) and abs(value) > EXACT_INT)


def encoded_length(data: bytes, offset: int = 0) -> int:
    """Length of the encoded value (or key) starting at `offset`."""
    tag = data[offset]
    if tag == TAG_NULL:
        return 1
    if tag == TAG_BOOL:
        return 2
    if tag == TAG_NUMBER:
        return 9
    pos = offset + 1
    while True:
        pos = data.index(b"\x00", pos)
        if data[pos + 1] == 0x01:
            return pos + 2 - offset
        if data[pos + 1] == 0x02:  # a long value: prefix, mark, digest
            return pos + 2 + DIGEST_BYTES - offset
        pos += 2


def encode_key(key: str | int) -> bytes:
    """Encode a primary key exactly (ints sort before strings)."""
    if isinstance(key, int):
        return bytes((TAG_NUMBER,)) + u64(key + 2**63)
    return bytes((TAG_STRING,)) + _escape(key.encode())


def decode_key(data: bytes, offset: int = 0) -> str | int:
    tag = data[offset]
    if tag == TAG_NUMBER:
        return read_u64(data, offset + 1) - 2**63
    end = offset + encoded_length(data, offset) - 2
    return data[offset + 1 : end].replace(b"\x00\xff", b"\x00").decode()
