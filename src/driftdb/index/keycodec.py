"""Order-preserving, prefix-free byte encodings of keys and values for LMDB.

One total order across types, the same one ORDER BY uses (`query.evaluate.sort_key`; the
format is specified in docs/format.md, "Index value encoding"):
null < false < true < numbers < strings < lists < objects.
- Numbers compare exactly, ints and floats together, as Python compares them: the nearest
  double, then how far an integer lies from it (so 2**53 + 1 sorts after 2**53).
- Strings by UTF-8 bytes (code point order).
- Lists element by element, a list before its own extensions ([] < [1] < [1, 2] < [2]); objects
  the same way, as their (key, value) items sorted by key.
Every encoding is prefix-free (strings and composites are escaped and terminated), so
`value + suffix` keys never collide.
"""

from __future__ import annotations

import math
import struct
from typing import Any

TAG_NULL, TAG_BOOL, TAG_NUMBER, TAG_STRING, TAG_LIST, TAG_OBJECT = 1, 2, 3, 4, 5, 6
_TERMINATOR = b"\x00\x01"
_LONG_MARK = b"\x00\x02"  # sorts after the terminator: a long value after its exact prefix
LONG_VALUE_BYTES = 100
DIGEST_BYTES = 16
_DOUBLE = struct.Struct(">d")
_U64 = struct.Struct(">Q")
_INT_KEY = struct.Struct(">BQ")  # an integer primary key: its tag, then u64(key + 2**63)
MAX_U64 = 2**64 - 1
EXACT_INT = 2**64  # every int a document can hold (msgpack's range) is encoded exactly
_MAX_DELTA = 0xFFFF
_DELTA = struct.Struct(">H")


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


def _number(value: int | float) -> bytes:
    """The nearest double, then a marker and how far an int lies from it: 0x80 alone when it
    is exact (every float, every int up to 2**53), 0x81 + u16 above, 0x7f + u16 below."""
    try:
        nearest = float(value)
    except OverflowError:  # an int beyond every double (only ever a query bound)
        nearest = math.inf if value > 0 else -math.inf
    if isinstance(value, float) or value == nearest:
        return _double(nearest) + b"\x80"
    delta = value - int(nearest) if not math.isinf(nearest) else (-1 if value > 0 else 1)
    if delta > 0:
        return _double(nearest) + b"\x81" + _DELTA.pack(min(delta, _MAX_DELTA))
    return _double(nearest) + b"\x7f" + _DELTA.pack(_MAX_DELTA + 1 - min(-delta, _MAX_DELTA))


def _raw(value: Any) -> bytes:
    """The unbounded encoding of a value (used whole inside lists and objects)."""
    if value is None:
        return bytes((TAG_NULL,))
    if value is True or value is False:
        return bytes((TAG_BOOL, 1 if value else 0))
    if isinstance(value, int | float):
        return bytes((TAG_NUMBER,)) + _number(value)
    return bytes((_tag(value),)) + _escape(_body(value))


def _tag(value: Any) -> int:
    if isinstance(value, str):
        return TAG_STRING
    return TAG_LIST if isinstance(value, list | tuple) else TAG_OBJECT


