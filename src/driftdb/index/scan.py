"""Every key's newest version at a seq, from one pass over the key directory (a full-table read).

The key directory holds a full row image per version (index/store.py), so a full-table read AS
OF S is one pass over it: for each key, the last entry with seq <= S; a key whose entry there
is a delete (a bare version head) has no row. The pass reads every entry, so its cost per entry
is what matters. Here each step takes a slice of entries and works on it with C-level passes
(map, compress, one CRC-32 and one msgpack call per slice) instead of Python statements per
entry. The keys and the values come from two cursors walking the directory in step, so no
(key, value) tuple is made per entry. Choosing the newest version <= S needs no dict: among
the entries <= S (in key order), an entry is its key's newest exactly when the next one has
another key. Measured at 1M events, every row AS OF T_mid (645k rows of 1M entries), CPU in
one run: 1,443 ms before (a tuple per entry, a dict of the newest, two CRC calls per entry),
1,242 ms after, SQLite FULL 1,321 ms.

Slices are small (at most SLICE entries): their entries stay in the CPU caches between the
passes (4,096 was slower), and a read that stops early (LIMIT) starts smaller still and
doubles, so it decodes few rows it drops.

Checksums: every entry's, in the slice's pass, whether or not its row is returned (an entry
with a damaged key could otherwise hide the version that should answer). An entry is sealed
as value + CRC-32(key + value) (index/store.py, "Checksums"), so the CRC-32 of key + sealed
value is RESIDUE when its checksum matches. `all_sealed` runs one CRC-32 over the slice's
entries, each followed by RESET, four bytes that take the register from the residue back to
its initial state: the run ends at 0 when every entry is sealed. CRC-32 is linear, so a
damaged entry leaves a non-zero difference in the register that every later step only
multiplies by a power of x modulo the (odd) polynomial, which never makes it zero: with one
damaged entry in a slice, the slice fails exactly when that entry's own check would. Two or
more damaged entries pass only if their differences cancel exactly (a 2^-32 chance for random
damage, CRC-32's own odds for one entry). A failed slice is checked entry by entry, and the
first bad entry is named (tests/index/test_scan_checksums.py).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from itertools import compress, islice
from operator import add, and_, itemgetter, ne
from typing import Any

import msgpack

from driftdb.index.keycodec import MAX_U64, u64

SLICE = 512
FIRST_SLICE = 16  # doubling up to SLICE: a read that stops after a few rows (LIMIT) decodes few
# CRC-32 (zlib) of any message followed by its own CRC-32, little-endian (the "residue").
RESIDUE = 0x2144DF1C
CHECKSUM_BYTES = 4
# Four bytes that take the CRC-32 register from the residue back to its initial state:
# zlib.crc32(RESET, RESIDUE) == 0 (tests/index/test_scan_checksums.py derives them).
RESET = bytes.fromhex("81d59d4c")

_PK = itemgetter(slice(None, -8))  # a key directory key is enc(pk) + u64(seq)
_SEQ = itemgetter(slice(-8, None))

Damaged = Callable[[list[bytes], list[bytes]], None]


def all_sealed(keys: list[bytes], stored: list[bytes]) -> bool:
    """Whether every entry's checksum matches, in one CRC-32 run (see the module docstring;
    False: the caller finds and names the bad one)."""
    crc32 = zlib.crc32
    return crc32(RESET, crc32(RESET.join(map(add, keys, stored)))) == 0


def newest_at(
    keys: Iterator[bytes],
    values: Iterator[bytes],
    seq: int,
    head: int,
    damaged: Damaged,
) -> Iterator[tuple[list[bytes], list[bytes]]]:
    """Slices of the key directory's answer at `seq`, in key order, as (keys, stored values):
    for each key whose newest version <= seq has a row (a value longer than `head` +
    checksum), that entry. `keys` and `values` walk the directory in key order in step (two
    cursors of one transaction); `damaged(keys, values)` is called on a slice with an entry
    that fails its checksum or is shorter than a version head, and must raise, naming it."""
    # (A point past every u64 is now; before 0, nothing: b"" sorts before every seq.)
    bound = u64(min(seq, MAX_U64)) if seq >= 0 else b""
    live = head + CHECKSUM_BYTES
    held_key: list[bytes] = []  # the last entry <= seq of the previous slice: its key's
    held_value: list[bytes] = []  # versions may go on in the next one
    size = min(FIRST_SLICE, SLICE)
    while batch := list(islice(keys, size)):
        stored = list(islice(values, size))
        size = min(size * 2, SLICE)
        lengths = list(map(len, stored))
        if len(stored) != len(batch) or min(lengths) < live or not all_sealed(batch, stored):
            damaged(batch, stored)
        wanted = list(map(bound.__ge__, map(_SEQ, batch)))
        at_or_before = held_key + list(compress(batch, wanted))
        if not at_or_before:
            continue
        images = held_value + list(compress(stored, wanted))
        sizes = list(map(len, held_value)) + list(compress(lengths, wanted))
        held_key, held_value = at_or_before[-1:], images[-1:]
        pks = list(map(_PK, at_or_before))
        # An entry is its key's newest <= seq when the next one <= seq has another key (the
        # last waits for the next slice); a bare version head is a delete: no row.
        newest: Any = map(ne, pks, pks[1:])
        if min(sizes) <= live:
            newest = map(and_, newest, map(live.__lt__, sizes))
        mask = list(newest)
        yield list(compress(at_or_before, mask)), list(compress(images, mask))
    if held_value and len(held_value[0]) > live:
        yield held_key, held_value


def decode_rows(stored: list[bytes], head: int) -> list[dict[str, Any]] | None:
    """The rows of checked entries (msgpack after a `head`-byte version head), in one msgpack
    call; None if they do not decode (the caller then decodes them one by one to name the
    entry). One call over the joined images is exact because each image passed its checksum,
    so it is the one msgpack object the writer packed."""
    if not stored:
        return []
    row_of = itemgetter(slice(head, -CHECKSUM_BYTES))
    joined = msgpack.Packer().pack_array_header(len(stored)) + b"".join(map(row_of, stored))
    try:
        rows: list[dict[str, Any]] = msgpack.unpackb(joined, raw=False, strict_map_key=False)
    except (ValueError, TypeError):  # UnicodeDecodeError, ExtraData, FormatError...
        return None
    return rows
