"""Injected I/O failures through the file layer: the statement fails with DriftIOError, the
writer stops, and reopening re-validates from disk without losing an acknowledged write."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

import driftdb
from driftdb.storage import fs
from helpers.bytes_edit import read_bytes, segment_paths
from helpers.checks import open_recording_warnings, warning_texts
from helpers.segment_reader import parse_file


class FailingLayer(fs.FileLayer):
    """Fails the chosen operation with EIO. `how`:
    "fsync"       fsync raises (the bytes were written, the kernel may drop them);
    "write"       write raises before writing anything;
    "half-write"  write puts the first half of the bytes in the file, then raises.
    Only writes of frames are failed (not segment headers), unless `headers` is set."""

    def __init__(self, how: str, *, headers: bool = False) -> None:
        self.how = how
        self.headers = headers
        self.attempted: list[bytes] = []

    def write(self, fd: int, data: bytes) -> None:
        if self.how in ("write", "half-write") and (self.headers or data[:8] != b"DRIFTSEG"):
            self.attempted.append(bytes(data))
            if self.how == "half-write":
                super().write(fd, data[: len(data) // 2])
            raise OSError(errno.EIO, "injected write failure")
        if data[:8] != b"DRIFTSEG":
            self.attempted.append(bytes(data))
        super().write(fd, data)

    def fsync(self, fd: int) -> None:
        if self.how == "fsync":
            raise OSError(errno.EIO, "injected fsync failure")
        super().fsync(fd)


FAILURES = {
    "fsync": "[Errno 5] injected fsync failure",
    "write": "[Errno 5] injected write failure",
    "half-write": "[Errno 5] injected write failure",
}


def stopped_message(how: str) -> str:
    return (
        f"the writer stopped after an earlier failure (OSError: {FAILURES[how]}); "
        "reopen the database to re-validate it from disk"
    )


@pytest.mark.parametrize("how", list(FAILURES))
def test_failed_write_raises_stops_the_writer_and_keeps_acknowledged_writes(
    db_path: Path, how: str
) -> None:
    with driftdb.open(db_path, create=True) as db:
        table = db.create_table("t", indexes=["v"])
        table.insert({"id": 1, "v": "a"})
        table.insert({"id": 2, "v": "b"})
        table.patch(1, {"v": "c"})
        layer = FailingLayer(how)
        with fs.use(layer), pytest.raises(driftdb.DriftIOError) as info:
            table.insert({"id": 3, "v": "a"})
        assert str(info.value) == (
            f"write failed ({FAILURES[how]}); nothing was acknowledged and the writer is "
            "stopped: reopen the database"
        )
        assert isinstance(info.value.__cause__, OSError)
        assert info.value.__cause__.errno == errno.EIO
        # Without the fault, every later write is still refused.
        for write in (
            lambda: table.insert({"id": 4}),
            lambda: table.patch(2, {"v": "z"}),
            lambda: table.soft_delete(2),
            lambda: table.insert_many([{"id": 5}]),
            lambda: db.create_table("u"),
        ):
            with pytest.raises(driftdb.WriterStoppedError) as stopped:
                write()
            assert str(stopped.value) == stopped_message(how)
        with pytest.raises(driftdb.WriterStoppedError), db.batch():
            pass
        # Reads still answer, without the failed write.
        assert table.get(3) is None
        assert table.count() == 2
        assert db.head() == 3
    [frame] = layer.attempted
    reached = frame in read_bytes(segment_paths(db_path, "t")[-1])

    db, _ = open_recording_warnings(db_path)
    with db:
        table = db.table("t")
        assert table.get(1) == {"id": 1, "v": "c"}
        assert table.get(2) == {"id": 2, "v": "b"}
        # The failed write may survive only if all its bytes reached the file.
        if reached:
            assert table.get(3) == {"id": 3, "v": "a"}
            assert db.head() == 4
        else:
            assert table.get(3) is None
            assert db.head() == 3
        assert reached == (how == "fsync")
        seq = table.insert({"id": 6, "v": "a"})
        assert seq == db.head()
    with driftdb.open(db_path) as db:
        assert db.table("t").get(6) == {"id": 6, "v": "a"}
        assert sorted(r["id"] for r in db.table("t").select(where={"v": "a"})) == (
            [3, 6] if reached else [6]
        )


@pytest.mark.parametrize("how", list(FAILURES))
def test_failed_batch_is_all_there_or_not_there_after_reopen(db_path: Path, how: str) -> None:
    with driftdb.open(db_path, create=True) as db:
        a = db.create_table("a")
        b = db.create_table("b")
        a.insert({"id": 0})
        b.insert({"id": 0})
        with fs.use(FailingLayer(how)), pytest.raises(driftdb.DriftIOError), db.batch():
            for i in range(1, 4):
                a.insert({"id": i})
                b.insert({"id": i})
        with pytest.raises(driftdb.WriterStoppedError):
            a.insert({"id": 9})
    db, _ = open_recording_warnings(db_path)
    with db:
        ids_a = sorted(r["id"] for r in db.table("a").select())
        ids_b = sorted(r["id"] for r in db.table("b").select())
        assert ids_a == ids_b
        assert ids_a in ([0], [0, 1, 2, 3])


def test_failed_write_to_the_second_table_of_a_batch_cuts_the_whole_batch(
    db_path: Path,
) -> None:
    class SecondTableFails(fs.FileLayer):
        def __init__(self) -> None:
            self.writes = 0

        def write(self, fd: int, data: bytes) -> None:
            self.writes += 1
            if self.writes == 2:  # table a's frames went out; table b's do not
                raise OSError(errno.EIO, "injected write failure")
            super().write(fd, data)

    with driftdb.open(db_path, create=True) as db:
        a = db.create_table("a")
        b = db.create_table("b")
        a.insert({"id": 0})
        b.insert({"id": 0})
        with fs.use(SecondTableFails()), pytest.raises(driftdb.DriftIOError), db.batch():
            a.insert({"id": 1})
            a.insert({"id": 2})
            b.insert({"id": 1})
    with pytest.warns(driftdb.DriftWarning) as record, driftdb.open(db_path) as db:
        assert [r["id"] for r in db.table("a").select()] == [0]
        assert [r["id"] for r in db.table("b").select()] == [0]
        assert db.head() == 2
    texts = warning_texts(record)
    assert any(
        t.startswith("tables/a/segments/00000001.seg: truncated ")
        and t.endswith(": an incomplete batch (seqs 3-4) that was never acknowledged")
        for t in texts
    ), texts


@pytest.mark.parametrize("how", list(FAILURES))
def test_failure_while_starting_a_new_segment_keeps_every_acknowledged_row(
    db_path: Path, how: str
) -> None:
    with driftdb.open(db_path, create=True) as db:
        table = db.create_table("t", options={"segment_size_bytes": 256})
        i = 0
        while len(segment_paths(db_path, "t")) < 2:
            table.insert({"id": i, "pad": "x" * 40})
            i += 1
        # Fill segment 2 so that the next insert starts segment 3 (header first).
        # (the end of its frames: the file holds zeros written ahead of them)
        while parse_file(db_path / "tables/t/segments/00000002.seg")[-1].end < 256:
            table.insert({"id": i, "pad": "x" * 40})
            i += 1
        acknowledged = i
        with fs.use(FailingLayer(how, headers=True)), pytest.raises(driftdb.DriftIOError):
            table.insert({"id": i, "pad": "x" * 40})
    db, _ = open_recording_warnings(db_path)
    with db:
        table = db.table("t")
        assert sorted(r["id"] for r in table.select()) == list(range(acknowledged))
        table.insert({"id": "after"})
    with driftdb.open(db_path) as db:
        assert db.table("t").count() == acknowledged + 1
        assert db.table("t").get("after") == {"id": "after"}


def test_failed_create_table_raises_drift_io_error_and_leaves_nothing_behind(
    db: driftdb.Database, db_path: Path
) -> None:
    class DirFsyncFails(fs.FileLayer):
        def fsync_dir(self, path: str) -> None:
            raise OSError(errno.EIO, "injected fsync failure")

    with fs.use(DirFsyncFails()), pytest.raises(driftdb.DriftIOError):
        db.create_table("t")
    assert os.listdir(db_path / "tables") == []