def _body(value: Any) -> bytes:
    """What a string, list or object is escaped from: its UTF-8 bytes, or its parts' encodings
    in order (objects: key, value, key, value, ... sorted by key)."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    if isinstance(value, list | tuple):
        return b"".join(_raw(item) for item in value)
    return b"".join(_raw(str(k)) + _raw(v) for k, v in sorted(value.items()))


# Encodings of short strings already seen: an indexed column repeats a few values (a status,
# a customer), and every write encodes its row's old and new value of each indexed column.
# Exact `str` only (a subclass may compare differently); bounded, then started afresh.
_SHORT_STRINGS: dict[str, bytes] = {}
_SHORT_STRING_CHARS = 64
_SHORT_STRINGS_KEPT = 65536


def encode_value(value: Any) -> bytes:
    """Encode an indexed value. Strings, lists and objects longer than LONG_VALUE_BYTES are cut
    to a prefix plus a digest (see `_escape_bounded` and `is_exact`)."""
    if type(value) is str and len(value) <= _SHORT_STRING_CHARS:
        found = _SHORT_STRINGS.get(value)
        if found is None:
            found = bytes((TAG_STRING,)) + _escape_bounded(_body(value))
            if len(_SHORT_STRINGS) >= _SHORT_STRINGS_KEPT:
                _SHORT_STRINGS.clear()
            _SHORT_STRINGS[value] = found
        return found
    if value is None or isinstance(value, bool | int | float):
        return _raw(value)
    return bytes((_tag(value),)) + _escape_bounded(_body(value))


def _escape_bounded(raw: bytes) -> bytes:
    """Escape a value, cutting a long one to a prefix plus a digest: LMDB keys are at most
    511 bytes. Long values keep their order by prefix and their identity by digest, and are
    not `is_exact` (so what the index finds for them is re-checked against the row)."""
    if len(raw) <= LONG_VALUE_BYTES:
        return _escape(raw)
    import hashlib  # imported when used: only long values need it

    digest = hashlib.blake2b(raw, digest_size=DIGEST_BYTES).digest()
    return raw[:LONG_VALUE_BYTES].replace(b"\x00", b"\x00\xff") + _LONG_MARK + digest


def is_exact(value: Any) -> bool:
    """Whether equal encodings imply equal values (false for long values and for ints beyond
    any document's range), so a match found in an index needs no re-check against the row."""
    if isinstance(value, str | list | tuple | dict):
        return len(_body(value)) <= LONG_VALUE_BYTES
    return not (isinstance(value, int) and not isinstance(value, bool) and abs(value) > EXACT_INT)


def decode_value(encoded: bytes) -> tuple[bool, Any]:
    """(True, value) for the encoding of a null, a boolean, an exactly encoded number or a
    short string; (False, None) for anything the encoding does not keep whole (long values,
    far-off integers) or does not decode here (lists, objects). A number comes back as an int
    when it is integral and within 2**53, else as a float: the encoding keeps 1 and 1.0 as one
    value, as `=` does."""
    tag = encoded[0]
    if tag == TAG_NULL:
        return True, None
    if tag == TAG_BOOL:
        return True, encoded[1] == 1
    if tag == TAG_NUMBER:
        if len(encoded) != 10 or encoded[9] != 0x80:
            return False, None
        bits = bytearray(encoded[1:9])
        if bits[0] & 0x80:
            bits[0] &= 0x7F
        else:
            bits = bytearray(b ^ 0xFF for b in bits)
        number = float(_DOUBLE.unpack(bytes(bits))[0])
        if number.is_integer() and abs(number) <= 2**53:
            return True, int(number)
        return True, number
    if tag == TAG_STRING and not is_long(encoded) and encoded.endswith(_TERMINATOR):
        body = encoded[1 : -len(_TERMINATOR)].replace(b"\x00\xff", b"\x00")
        return True, body.decode("utf-8", "surrogatepass")
    return False, None


def is_long(encoded: bytes) -> bool:
    """Whether an encoded value was cut to a prefix plus a digest."""
    return encoded[-DIGEST_BYTES - 2 : -DIGEST_BYTES] == _LONG_MARK if len(encoded) > 2 else False


def long_range(encoded: bytes) -> tuple[bytes, bytes]:
    """The first and last encodings of all long values sharing this long value's prefix: their
    order among themselves is the digests', so a range bound on one of them must take them all
    (and let the re-check against the row decide)."""
    start = encoded[:-DIGEST_BYTES]
    return start, start + b"\xff" * DIGEST_BYTES


def encoded_length(data: bytes, offset: int = 0) -> int:
    """Length of the encoded value (or key) starting at `offset`."""
    tag = data[offset]
    if tag == TAG_NULL:
        return 1
    if tag == TAG_BOOL:
        return 2
    if tag == TAG_NUMBER:
        return 10 if data[offset + 9] == 0x80 else 12
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
        return _INT_KEY.pack(TAG_NUMBER, key + 2**63)
    return bytes((TAG_STRING,)) + _escape(key.encode())


def decode_key(data: bytes, offset: int = 0) -> str | int:
    tag = data[offset]
    if tag == TAG_NUMBER:
        return read_u64(data, offset + 1) - 2**63
    end = offset + encoded_length(data, offset) - 2
    return data[offset + 1 : end].replace(b"\x00\xff", b"\x00").decode()
