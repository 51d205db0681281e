"""Work bounded by the size of the input: the search for the next good frame after damage is
linear in the segment's size (or gives up, saying how far it looked, and refuses rather than
truncates); IN is a set lookup; statements have a documented size limit."""

from __future__ import annotations

import time
from pathlib import Path

from security_support import make_db, run_cli, segment

from driftdb.storage.frame import HEADER_SIZE, MAX_FRAME_BYTES, encode_frame, segment_header
from driftdb.storage.segment import find_next_good_frame, scan_bytes


def test_a_segment_of_0x01_bytes_is_read_only_selected_in_seconds(tmp_path: Path) -> None:
    path = make_db(tmp_path / "db")
    # Every length field reads 0x01010101 (16.8 MB): the first few thousand offsets all claim
    # a body that fits in what follows, and each used to cost a CRC over 16 MB.
    with open(segment(path), "ab") as handle:
        handle.write(b"\x01" * (0x01010101 + 8 + 3000))
    ran = run_cli("select", "-d", str(path), "--table", "t", timeout_s=20)
    assert ran.code in (0, 1), ran
    assert "Traceback" not in ran.err, ran
    assert ran.seconds < 10, ran.seconds


def test_the_search_for_the_next_frame_stays_linear_when_every_offset_looks_like_one() -> None:
    # \x01\x80 repeated: an event type followed by a msgpack map marker at every other byte,
    # with length fields that fit: the worst case for any cheap filter.
    data = segment_header() + b"\x00" * 8 + (b"\x01\x80" * (2 * 1024 * 1024))
    began = time.monotonic()
    result = scan_bytes(data, "seg", 1, HEADER_SIZE, base=0)
    seconds = time.monotonic() - began
    assert seconds < 10, seconds
    assert result.problem is not None


def test_a_search_that_gives_up_refuses_instead_of_calling_the_damage_a_torn_tail() -> None:
    good = encode_frame(1, 1, 3, b"\x81\xa3key\x01")
    data = segment_header() + good + b"\x01\x80" * (8 * 1024 * 1024) + encode_frame(
        2, 1, 3, b"\x81\xa3key\x02"
    )
    result = scan_bytes(data, "seg", 1, HEADER_SIZE, base=0)
    assert result.problem is not None
    if result.problem.next_good_offset is None:  # the budget ran out before the good frame
        assert not result.problem.torn
        assert "looked at" in result.problem.reason, result.problem.reason


def test_the_next_good_frame_is_still_found_after_frame_like_noise() -> None:
    good = encode_frame(1, 1, 3, b"\x81\xa3key\x01")
    later = encode_frame(2, 1, 3, b"\x81\xa3key\x02")
    noise = b"\x05\x00\x00\x00" + b"\x01\x80" * 5000
    data = segment_header() + good + noise + later
    found = find_next_good_frame(data, HEADER_SIZE + len(good), 1)
    assert found.offset == HEADER_SIZE + len(good) + len(noise)
    assert MAX_FRAME_BYTES  # the bound the search never allocates past
