"""The zeros a writer keeps after its last frame (docs/format.md, "Segments"): unwritten
space, never a frame. Readers stop there, the writer trims them when it lets go of a segment
and on open after a crash (quietly), a torn frame before them is still a torn tail, and bytes
after them, or a valid frame after them, are still corruption."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import driftdb
from driftdb import doctor
from driftdb.model.events import Event, EventType, pack_payload
from driftdb.storage import fs
from driftdb.storage.appender import ZERO_GUARD_BYTES
from driftdb.storage.frame import HEADER_SIZE, encode_frame, segment_header
from driftdb.storage.segment import ZERO_PROOF_BYTES, scan_bytes, scan_segment
from helpers.bytes_edit import last_segment, read_bytes, segment_paths, write_bytes
from helpers.checks import no_drift_warnings, open_recording_warnings
from helpers.depth import examples
from helpers.gap_support_b import abandon
from helpers.segment_reader import parse_segment, written_part


def frame(seq: int, pad: str = "") -> bytes:
    event = Event(seq, 1000 + seq, EventType.INSERT, seq, {"id": seq, "pad": pad})
    return encode_frame(seq, 1000 + seq, int(EventType.INSERT), pack_payload(event))


def log(*frames: bytes) -> bytes:
    return segment_header() + b"".join(frames)


def scan(data: bytes) -> tuple[int, bool, bool | None, int]:
    """(frames read, zero tail, problem torn or None, where reading stopped)."""
    result = scan_bytes(data, "seg", 1, HEADER_SIZE)
    torn = None if result.problem is None else result.problem.torn
    return len(result.frames), result.zero_tail, torn, result.end_offset


# -- the format rules, on bytes ------------------------------------------------------------


@pytest.mark.parametrize("zeros", [1, 3, 4, 7, 8, 100, 511, 512, 5000])
def test_a_run_of_zeros_to_the_end_after_the_last_frame_is_the_end(zeros: int) -> None:
    body = log(frame(1), frame(2))
    assert scan(body + bytes(zeros)) == (2, True, None, len(body))


def test_a_torn_frame_followed_by_zeros_is_a_torn_tail() -> None:
    body = log(frame(1), frame(2))
    torn = frame(3, "t" * 300)[:150]
    assert scan(body + torn + bytes(5000)) == (2, False, True, len(body))


def test_a_frame_whose_tail_is_still_zeros_is_a_torn_tail() -> None:
    body = log(frame(1))
    whole = frame(2, "t" * 300)
    half = whole[:100] + bytes(len(whole) - 100)
    assert scan(body + half + bytes(5000)) == (1, False, True, len(body))


def test_bytes_after_a_zero_run_at_the_end_of_a_file_are_corruption() -> None:
    body = log(frame(1), frame(2))
    assert scan(body + bytes(100) + b"garbage") == (2, False, False, len(body))


def test_a_valid_frame_after_a_zero_run_is_corruption() -> None:
    body = log(frame(1), frame(2))
    result = scan_bytes(body + bytes(100) + frame(3), "seg", 1, HEADER_SIZE)
    assert result.problem is not None and not result.problem.torn
    assert result.problem.next_good_offset == len(body) + 100


def test_a_damaged_frame_with_good_frames_after_it_is_still_corruption() -> None:
    data = bytearray(log(frame(1), frame(2, "x" * 50), frame(3), frame(4)))
    data[HEADER_SIZE + len(frame(1)) + 30] ^= 0xFF  # inside frame 2's body
    assert scan(bytes(data))[2] is False


def test_an_unsynced_overwrite_kept_out_of_order_before_the_zeros_is_a_torn_tail() -> None:
    """A power cut keeps the sectors of an unsynced write in any order: frame 2's first
    sector never reached the disk (zeros), frames 3 and 4 did. Nothing after frame 1 was
    acknowledged (the sync that acknowledges frame 3 makes frame 2 durable too)."""
    head = log(frame(1))
    window = frame(2, "x" * 600) + frame(3) + frame(4)
    data = bytearray(head + window + bytes(ZERO_GUARD_BYTES))
    data[len(head) : len(head) + 512 - len(head) % 512] = bytes(512 - len(head) % 512)
    reads, zero_tail, torn, end = scan(bytes(data))
    assert (reads, zero_tail, torn, end) == (1, False, True, len(head))


def test_a_reader_window_judges_every_tail_as_a_full_read_does(tmp_path: Path) -> None:
    directory = tmp_path / "segments"
    directory.mkdir()
    path = directory / "00000001.seg"
    good = log(*(frame(i, "p" * (i % 7) * 40) for i in range(1, 60)))
    cases = {
        "zeros": good + bytes(3 * ZERO_PROOF_BYTES),
        "few-zeros": good + bytes(10),
        "no-zeros": good,
        "torn-then-zeros": good + frame(60)[:20] + bytes(2 * ZERO_PROOF_BYTES),
        "garbage-after-zeros": good + bytes(1000) + b"junk",
        "frame-after-zeros": good + bytes(1000) + frame(60),
        "big-frames": log(*(frame(i, "b" * 70_000) for i in range(1, 5))) + bytes(5000),
    }
    for name, data in cases.items():
        path.write_bytes(data)
        for start in (HEADER_SIZE, len(good) - 20, len(good)):
            full = scan_segment(str(directory), 1, start)
            window = scan_segment(str(directory), 1, start, proof=ZERO_PROOF_BYTES)
            assert (
                [f.offset for f in window.frames],
                window.end_offset,
                window.zero_tail,
                window.problem,
            ) == (
                [f.offset for f in full.frames],
                full.end_offset,
                full.zero_tail,
                full.problem,
            ), (name, start)


# -- the writer ----------------------------------------------------------------------------


def rows(db: driftdb.Database) -> list[int]:
    return sorted(r["id"] for r in db.table("t").select())


def write_rows(db_path: Path, count: int) -> driftdb.Database:
    """A writer (left open) that inserted rows 0..count-1 one commit each."""
    db = driftdb.open(db_path, create=True)
    table = db.create_table("t", indexes=["tag"])
    for i in range(count):
        table.insert({"id": i, "tag": f"t{i % 3}"})
    return db


def test_the_writer_keeps_zeros_after_its_frames_and_trims_them_on_close(db_path: Path) -> None:
    db = write_rows(db_path, 5)
    segment = last_segment(db_path, "t")
    data = read_bytes(segment)
    end = len(written_part(data))
    assert len(data) - end >= ZERO_GUARD_BYTES
    db.close()
    assert os.path.getsize(segment) == end
    assert len(parse_segment(read_bytes(segment))) == 5


def test_rotation_trims_the_sealed_segment(db_path: Path) -> None:
    with driftdb.open(db_path, create=True) as db:
        table = db.create_table("t", options={"segment_size_bytes": 4096})
        for i in range(200):
            table.insert({"id": i, "pad": "x" * 50})
        segments = sorted((db_path / "tables/t/segments").glob("*.seg"))
        assert len(segments) > 2
        for sealed in segments[:-1]:
            data = read_bytes(sealed)
            assert len(written_part(data)) == len(data), sealed
        assert rows(db) == list(range(200))


def test_a_crash_with_zeros_after_the_frames_reopens_quietly_and_trims(db_path: Path) -> None:
    db = write_rows(db_path, 7)
    abandon(db)  # no close: the zeros stay
    segment = last_segment(db_path, "t")
    end = len(written_part(read_bytes(segment)))
    assert os.path.getsize(segment) > end
    with no_drift_warnings(), driftdb.open(db_path) as db:
        assert rows(db) == list(range(7))
        assert os.path.getsize(segment) == end
        db.table("t").insert({"id": 7, "tag": "t1"})
    with driftdb.open(db_path, readonly=True) as reader:
        assert rows(reader) == list(range(8))


def test_a_torn_frame_before_the_zeros_is_truncated_and_reported(db_path: Path) -> None:
    db = write_rows(db_path, 4)
    abandon(db)
    segment = last_segment(db_path, "t")
    data = bytearray(read_bytes(segment))
    end = len(written_part(bytes(data)))
    torn = frame(99, "z" * 200)
    data[end : end + 60] = torn[:60]  # the power went while it overwrote the zeros
    write_bytes(segment, bytes(data))
    db, notes = open_recording_warnings(db_path)
    with db:
        assert rows(db) == list(range(4))
        assert any(
            f"truncated {len(data) - end} bytes at offset {end}: a torn final frame" in n
            for n in notes
        ), notes
        assert os.path.getsize(segment) == end


def test_bytes_after_the_zeros_refuse_the_open_and_change_nothing(db_path: Path) -> None:
    db = write_rows(db_path, 4)
    abandon(db)
    segment = last_segment(db_path, "t")
    data = read_bytes(segment)
    end = len(written_part(data))
    write_bytes(segment, data + b"not zeros")
    with pytest.raises(driftdb.CorruptionError) as info:
        driftdb.open(db_path)
    assert f"offset {end}" in str(info.value)
    assert read_bytes(segment) == data + b"not zeros"
    report = doctor.check(db_path)
    assert not report.ok


def test_doctor_finds_nothing_wrong_with_a_crashed_writers_zeros(db_path: Path) -> None:
    db = write_rows(db_path, 6)
    abandon(db)
    report = doctor.check(db_path, full=True)
    assert report.ok, report.render()
    assert not [f for f in report.findings if "torn" in f.message], report.render()


def test_a_reader_process_reads_the_frames_before_the_zeros(db_path: Path) -> None:
    db = write_rows(db_path, 40)
    try:
        with driftdb.open(db_path, readonly=True) as reader:
            assert rows(reader) == list(range(40))
            assert reader.table("t").count(where={"tag": "t1"}) == 13
            db.table("t").insert({"id": 40, "tag": "t1"})
            assert rows(reader) == list(range(41))
    finally:
        db.close()


class NoSpaceForZeros(fs.FileLayer):
    """A full disk for the zeros the writer puts ahead of its frames (half of them land)."""

    def write(self, fd: int, data: bytes) -> None:
        if len(data) > 1000 and not data.strip(b"\0"):
            super().write(fd, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "injected No space left on device")
        super().write(fd, data)


def test_a_full_disk_while_extending_fails_the_commit_and_loses_nothing(db_path: Path) -> None:
    db = driftdb.open(db_path, create=True)
    table = db.create_table("t", options={"segment_size_bytes": 8192})
    for i in range(10):
        table.insert({"id": i, "pad": "x" * 100})
    i = 10
    with fs.use(NoSpaceForZeros()):
        with pytest.raises(driftdb.DriftIOError, match="No space left on device"):
            while True:  # until the next commit needs more zeros
                table.insert({"id": i, "pad": "x" * 100})
                i += 1
        with pytest.raises(driftdb.WriterStoppedError):
            table.insert({"id": "later"})
    db.close()
    with no_drift_warnings(), driftdb.open(db_path) as db:
        assert rows(db) == list(range(i))  # every acknowledged row, not the failed one
        db.table("t").insert({"id": i, "pad": "y"})
        assert db.table("t").get(i) == {"id": i, "pad": "y"}


def test_compaction_counts_the_bytes_of_frames_not_the_zeros_ahead(db_path: Path) -> None:
    with driftdb.open(db_path, create=True) as db:
        table = db.create_table("t", options={"segment_size_bytes": 4096})
        for i in range(120):
            table.insert({"id": i, "pad": "x" * 40})
        frames = sum(len(written_part(read_bytes(p))) for p in segment_paths(db_path, "t"))
        report = table.compact()
        assert report.bytes_before == frames
        after = sum(len(written_part(read_bytes(p))) for p in segment_paths(db_path, "t"))
        assert report.bytes_after == after
        assert rows(db) == list(range(120))


def test_a_reader_window_ends_at_a_file_the_writer_trimmed_while_it_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The length a reader saw includes zeros the writer then trimmed (it sealed the
    segment): the short read is the end, not a reason to read on forever."""
    directory = tmp_path / "segments"
    directory.mkdir()
    data = log(*(frame(i) for i in range(1, 30)))
    (directory / "00000001.seg").write_bytes(data)
    real_fstat = os.fstat

    def longer(fd: int) -> os.stat_result:
        seen = list(real_fstat(fd))
        seen[6] += 10 * ZERO_PROOF_BYTES  # st_size
        return os.stat_result(seen)

    monkeypatch.setattr("driftdb.storage.segment.os.fstat", longer)
    result = scan_segment(str(directory), 1, HEADER_SIZE, proof=ZERO_PROOF_BYTES)
    assert (len(result.frames), result.end_offset, result.problem) == (29, len(data), None)


