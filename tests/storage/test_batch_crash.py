"""A batch is all there or not there at all after a crash, in every table it touches."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

import driftdb
from helpers.bytes_edit import (
    forget_witnesses,
    log_bytes,
    restore_indexes,
    save_indexes,
    segment_paths,
    tree_digest,
    truncate_tail,
)
from helpers.checks import no_drift_warnings, open_recording_warnings, python_child
from helpers.segment_reader import parse_file

INCOMPLETE = re.compile(
    r"tables/(a|b)/segments/00000001\.seg: truncated \d+ bytes at offset \d+: "
    r"an incomplete batch \(seqs \d+-\d+\) that was never acknowledged"
)

# The child writes one batch through a file layer that kills the process (SIGKILL, as kill -9)
# part way: MODE is "<n>:<how>" to crash on the n-th frame write (1 = table a's share, 2 = table
# b's) after writing "half" its bytes or "frames=<k>" whole frames, or "fsync" to crash at the
# commit's sync (every byte written, nothing synced). Zeros the writer puts
# ahead of its frames (storage/appender.py) are not frame writes.
CRASHER = """
import os, signal, struct, sys, driftdb
from driftdb.storage import fs

path, kind, mode = sys.argv[1], sys.argv[2], sys.argv[3]

class CrashLayer(fs.FileLayer):
    frame_writes = 0

    def write(self, fd, data):
        if data[:8] == b"DRIFTSEG" or not data.strip(b"\\0"):  # a header, zeros written ahead
            return super().write(fd, data)
        CrashLayer.frame_writes += 1
        target, _, how = mode.partition(":")
        if target.isdigit() and int(target) == CrashLayer.frame_writes:
            if how == "half":
                os.write(fd, data[: len(data) // 2])
            else:
                end = 0
                for _ in range(int(how.removeprefix("frames="))):
                    (length,) = struct.unpack_from("<I", data, end)
                    end += 8 + length
                os.write(fd, data[:end])
            os.kill(os.getpid(), signal.SIGKILL)
        super().write(fd, data)

    def fdatasync(self, fd):  # the commit's sync (the zeros written ahead use fsync)
        if mode == "fsync":
            os.kill(os.getpid(), signal.SIGKILL)
        super().fdatasync(fd)

db = driftdb.open(path)
a, b = db.table("a"), db.table("b")
with fs.use(CrashLayer()):
    if kind == "single":
        a.insert_many([{"id": i, "v": "batch"} for i in range(10, 14)])
    else:
        with db.batch():
            for i in range(10, 14):
                a.insert({"id": i, "v": "batch"})
            for i in range(10, 13):
                b.insert({"id": i, "v": "batch"})
print("survived", flush=True)
"""


def make_two_tables(db_path: Path) -> None:
    with driftdb.open(db_path, create=True) as db:
        a = db.create_table("a", indexes=["v"])
        b = db.create_table("b", indexes=["v"])
        a.insert_many([{"id": i, "v": "before"} for i in range(3)])
        b.insert({"id": 0, "v": "before"})
        b.insert({"id": 1, "v": "before"})


def state(db: driftdb.Database) -> dict[str, list[tuple[Any, Any]]]:
    return {name: sorted((r["id"], r["v"]) for r in db.table(name).select()) for name in ("a", "b")}


BEFORE = {
    "a": [(0, "before"), (1, "before"), (2, "before")],
    "b": [(0, "before"), (1, "before")],
}
AFTER_WHOLE_BATCH = {
    "a": BEFORE["a"] + [(i, "batch") for i in range(10, 14)],
    "b": BEFORE["b"] + [(i, "batch") for i in range(10, 13)],
}


@pytest.mark.parametrize(
    ("kind", "mode", "frames_on_disk"),
    [
        ("single", "1:half", True),  # 2 of 4 frames whole, no torn bytes (equal frame sizes)
        ("single", "1:frames=1", True),
        ("single", "1:frames=3", True),
        ("cross", "1:frames=0", False),  # nothing of the batch reached a file
        ("cross", "1:half", True),
        ("cross", "2:frames=0", True),  # table a's share whole, table b's missing
        ("cross", "2:frames=2", True),
        ("cross", "2:half", True),
    ],
)
def test_writer_killed_inside_a_batch_leaves_none_of_it(
    db_path: Path, kind: str, mode: str, frames_on_disk: bool
) -> None:
    make_two_tables(db_path)
    log_before = log_bytes(db_path)
    child = python_child(CRASHER, str(db_path), kind, mode, stdout=subprocess.PIPE)
    out, _ = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL, out
    assert out == ""

    # A reader before recovery sees none of the batch and changes nothing.
    digest = tree_digest(db_path)
    with no_drift_warnings(), driftdb.open(db_path, readonly=True) as reader:
        assert state(reader) == BEFORE
        assert reader.table("a").count(where={"v": "batch"}) == 0
    assert tree_digest(db_path) == digest

    db, texts = open_recording_warnings(db_path)
    with db:
        assert state(db) == BEFORE
        assert db.table("a").count(where={"v": "batch"}) == 0
        assert db.table("b").count(where={"v": "batch"}) == 0
        assert db.head() == 5
        # Every byte of the cut batch is gone: the log is what it was before the child ran.
        assert log_bytes(db_path) == log_before
        if frames_on_disk:
            assert any(INCOMPLETE.fullmatch(t) for t in texts), texts
        assert db.table("a").insert({"id": 99, "v": "after"}) == 6
    with no_drift_warnings(), driftdb.open(db_path) as db:
        assert db.table("a").get(99) == {"id": 99, "v": "after"}
        assert db.table("a").get(10) is None
        assert db.table("a").count() == 4


def test_writer_killed_after_writing_every_frame_of_a_batch_keeps_it_whole(
    db_path: Path,
) -> None:
    make_two_tables(db_path)
    child = python_child(CRASHER, str(db_path), "cross", "fsync", stdout=subprocess.PIPE)
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    db, _ = open_recording_warnings(db_path)
    with db:
        # Not acknowledged, but every byte reached the file: the batch is there, all of it.
        assert state(db) == AFTER_WHOLE_BATCH


def batch_frames(db_path: Path, table: str, first_seq: int) -> list[Any]:
    return [f for f in parse_file(segment_paths(db_path, table)[0]) if f.seq >= first_seq]


@pytest.mark.parametrize("index_state", ["indexes-lag", "indexes-missing"])
def test_log_cut_between_two_frames_of_a_batch_hides_the_whole_batch(
    tmp_path: Path, index_state: str
) -> None:
    db_path = tmp_path / "db"
    with driftdb.open(db_path, create=True) as db:
        db.create_table("t", indexes=["v"]).insert_many([{"id": i, "v": "old"} for i in range(3)])
    save_indexes(db_path, tmp_path / "saved")
    with driftdb.open(db_path) as db:
        assert db.table("t").insert_many([{"id": i, "v": "new"} for i in range(3, 8)]) == [
            4,
            5,
            6,
            7,
            8,
        ]
    frames = [f for f in parse_file(segment_paths(db_path, "t")[0]) if f.seq >= 4]
    seg = segment_paths(db_path, "t")[0]
    truncate_tail(seg, frames[2].offset)  # frames of seqs 4 and 5 stay, 6-8 are gone
    if index_state == "indexes-lag":
        restore_indexes(db_path, tmp_path / "saved")
    elif index_state == "indexes-missing":
        forget_witnesses(db_path, "t")  # (meta.json too: it would show seq 8 acknowledged)

    with no_drift_warnings(), driftdb.open(db_path, readonly=True) as reader:
        assert reader.table("t").count() == 3
        assert reader.table("t").get(3) is None

    db, texts = open_recording_warnings(db_path)
    with db:
        table = db.table("t")
        assert (
            "tables/t/segments/00000001.seg: truncated "
            f"{frames[2].offset - frames[0].offset} bytes at offset {frames[0].offset}: an "
            "incomplete batch (seqs 4-5) that was never acknowledged"
        ) in texts
        assert seg.stat().st_size == frames[0].offset
        assert sorted(r["id"] for r in table.select()) == [0, 1, 2]
        assert list(table.select(where={"v": "new"})) == []
        with pytest.warns(driftdb.DriftWarning, match=r"^AS OF @seq:8 is beyond the head "):
            assert [table.get(k, as_of=8) for k in (3, 4)] == [None, None]
        assert table.history(3) == []
        assert db.head() == 3


@pytest.mark.parametrize("index_state", ["indexes-lag", "indexes-missing"])
@pytest.mark.parametrize("cut", ["between-frames", "whole-share"])
def test_batch_across_two_tables_with_one_share_cut_is_hidden_in_both(
    tmp_path: Path, index_state: str, cut: str
) -> None:
    db_path = tmp_path / "db"
    make_two_tables(db_path)
    save_indexes(db_path, tmp_path / "saved")
    with driftdb.open(db_path) as db:
        with db.batch():
            for i in range(10, 14):
                db.table("a").insert({"id": i, "v": "batch"})
            for i in range(10, 13):
                db.table("b").insert({"id": i, "v": "batch"})
        assert state(db) == AFTER_WHOLE_BATCH
    share = batch_frames(db_path, "b", 6)
    assert len(share) == 3
    truncate_tail(
        segment_paths(db_path, "b")[0],
        share[1].offset if cut == "between-frames" else share[0].offset,
    )
    if index_state == "indexes-lag":
        restore_indexes(db_path, tmp_path / "saved")
    else:
        forget_witnesses(db_path, "a")
        forget_witnesses(db_path, "b")

    with no_drift_warnings(), driftdb.open(db_path, readonly=True) as reader:
        assert state(reader) == BEFORE

    db, texts = open_recording_warnings(db_path)
    with db:
        assert state(db) == BEFORE
        assert db.head() == 5
        assert any(t.startswith("tables/a/segments/00000001.seg: truncated ") for t in texts)
        # (the indexes forgotten above are built again, and say so)
        cuts = [t for t in texts if "no index files; built them from the log" not in t]
        assert all(INCOMPLETE.fullmatch(t) for t in cuts), texts
    with no_drift_warnings(), driftdb.open(db_path) as db:
        assert state(db) == BEFORE


@pytest.mark.parametrize("witness", ["indexes-cover-it", "meta-json-only"])
def test_log_cut_inside_an_acknowledged_batch_is_refused_not_truncated(
    tmp_path: Path, witness: str
) -> None:
    """Issue 10, item 7: the batch was acknowledged (the index or meta.json says so), so a
    log cut inside it is damage: the writer names the file, offset and seqs, changes nothing,
    and reuses no seq; a reader refuses with the same error."""
    db_path = tmp_path / "db"
    with driftdb.open(db_path, create=True) as db:
        table = db.create_table("t", indexes=["v"])
        table.insert_many([{"id": i, "v": "old"} for i in range(3)])
        table.insert_many([{"id": i, "v": "new"} for i in range(3, 8)])
    frames = [f for f in parse_file(segment_paths(db_path, "t")[0]) if f.seq >= 4]
    seg = segment_paths(db_path, "t")[0]
    truncate_tail(seg, frames[2].offset)  # frames of seqs 4 and 5 stay, 6-8 are gone
    if witness == "meta-json-only":
        shutil.rmtree(db_path / "tables/t/indexes")
    damaged = log_bytes(db_path)
    meta = (db_path / "tables/t/meta.json").read_bytes()
    with pytest.raises(driftdb.CorruptionError) as refused:
        driftdb.open(db_path).close()
    if witness == "meta-json-only":
        assert str(refused.value) == (
            f"tables/t/segments/00000001.seg offset {frames[0].offset}: the log ends at @seq:3 "
            "here (an incomplete batch (seqs 4-5) that was never acknowledged); meta.json "
            "shows events up to @seq:8 were acknowledged, so events @seq:4-8 are at stake: "
            'not a torn write; run "driftdb doctor --repair"'
        )
    else:
        end = frames[-1].offset + 8 + frames[-1].length
        assert str(refused.value) == (
            f"tables/t/segments/00000001.seg offset {frames[2].offset}: ends at offset "
            f"{frames[2].offset}, before the end of @seq:8 at {end}; the index shows events "
            "up to @seq:8 were acknowledged, so events @seq:6-8 are at stake: not a torn "
            'write; run "driftdb doctor --repair"'
        )
    assert log_bytes(db_path) == damaged, "the writer changed the log"
    assert (db_path / "tables/t/meta.json").read_bytes() == meta
    if witness == "indexes-cover-it":
        with (
            pytest.raises(driftdb.CorruptionError) as reader_refused,
            driftdb.open(db_path, readonly=True) as reader,
        ):
            reader.table("t").count()
        assert str(reader_refused.value) == str(refused.value)
