"""Fuzz targets: the DriftQL parser and the segment frame decoder on random input.

Bounded for `make test` (200 examples each); $DRIFTDB_FUZZ_EXAMPLES runs longer.
"""

from __future__ import annotations

import contextlib
import os
import struct
import zlib

from crash_support import record_figures
from hypothesis import given, settings
from hypothesis import strategies as st

import driftdb
from driftdb.query import parse, parse_expression, parse_timepoint
from driftdb.storage.frame import HEADER_SIZE, encode_frame, segment_header
from driftdb.storage.segment import FrameRecord, ScanResult, read_frame_at, scan_bytes

EXAMPLES = int(os.environ.get("DRIFTDB_FUZZ_EXAMPLES", "200"))
COUNTS = {"parser": 0, "decoder": 0}

DRIFTQL_ALPHABET = st.sampled_from(
    [
        *"SELECTFROMWHEREINSRTOPAHKYDLUVNX*(),;{}[]:=<>!?@'\"-.0123456789 \n\t_\\/eE+",
        *["AS OF ", "@seq:", "SOFT DELETE ", "KEY ", "SET ", "NULL", "\x00", "\u00e9"],
        "\U0001f600",
    ]
)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(st.one_of(st.text(), st.lists(DRIFTQL_ALPHABET, max_size=60).map("".join)))
def test_the_parser_raises_only_drift_errors_on_any_text(text: str) -> None:
    COUNTS["parser"] += 1
    for attempt in (
        lambda: parse(text),
        lambda: parse_expression(text),
        lambda: parse_timepoint(text),
    ):
        with contextlib.suppress(driftdb.DriftError):
            attempt()


def frames(seq: int, payload: bytes) -> bytes:
    return encode_frame(seq, 1_700_000_000_000 + seq, 1 + seq % 3, payload)


@st.composite
def damaged_segments(draw: st.DrawFn) -> bytes:
    """A segment of valid frames (payloads valid msgpack or not), then damaged: flipped
    bytes, a cut, an inserted run, or a length field rewritten."""
    data = bytearray(segment_header())
    for seq in range(1, draw(st.integers(0, 6)) + 1):
        data += frames(seq, draw(st.binary(max_size=40)))
    for _ in range(draw(st.integers(0, 4))):
        if len(data) <= HEADER_SIZE:
            break
        at = draw(st.integers(HEADER_SIZE, len(data) - 1))
        how = draw(st.sampled_from(["flip", "cut", "insert", "length"]))
        if how == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif how == "cut":
            del data[at:]
        elif how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif at + 4 <= len(data):
            struct.pack_into(
                "<I",
                data,
                at,
                draw(
                    st.sampled_from([0, 1, 10, 0xFFFFFFFF, 64 * 1024 * 1024, 64 * 1024 * 1024 + 1])
                ),
            )
    return bytes(data)


def check_scan(data: bytes) -> None:
    COUNTS["decoder"] += 1
    result = scan_bytes(data[HEADER_SIZE:], "x.seg", 1, HEADER_SIZE, base=HEADER_SIZE)
    assert isinstance(result, ScanResult)
    last = -1
    for record in result.frames:
        assert isinstance(record, FrameRecord)
        assert record.body.seq > last
        last = record.body.seq
        body = data[record.offset + 8 : record.offset + record.size]
        assert zlib.crc32(body) == struct.unpack_from("<I", data, record.offset + 4)[0]
    if result.problem is not None:
        assert result.problem.reason and HEADER_SIZE <= result.problem.offset <= len(data)
    for offset in range(0, min(len(data), 64)):
        found = read_frame_at(data, offset)
        assert isinstance(found, str) or (isinstance(found, tuple) and found[1] >= 8)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(st.binary(max_size=300))
def test_the_frame_decoder_never_raises_on_random_bytes(data: bytes) -> None:
    check_scan(segment_header() + data)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(damaged_segments())
def test_the_frame_decoder_returns_frames_or_a_problem_for_damaged_segments(data: bytes) -> None:
    check_scan(data)


def test_fuzz_figures() -> None:
    """(Writes the counts of the fuzz tests above to the figures file.)"""
    record_figures("badinput", "fuzz-parser", tried=COUNTS["parser"], handled=COUNTS["parser"])
    record_figures(
        "badinput", "fuzz-frame-decoder", tried=COUNTS["decoder"], handled=COUNTS["decoder"]
    )
