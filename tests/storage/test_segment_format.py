"""The segment format of docs/format.md, checked byte for byte: header, frames, varints,
rotation."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import driftdb
from driftdb.model.clock import Clock
from driftdb.storage.frame import (
    MAX_FRAME_BYTES,
    decode_body,
    encode_frame,
    segment_header,
)
from driftdb.storage.segment import read_frame_at, scan_bytes
from driftdb.storage.varint import decode_varint, encode_varint
from helpers.bytes_edit import read_bytes, segment_paths
from helpers.depth import examples
from helpers.segment_reader import (
    SEGMENT_HEADER,
    frame_by_hand,
    parse_file,
    varint_by_hand,
    written_part,
)

T0_MS = 1_700_000_000_000


def fixed_clock(db: driftdb.Database, unix_ms: int = T0_MS) -> None:
    db.clock = Clock(source=lambda: unix_ms)


# -- header ---------------------------------------------------------------------------------


def test_segment_header_is_magic_then_version_1_then_reserved_0() -> None:
    assert segment_header() == b"DRIFTSEG\x01\x00\x00\x00\x00\x00\x00\x00"
    assert segment_header() == SEGMENT_HEADER


def test_first_segment_file_starts_with_the_header(db: driftdb.Database, db_path: Path) -> None:
    db.create_table("t").insert({"id": 1})
    [path] = segment_paths(db_path, "t")
    assert path.name == "00000001.seg"
    assert read_bytes(path)[:16] == b"DRIFTSEG\x01\x00\x00\x00\x00\x00\x00\x00"


# -- frames ---------------------------------------------------------------------------------

# {"key": 7, "doc": {"id": 7}} in msgpack, byte by byte: fixmap(2), fixstr(3) "key", fixint 7,
# fixstr(3) "doc", fixmap(1), fixstr(2) "id", fixint 7.
PAYLOAD_KEY_7 = b"\x82" + b"\xa3key" + b"\x07" + b"\xa3doc" + b"\x81" + b"\xa2id" + b"\x07"
# seq 300 = 0b10_0101100: low seven bits 0x2c with the continuation bit (0xac), then 0x02.
BODY_SEQ_300 = b"\xac\x02" + struct.pack("<Q", T0_MS) + b"\x01" + PAYLOAD_KEY_7
FRAME_SEQ_300 = (
    b"\x1a\x00\x00\x00"  # length: 2 (varint) + 8 (unix_ms) + 1 (type) + 15 (payload) = 26
    + struct.pack("<I", zlib.crc32(BODY_SEQ_300))
    + BODY_SEQ_300
)


def test_payload_bytes_written_by_hand_are_what_msgpack_makes() -> None:
    assert msgpack.packb({"key": 7, "doc": {"id": 7}}, use_bin_type=True) == PAYLOAD_KEY_7
    assert len(PAYLOAD_KEY_7) == 15
    assert len(BODY_SEQ_300) == 26


def test_encode_frame_matches_the_hand_computed_frame_for_seq_300() -> None:
    assert encode_frame(300, T0_MS, 1, PAYLOAD_KEY_7) == FRAME_SEQ_300


def test_the_300th_insert_is_written_as_the_hand_computed_frame(
    db: driftdb.Database, db_path: Path
) -> None:
    table = db.create_table("t")
    fixed_clock(db)
    table.insert_many([{"id": 1000 + i} for i in range(299)])
    assert table.insert({"id": 7}) == 300
    data = written_part(read_bytes(segment_paths(db_path, "t")[-1]))  # (zeros follow)
    assert data.endswith(FRAME_SEQ_300)


def test_insert_patch_and_soft_delete_frames_match_the_documented_payloads(
    db: driftdb.Database, db_path: Path
) -> None:
    table = db.create_table("t")
    fixed_clock(db)
    table.insert({"id": "a", "n": 1})
    table.patch("a", {"n": None, "m": [1]})
    table.soft_delete("a", meta={"user": "ann"})
    pack = msgpack.packb
    expected = (
        SEGMENT_HEADER
        + frame_by_hand(1, T0_MS, 1, pack({"key": "a", "doc": {"id": "a", "n": 1}}))
        + frame_by_hand(2, T0_MS, 2, pack({"key": "a", "patch": {"n": None, "m": [1]}}))
        + frame_by_hand(3, T0_MS, 3, pack({"key": "a", "meta": {"user": "ann"}}))
    )
    assert written_part(read_bytes(segment_paths(db_path, "t")[0])) == expected


def test_batch_frames_mark_their_first_seq_and_event_count(
    db: driftdb.Database, db_path: Path
) -> None:
    a = db.create_table("a")
    b = db.create_table("b")
    a.insert({"id": 0})
    with db.batch():
        a.insert({"id": 1})
        b.insert({"id": 1})
        a.insert({"id": 2})
    frames_a = parse_file(segment_paths(db_path, "a")[0])
    frames_b = parse_file(segment_paths(db_path, "b")[0])
    assert [f.seq for f in frames_a] == [1, 2, 4]
    assert [f.seq for f in frames_b] == [3]
    assert "txn" not in frames_a[0].payload
    for frame in [*frames_a[1:], *frames_b]:
        assert frame.payload["txn"]["first"] == 2
        assert frame.payload["txn"]["count"] == 3


def test_sequence_numbers_are_one_counter_across_tables(
    db: driftdb.Database, db_path: Path
) -> None:
    tables = [db.create_table(name) for name in ("a", "b", "c")]
    for i in range(12):
        tables[i % 3].insert({"id": i})
    seqs = sorted(f.seq for name in "abc" for f in parse_file(segment_paths(db_path, name)[0]))
    assert seqs == list(range(1, 13))
    assert db.head() == 12


# -- varints --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, b"\x00"),
        (1, b"\x01"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (300, b"\xac\x02"),
        (16_383, b"\xff\x7f"),
        (16_384, b"\x80\x80\x01"),
        (2**64 - 1, b"\xff" * 9 + b"\x01"),
    ],
)
def test_varint_encodes_as_unsigned_leb128(value: int, encoded: bytes) -> None:
    assert encode_varint(value) == encoded
    assert decode_varint(encoded) == (value, len(encoded))


@settings(max_examples=examples(100), deadline=None)
@given(value=st.integers(min_value=0, max_value=2**64 - 1), prefix=st.binary(max_size=4))
def test_varint_round_trips_at_any_position(value: int, prefix: bytes) -> None:
    encoded = encode_varint(value)
    assert encoded == varint_by_hand(value)
    assert decode_varint(prefix + encoded + b"\xff", len(prefix)) == (
        value,
        len(prefix) + len(encoded),
    )


def test_varint_cut_short_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"^varint runs past the end of the frame$"):
        decode_varint(b"\xac")


def test_varint_longer_than_ten_bytes_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"^varint longer than 10 bytes$"):
        decode_varint(b"\x80" * 11)


def test_negative_varint_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^varint must be non-negative, got -1$"):
        encode_varint(-1)


# -- the frame reader tells each kind of bad frame apart ---------------------------------------


def _with_crc(body: bytes) -> bytes:
    return struct.pack("<II", len(body), zlib.crc32(body)) + body


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (FRAME_SEQ_300[:3], "incomplete frame header (3 of 8 bytes)"),
        (FRAME_SEQ_300[:20], "incomplete frame (12 of 26 body bytes)"),
        (
            struct.pack("<II", MAX_FRAME_BYTES + 1, 0) + BODY_SEQ_300,
            f"frame length {MAX_FRAME_BYTES + 1} exceeds the 67108864-byte bound",
        ),
        (
            struct.pack("<II", 3, zlib.crc32(b"abc")) + b"abc",
            "frame length 3 is shorter than any valid frame",
        ),
        (FRAME_SEQ_300[:-1] + b"\x08", "CRC mismatch"),
        (FRAME_SEQ_300[:4] + b"\x00\x00\x00\x00" + BODY_SEQ_300, "CRC mismatch"),
        (
            _with_crc(b"\xac\x02" + struct.pack("<Q", T0_MS) + b"\x04" + PAYLOAD_KEY_7),
            "unknown event type 4",
        ),
        (
            _with_crc(b"\x80" * 11),
            "malformed frame body (varint longer than 10 bytes)",
        ),
    ],
    ids=[
        "short-prefix",
        "short-body",
        "length-over-bound",
        "length-under-minimum",
        "body-byte-changed",
        "crc-field-changed",
        "unknown-event-type",
        "malformed-varint",
    ],
)
def test_frame_reader_names_why_a_frame_is_bad(data: bytes, reason: str) -> None:
    assert read_frame_at(data, 0) == reason


def test_frame_reader_decodes_a_good_frame() -> None:
    found = read_frame_at(b"junk" + FRAME_SEQ_300, 4)
    assert not isinstance(found, str)
    body, size = found
    assert size == len(FRAME_SEQ_300)
    assert (body.seq, body.unix_ms, body.event_type, body.payload) == (
        300,
        T0_MS,
        1,
        PAYLOAD_KEY_7,
    )
    assert decode_body(BODY_SEQ_300) == body


def test_a_frame_length_over_the_bound_is_never_allocated() -> None:
    # 4 GiB - 1 claimed by a 34-byte buffer: the reader must answer without trying to read it.
    data = struct.pack("<II", 0xFFFF_FFFF, 0) + BODY_SEQ_300
    result = scan_bytes(data, "x.seg", 1, 0)
    assert result.frames == []
    assert result.problem is not None
    assert result.problem.reason == "frame length 4294967295 exceeds the 67108864-byte bound"


# -- rotation ---------------------------------------------------------------------------------


def test_segments_rotate_by_size_and_every_row_stays_readable(db_path: Path) -> None:
    with driftdb.open(db_path, create=True) as db:
        table = db.create_table("t", options={"segment_size_bytes": 4096})
        for i in range(300):
            table.insert({"id": i, "pad": "x" * 20})
    paths = segment_paths(db_path, "t")
    assert [p.name for p in paths[:3]] == ["00000001.seg", "00000002.seg", "00000003.seg"]
    assert len(paths) >= 3
    seqs: list[int] = []
    for i, path in enumerate(paths):
        data = read_bytes(path)
        assert data[:16] == SEGMENT_HEADER
        frames = parse_file(path)
        seqs += [f.seq for f in frames]
        if i < len(paths) - 1:
            # Sealed: it reached the size, and was still under it before its last frame.
            assert len(data) >= 4096
            assert frames[-1].offset < 4096
    assert seqs == list(range(1, 301))
    with driftdb.open(db_path) as db:
        table = db.table("t")
        assert table.count() == 300
        assert table.get(0) == {"id": 0, "pad": "x" * 20}
        assert table.get(299) == {"id": 299, "pad": "x" * 20}
        assert sorted(r["id"] for r in table.select()) == list(range(300))
        assert table.get(150, as_of=150) is None
        assert table.get(150, as_of=151) == {"id": 150, "pad": "x" * 20}
        before = len(segment_paths(db_path, "t"))
        table.insert({"id": 300})
    # Writing after a reopen continues the last segment (or starts the next one if full).
    after = segment_paths(db_path, "t")
    assert len(after) in (before, before + 1)
    assert parse_file(after[-1])[-1].seq == 301
