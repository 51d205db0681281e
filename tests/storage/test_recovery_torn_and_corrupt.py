"""Recovery on open: a torn tail is truncated and reported; a bad frame with good frames after
it is corruption, named by file and offset, and nothing is changed; indexes rebuild from the log.
"""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import pytest

import driftdb
from helpers.bytes_edit import (
    flip_byte,
    log_bytes,
    read_bytes,
    restore_indexes,
    save_indexes,
    segment_paths,
    set_length_field,
    tree_digest,
    truncate_tail,
    write_bytes,
)
from helpers.checks import no_drift_warnings, open_recording_warnings, warning_texts
from helpers.segment_reader import SEGMENT_HEADER, parse_file

SEG1 = "tables/t/segments/00000001.seg"
REBUILT = 'table "t": indexes did not match the log; rebuilt'


def row(i: int) -> dict[str, object]:
    return {"id": i, "tag": f"tag{i % 2}", "body": "b" * i}


def make_rows(
    db_path: Path, count: int, *, indexes_after: int | None = None, saved: Path | None = None
) -> None:
    """A table "t" with rows 0..count-1, one insert each; with `indexes_after`, the indexes as
    they stood after that many rows are saved in `saved` (the state a crash leaves behind)."""
    with driftdb.open(db_path, create=True) as db:
        db.create_table("t", indexes=["tag"])
    for i in range(count):
        if indexes_after is not None and i == indexes_after:
            assert saved is not None
            save_indexes(db_path, saved)
        with driftdb.open(db_path) as db:
            db.table("t").insert(row(i))


def torn_reason(frame_length: int, kept: int) -> str:
    if kept < 8:
        return f"incomplete frame header ({kept} of 8 bytes)"
    return f"incomplete frame ({kept - 8} of {frame_length} body bytes)"


# -- torn tails -------------------------------------------------------------------------------


def test_torn_final_frame_is_truncated_and_reported_at_every_cut_offset(tmp_path: Path) -> None:
    pristine = tmp_path / "pristine"
    make_rows(pristine, 4, indexes_after=3, saved=tmp_path / "saved")
    final = parse_file(pristine / SEG1)[-1]
    for cut in range(final.offset + 1, final.end):
        work = tmp_path / f"cut{cut}"
        shutil.copytree(pristine, work)
        truncate_tail(work / SEG1, cut)
        restore_indexes(work, tmp_path / "saved")  # the crash came before the acknowledgement
        with pytest.warns(driftdb.DriftWarning) as record, driftdb.open(work) as db:
            table = db.table("t")
            texts = warning_texts(record)
            truncated = (
                f"{SEG1}: truncated {cut - final.offset} bytes at offset {final.offset}: "
                f"a torn final frame ({torn_reason(final.length, cut - final.offset)})"
            )
            assert truncated in texts, (cut, texts)
            assert set(texts) <= {truncated, REBUILT}, (cut, texts)
            assert (work / SEG1).stat().st_size == final.offset
            assert db.head() == 3
            assert table.get(2) == row(2)  # the last whole frame survives
            assert table.get(3) is None
            assert table.count() == 3
            assert table.insert({"id": 3, "tag": "new"}) == 4
        with no_drift_warnings(), driftdb.open(work) as db:
            assert db.table("t").get(3) == {"id": 3, "tag": "new"}
            assert [r["id"] for r in db.table("t").select(where={"tag": "new"})] == [3]
            assert db.head() == 4
        shutil.rmtree(work)