# -- the sign of a stopped write (damage in a held segment is not always a torn write) -----

LETTERS = st.text("abcdefghijklmnopqrstuvwxyz", min_size=0, max_size=1200)


@settings(max_examples=examples(200), deadline=None)
@given(pad=LETTERS, cut=st.integers(1, 10_000), zeros=st.integers(512, 5000))
def test_a_last_frame_whose_write_stopped_anywhere_is_a_torn_write(
    pad: str, cut: int, zeros: int
) -> None:
    """Written front to back over zeros and stopped at any byte: zeros from there on."""
    head = log(frame(1), frame(2))
    last = frame(3, pad)
    cut = 1 + cut % (len(last) - 1)
    assume(any(last[cut:]))  # (zeros that were the frame's own bytes: it is whole)
    reads, _, torn, end = scan(head + last[:cut] + bytes(len(last) - cut + zeros))
    assert (reads, torn, end) == (2, True, len(head))


@settings(max_examples=examples(200), deadline=None)
@given(
    pad=LETTERS,
    at=st.integers(0, 10_000),
    xor=st.integers(1, 255),
    after=st.integers(0, 2),
)
def test_a_changed_byte_in_a_frame_written_whole_is_damage_not_a_torn_write(
    pad: str, at: int, xor: int, after: int
) -> None:
    """A held segment (ending in the writer's zeros) whose frame was written whole and then
    changed: no zeros where a write stopped, so the event may have been acknowledged (the
    index lags the log) and is never truncated as a torn write, with or without good frames
    after it."""
    head = log(frame(1), frame(2))
    damaged = bytearray(frame(3, pad))
    at %= len(damaged)
    damaged[at] ^= xor
    tail = b"".join(frame(4 + i) for i in range(after))
    reads, _, torn, end = scan(head + bytes(damaged) + tail + bytes(5000))
    assert (reads, torn, end) == (2, False, len(head))


