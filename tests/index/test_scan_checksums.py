"""The full-table read checks every entry's checksum with one CRC-32 run per slice
(index/scan.py, `all_sealed`): each entry (key + sealed value) is followed by RESET, four bytes
that take the CRC register from the residue back to its initial state, so the run ends at 0
when every entry is sealed. These tests derive RESET from the CRC itself, and check that a
damaged entry anywhere in a slice (a flipped bit, a cut or grown value, a changed key) fails
the slice, as the entry's own check would, and that the reader then names that entry."""

from __future__ import annotations

import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftdb.index import scan
from driftdb.index.store import EntryDamaged, _name_damage, _seal
from helpers.depth import examples


def _reset_bytes() -> bytes:
    """The four bytes B with crc32(B, RESIDUE) == 0, by solving the GF(2) linear system
    (crc32 of four bytes from a fixed start is affine in their 32 bits)."""
    base = zlib.crc32(bytes(4), scan.RESIDUE)
    basis: dict[int, tuple[int, int]] = {}
    for bit in range(32):
        image = zlib.crc32((1 << bit).to_bytes(4, "little"), scan.RESIDUE) ^ base
        mask = 1 << bit
        for top in range(31, -1, -1):
            if not image >> top & 1:
                continue
            if top in basis:
                image, mask = image ^ basis[top][0], mask ^ basis[top][1]
            else:
                basis[top] = (image, mask)
                break
    target, chosen = base, 0
    for top in range(31, -1, -1):
        if target >> top & 1:
            target, chosen = target ^ basis[top][0], chosen ^ basis[top][1]
    assert target == 0
    return chosen.to_bytes(4, "little")


def test_reset_takes_the_residue_back_to_the_initial_state() -> None:
    assert _reset_bytes() == scan.RESET
    assert zlib.crc32(scan.RESET, scan.RESIDUE) == 0
    key, value = b"k", b"some value"
    sealed = _seal(key, value)
    assert zlib.crc32(key + sealed) == scan.RESIDUE  # what an entry's own check compares


entry = st.tuples(st.binary(min_size=1, max_size=12), st.binary(max_size=40))


def _sealed(entries: list[tuple[bytes, bytes]]) -> tuple[list[bytes], list[bytes]]:
    return [k for k, _ in entries], [_seal(k, v) for k, v in entries]


@settings(max_examples=examples(300), deadline=None)
@given(entries=st.lists(entry, min_size=1, max_size=8), data=st.data())
def test_one_damaged_entry_fails_its_slice_wherever_it_is(
    entries: list[tuple[bytes, bytes]], data: Any
) -> None:
    keys, stored = _sealed(entries)
    assert scan.all_sealed(keys, stored)
    at = data.draw(st.integers(0, len(keys) - 1))
    damage = data.draw(st.sampled_from(["flip value", "flip key", "cut", "grow"]))
    if damage == "flip value" or damage == "flip key":
        target = stored[at] if damage == "flip value" else keys[at]
        bit = data.draw(st.integers(0, len(target) * 8 - 1))
        flipped = bytearray(target)
        flipped[bit // 8] ^= 1 << bit % 8
        if damage == "flip value":
            stored[at] = bytes(flipped)
        else:
            keys[at] = bytes(flipped)
    elif damage == "cut":
        stored[at] = stored[at][: data.draw(st.integers(0, len(stored[at]) - 1))]
    else:
        stored[at] = stored[at] + data.draw(st.binary(min_size=1, max_size=4))
    own_check_fails = zlib.crc32(keys[at] + stored[at]) != scan.RESIDUE
    assert scan.all_sealed(keys, stored) is not own_check_fails


def test_the_reader_names_the_damaged_entry_of_a_slice() -> None:
    head = b"\x01" + bytes(20)  # a version head: type, unix_ms, segment, offset
    keys = [b"\x03" + bytes(8) + bytes(7) + bytes([n]) for n in range(3)]
    stored = [_seal(k, head + b"\x80") for k in keys]
    assert scan.all_sealed(keys, stored)
    stored[1] = stored[1][:-1] + bytes([stored[1][-1] ^ 0x10])
    assert not scan.all_sealed(keys, stored)
    with pytest.raises(EntryDamaged) as caught:
        _name_damage(keys, stored)
    assert caught.value.key == keys[1]
    with pytest.raises(EntryDamaged, match="has no value in the read"):
        _name_damage(keys, stored[:2])


def test_a_key_without_a_value_is_damage() -> None:
    """The keys and the values come from two cursors walking in step: if they ever disagree
    in length, the slice is damaged (never a silent zip of unequal lists)."""
    head = 21
    keys = [b"\x03" + bytes(8) + bytes(8)]
    stored = [_seal(keys[0], bytes(head) + b"\x80")]
    calls: list[tuple[list[bytes], list[bytes]]] = []

    def damaged(k: list[bytes], v: list[bytes]) -> None:
        calls.append((k, v))
        raise EntryDamaged("keys", k[-1], "has no value")

    with pytest.raises(EntryDamaged):
        list(scan.newest_at(iter(keys + keys), iter(stored), 10, head, damaged))
    assert calls