def test_final_frame_with_a_crc_mismatch_is_truncated_as_an_interrupted_write(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "db"
    make_rows(db_path, 3, indexes_after=2, saved=tmp_path / "saved")
    final = parse_file(db_path / SEG1)[-1]
    flip_byte(db_path / SEG1, final.end - 1)
    restore_indexes(db_path, tmp_path / "saved")  # the crash came before the index commit
    with pytest.warns(driftdb.DriftWarning) as record, driftdb.open(db_path) as db:
        assert (
            f"{SEG1}: truncated {final.end - final.offset} bytes at offset {final.offset}: "
            "a torn final frame (CRC mismatch)"
        ) in warning_texts(record)
        assert db.table("t").count() == 2
        assert db.table("t").get(2) is None


def test_torn_frame_right_after_the_indexed_frames_is_truncated_without_a_rebuild(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "db"
    make_rows(db_path, 4, indexes_after=3, saved=tmp_path / "saved")
    final = parse_file(db_path / SEG1)[-1]
    truncate_tail(db_path / SEG1, final.offset + 10)
    restore_indexes(db_path, tmp_path / "saved")  # the crash came before the index commit
    with pytest.warns(driftdb.DriftWarning) as record, driftdb.open(db_path) as db:
        assert db.table("t").count() == 3
    assert warning_texts(record) == [
        f"{SEG1}: truncated 10 bytes at offset {final.offset}: a torn final frame "
        f"(incomplete frame (2 of {final.length} body bytes))"
    ]


def ascii_frame(seq: int) -> bytes:
    """A CRC-valid frame made only of ASCII bytes, so a document string can hold it."""
    for n in range(100_000):
        body = bytes([seq]) + struct.pack("<Q", 0x01_0101_0101) + b"\x01" + f"pad{n}".encode()
        frame = struct.pack("<II", len(body), zlib.crc32(body)) + body
        if all(b < 0x80 for b in frame):
            return frame
    raise AssertionError("no ASCII frame found")


def test_torn_final_frame_whose_document_holds_frame_like_text_is_still_truncated(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "db"
    with driftdb.open(db_path, create=True) as db:
        db.create_table("t").insert({"id": 1})
    save_indexes(db_path, tmp_path / "saved")
    with driftdb.open(db_path) as db:
        db.table("t").insert({"id": 2, "note": "x" + ascii_frame(100).decode("ascii") + "yyyyyyyy"})
    final = parse_file(db_path / SEG1)[-1]
    truncate_tail(db_path / SEG1, final.end - 5)  # the write stopped 5 bytes short...
    restore_indexes(db_path, tmp_path / "saved")  # ...before it was acknowledged
    db, texts = open_recording_warnings(db_path)
    with db:
        assert db.table("t").count() == 1
    assert any("a torn final frame" in t for t in texts), texts


def test_torn_segment_header_of_a_new_segment_is_rewritten(tmp_path: Path) -> None:
    db_path = tmp_path / "db"
    make_rows(db_path, 3)
    seg2 = db_path / "tables/t/segments/00000002.seg"
    write_bytes(seg2, SEGMENT_HEADER[:5])  # the writer died writing the new segment's header
    with pytest.warns(driftdb.DriftWarning) as record, driftdb.open(db_path) as db:
        assert "tables/t/segments/00000002.seg: rewrote a torn segment header (5 bytes)" in (
            warning_texts(record)
        )
        assert read_bytes(seg2) == SEGMENT_HEADER
        table = db.table("t")
        assert table.count() == 3
        table.insert({"id": 3})
    assert [f.seq for f in parse_file(seg2)] == [4]
    with no_drift_warnings(), driftdb.open(db_path) as db:
        assert sorted(r["id"] for r in db.table("t").select()) == [0, 1, 2, 3]


# -- corruption -------------------------------------------------------------------------------


def damage_flip_body(path: Path, offset: int, length: int) -> None:
    flip_byte(path, offset + 8 + length // 2)


def damage_flip_crc(path: Path, offset: int, length: int) -> None:
    flip_byte(path, offset + 5)


def damage_length_past_eof(path: Path, offset: int, length: int) -> None:
    set_length_field(path, offset, path.stat().st_size - offset)  # 8 bytes past the end


def damage_length_over_bound(path: Path, offset: int, length: int) -> None:
    set_length_field(path, offset, 0xFFFF_FFFF)


def damage_length_plus_one(path: Path, offset: int, length: int) -> None:
    set_length_field(path, offset, length + 1)


DAMAGES = {
    "flipped-body-byte": (damage_flip_body, "CRC mismatch"),
    "flipped-crc-byte": (damage_flip_crc, "CRC mismatch"),
    "length-past-end-of-file": (damage_length_past_eof, "incomplete frame ({} of {} body bytes)"),
    "length-over-bound": (
        damage_length_over_bound,
        "frame length 4294967295 exceeds the 67108864-byte bound",
    ),
    "length-one-too-long": (damage_length_plus_one, "CRC mismatch"),
}


@pytest.mark.parametrize("index_state", ["indexes-lag", "indexes-missing"])
@pytest.mark.parametrize("damage", list(DAMAGES))
def test_bad_middle_frame_refuses_open_naming_file_and_offset(
    tmp_path: Path, damage: str, index_state: str
) -> None:
    db_path = tmp_path / "db"
    make_rows(db_path, 5, indexes_after=1, saved=tmp_path / "saved")
    frames = parse_file(db_path / SEG1)
    bad, good = frames[2], frames[3]
    edit, reason = DAMAGES[damage]
    edit(db_path / SEG1, bad.offset, bad.length)
    size = (db_path / SEG1).stat().st_size
    reason = reason.format(size - bad.offset - 8, size - bad.offset)
    if index_state == "indexes-lag":
        restore_indexes(db_path, tmp_path / "saved")
    else:
        shutil.rmtree(db_path / "tables/t/indexes")
    before = log_bytes(db_path)

    with pytest.raises(driftdb.CorruptionError) as info:
        driftdb.open(db_path)

    assert str(info.value) == (
        f"{SEG1} offset {bad.offset}: {reason}; good frames follow at offset {good.offset}; "
        'run "driftdb doctor --repair"'
    )
    assert (info.value.path, info.value.offset) == (SEG1, bad.offset)
    assert log_bytes(db_path) == before
    # The writer did not keep the lock: another open gets the same answer, not LockedError.
    with pytest.raises(driftdb.CorruptionError):
        driftdb.open(db_path)


def test_reader_of_a_damaged_log_raises_corruption_and_changes_nothing(tmp_path: Path) -> None:
    db_path = tmp_path / "db"
    make_rows(db_path, 5)
    frames = parse_file(db_path / SEG1)
    shutil.rmtree(db_path / "tables/t/indexes")
    flip_byte(db_path / SEG1, frames[2].offset + 12)
    before = tree_digest(db_path)
    with driftdb.open(db_path, readonly=True) as db:
        with pytest.raises(driftdb.CorruptionError) as info:
            db.table("t").count()
        assert str(info.value) == (
            f"{db_path / SEG1} offset {frames[2].offset}: CRC mismatch; "
            'run "driftdb doctor --repair"'
        )
    assert tree_digest(db_path) == before


def test_torn_tail_of_a_sealed_segment_is_corruption_not_an_interrupted_write(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "db"
    with driftdb.open(db_path, create=True) as db:
        table = db.create_table("t", options={"segment_size_bytes": 512})
        for i in range(40):
            table.insert({"id": i, "pad": "p" * 16})
    assert len(segment_paths(db_path, "t")) >= 3
    shutil.rmtree(db_path / "tables/t/indexes")
    final = parse_file(db_path / SEG1)[-1]
    truncate_tail(db_path / SEG1, final.offset + 3)
    before = log_bytes(db_path)
    with pytest.raises(driftdb.CorruptionError) as info:
        driftdb.open(db_path)
    assert str(info.value) == (
        f"{SEG1} offset {final.offset}: incomplete frame header (3 of 8 bytes); "
        'later segments follow; run "driftdb doctor --repair"'
    )
    assert log_bytes(db_path) == before


def test_segment_with_a_foreign_header_is_corruption_at_offset_0(tmp_path: Path) -> None:
    db_path = tmp_path / "db"
    make_rows(db_path, 2)
    seg2 = db_path / "tables/t/segments/00000002.seg"
    write_bytes(seg2, b"NOTDRIFT" + bytes(8))
    with pytest.raises(driftdb.CorruptionError) as info:
        driftdb.open(db_path)
    assert str(info.value) == (
        "tables/t/segments/00000002.seg offset 0: bad magic b'NOTDRIFT', expected "
        "b'DRIFTSEG'; run \"driftdb doctor --repair\""
    )
    assert read_bytes(seg2) == b"NOTDRIFT" + bytes(8)


def test_damage_inside_the_indexed_log_is_named_when_history_reads_the_frame(
    tmp_path: Path,
) -> None:
    # Open trusts indexes for the part of the log they cover (that is what keeps it cheap);
    # a frame read through the key directory is CRC-checked and names file and offset. (A
    # history lists its events from the key directory: the frame is read for the payload.)
    db_path = tmp_path / "db"
    make_rows(db_path, 5)
    bad = parse_file(db_path / SEG1)[2]
    flip_byte(db_path / SEG1, bad.offset + 12)
    with driftdb.open(db_path) as db:
        listed = db.table("t").history(2)
        assert [e.row for e in listed] == [row(2)]
        with pytest.raises(driftdb.CorruptionError) as info:
            _ = listed[0].data
        assert str(info.value) == (
            f'{db_path / SEG1} offset {bad.offset}: CRC mismatch; run "driftdb doctor --repair"'
        )
        assert db.table("t").history(3)[0].row == row(3)


# -- indexes rebuild from the log -------------------------------------------------------------


def answers(db: driftdb.Database) -> dict[str, object]:
    """Everything the tables answer, at every seq, by every read the API offers."""
    out: dict[str, object] = {}
    for name in db.tables():
        table = db.table(name)
        for seq in range(db.head() + 1):
            out[f"{name}@{seq}"] = (
                sorted(map(repr, table.select(as_of=seq))),
                table.count(as_of=seq),
                sorted(map(repr, table.select(where={"tag": "tag1"}, as_of=seq))),
                [table.get(k, as_of=seq) for k in (0, 1, 2, "0")],
            )
        for k in (0, 1, 2, "0"):
            out[f"{name}/{k!r}"] = table.history(k)
    return out


def test_deleted_indexes_are_rebuilt_from_the_log_with_the_same_answers(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "db"
    with driftdb.open(db_path, create=True) as db:
        t = db.create_table("t", indexes=["tag"])
        u = db.create_table("u", indexes=["tag"])
        t.insert_many([{"id": 0, "tag": "tag0"}, {"id": 1, "tag": "tag1"}])
        u.insert({"id": "0", "tag": "tag1"})
        t.patch(0, {"tag": "tag1", "x": {"y": 1}})
        with db.batch():
            t.soft_delete(1)
            u.patch("0", {"tag": None})
        t.insert({"id": 1, "tag": "tag1"}, meta={"by": "me"})
        before = answers(db)
    for name in ("t", "u"):
        shutil.rmtree(db_path / "tables" / name / "indexes")
        (db_path / "tables" / name / "meta.json").unlink()
    with driftdb.open(db_path, readonly=True) as reader:
        assert answers(reader) == before  # a reader without indexes reads the log
    with driftdb.open(db_path) as db:
        assert answers(db) == before
        assert (db_path / "tables/t/indexes/data.mdb").exists()
    with driftdb.open(db_path) as db:
        assert answers(db) == before


def test_readonly_open_of_a_torn_log_changes_nothing_and_hides_the_torn_frame(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "db"
    make_rows(db_path, 4, indexes_after=3, saved=tmp_path / "saved")
    final = parse_file(db_path / SEG1)[-1]
    truncate_tail(db_path / SEG1, final.offset + 9)
    restore_indexes(db_path, tmp_path / "saved")
    before = tree_digest(db_path)
    with no_drift_warnings(), driftdb.open(db_path, readonly=True) as db:
        assert db.table("t").count() == 3
        assert db.head() == 3
    assert tree_digest(db_path) == before