def test_a_sector_of_an_unsynced_frame_that_never_reached_the_disk_is_a_torn_write() -> None:
    """The sectors of one write reach the disk in any order: a whole sector inside frame 2 is
    still zeros, frame 3 after it was written."""
    head = log(frame(1))
    data = bytearray(head + frame(2, "y" * 1500) + frame(3) + bytes(5000))
    sector = (len(head) // 512 + 1) * 512
    data[sector : sector + 512] = bytes(512)
    assert scan(bytes(data))[:3] == (1, False, True)


def test_an_acknowledged_event_changed_after_a_crash_refuses_the_open(db_path: Path) -> None:
    """The writer's index lags its log by up to 32 events (write-behind), so the last commits
    of a crashed writer have no witness but the log: a changed byte in the last of them must
    refuse the open (naming the file and offset), never truncate it as a torn write."""
    db = write_rows(db_path, 4)  # four acknowledged commits
    abandon(db)
    segment = last_segment(db_path, "t")
    data = bytearray(read_bytes(segment))
    frames = parse_segment(bytes(data))
    last = frames[-1]
    data[last.end - 3] ^= 0x20  # inside the last acknowledged frame's payload
    write_bytes(segment, bytes(data))
    with pytest.raises(driftdb.CorruptionError) as info:
        driftdb.open(db_path)
    assert f"offset {last.offset}" in str(info.value)
    assert read_bytes(segment) == bytes(data)  # nothing was truncated


def test_repair_of_a_damaged_last_frame_quarantines_the_frame_not_the_zeros(
    db_path: Path,
) -> None:
    """The writer's unwritten space after a damaged final frame is neither damage nor data:
    doctor counts and quarantines the frame's bytes only (it said 69,554 for a 70-byte
    frame), and the table answers with the other rows after the repair."""
    db = write_rows(db_path, 4)
    abandon(db)
    segment = last_segment(db_path, "t")
    data = bytearray(read_bytes(segment))
    last = parse_segment(bytes(data))[-1]
    data[last.end - 3] ^= 0x20
    write_bytes(segment, bytes(data))
    size = last.end - last.offset
    assert f"; {size} damaged bytes" in doctor.check(db_path).render()
    report = doctor.repair(db_path)
    assert report.ok, report.render()
    [moved] = list((db_path / "tables/t/quarantine").glob("*.bin"))
    assert moved.stat().st_size == size
    with driftdb.open(db_path) as reopened:
        assert rows(reopened) == [0, 1, 2]
