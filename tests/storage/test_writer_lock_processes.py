"""One writer process at a time (flock on LOCK), readers take no lock and see whole batches."""

from __future__ import annotations

import collections
import contextlib
import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import driftdb
from helpers.bytes_edit import tree_digest
from helpers.checks import python_child

LOCK_HOLDER = """
import sys, driftdb
db = driftdb.open(sys.argv[1])
print("locked", flush=True)
sys.stdin.readline()
db.close()
print("closed", flush=True)
"""

BATCH_WRITER = """
import sys, time, driftdb
from driftdb.storage import fs

class SlowLayer(fs.FileLayer):
    # Each batch goes to the file in two halves with a pause between: readers polling the log
    # meet batches that are only partly on disk.
    def write(self, fd, data):
        half = len(data) // 2
        super().write(fd, data[:half])
        time.sleep(0.003)
        super().write(fd, data[half:])

path, batches = sys.argv[1], int(sys.argv[2])
with driftdb.open(path) as db, fs.use(SlowLayer()):
    table = db.table("t")
    for b in range(batches):
        table.insert_many([{"id": b * 10 + i, "batch": b} for i in range(10)])
        time.sleep(0.002)
print("done", flush=True)
"""


def locked_message(db_path: Path, pid: int, suffix: str = "") -> re.Pattern[str]:
    return re.compile(
        rf"database {re.escape(str(db_path))} is locked by another writer "
        rf"\(pid={pid} host={re.escape(socket.gethostname())} "
        rf"since=\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ\){re.escape(suffix)}; "
        r"close it, read without the lock \(select, drift, or readonly=True\), or "
        r"(wait for it|wait longer) with --lock-timeout SECONDS \(lock_timeout_s in Python\)"
    )


@pytest.fixture
def holder(db_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A child process holding the writer lock until a line is written to its stdin."""
    with driftdb.open(db_path, create=True) as db:
        db.create_table("t").insert({"id": 1})
    child = python_child(LOCK_HOLDER, str(db_path), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "locked\n"
        yield child
    finally:
        # The test may already have released the child, which is then exiting and may have
        # closed its end of the pipe: a broken pipe here just means it is on its way out.
        with contextlib.suppress(BrokenPipeError):
            if child.poll() is None:
                assert child.stdin is not None
                child.stdin.write("\n")
                child.stdin.flush()
        child.wait(timeout=30)
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                with contextlib.suppress(BrokenPipeError):
                    stream.close()


def release(child: subprocess.Popen[str]) -> None:
    assert child.stdin is not None
    child.stdin.write("\n")
    child.stdin.flush()


def test_second_writer_process_gets_locked_error_naming_the_holder_pid(
    holder: subprocess.Popen[str], db_path: Path
) -> None:
    before = tree_digest(db_path)
    started = time.monotonic()
    with pytest.raises(driftdb.LockedError) as info:
        driftdb.open(db_path)
    assert time.monotonic() - started < 2.0  # at once, not after a wait
    assert locked_message(db_path, holder.pid).fullmatch(str(info.value)), str(info.value)
    assert "locked" in str(info.value)
    assert tree_digest(db_path) == before
    # Readers take no lock: they read while the writer holds it.
    with driftdb.open(db_path, readonly=True) as reader:
        assert reader.table("t").get(1) == {"id": 1}


def test_writer_with_a_lock_timeout_waits_and_then_succeeds(
    holder: subprocess.Popen[str], db_path: Path
) -> None:
    timer = threading.Timer(0.5, release, args=(holder,))
    timer.start()
    started = time.monotonic()
    try:
        with driftdb.open(db_path, lock_timeout_s=30) as db:
            waited = time.monotonic() - started
            assert db.table("t").insert({"id": 2}) == 2
            assert (db_path / "LOCK").read_text().startswith(f"pid={os.getpid()} ")
    finally:
        timer.join()
    assert waited >= 0.4
    assert holder.stdout is not None
    assert holder.stdout.readline() == "closed\n"
    with driftdb.open(db_path) as db:
        assert db.table("t").count() == 2


def test_writer_whose_lock_timeout_expires_gets_locked_error(
    holder: subprocess.Popen[str], db_path: Path
) -> None:
    started = time.monotonic()
    with pytest.raises(driftdb.LockedError) as info:
        driftdb.open(db_path, lock_timeout_s=0.3)
    assert time.monotonic() - started >= 0.3
    assert locked_message(db_path, holder.pid, " after waiting 0.3s").fullmatch(str(info.value)), (
        str(info.value)
    )


def test_second_writer_in_the_same_process_is_refused_too(
    db: driftdb.Database, db_path: Path
) -> None:
    with pytest.raises(driftdb.LockedError) as info:
        driftdb.open(db_path)
    assert locked_message(db_path, os.getpid()).fullmatch(str(info.value)), str(info.value)
    db.create_table("t").insert({"id": 1})  # the first writer is unaffected


def test_reader_process_never_sees_part_of_a_batch(db_path: Path) -> None:
    batches = 40
    with driftdb.open(db_path, create=True) as db:
        db.create_table("t", indexes=["batch"])
    seen: set[int] = set()
    with driftdb.open(db_path, readonly=True) as reader:
        table = reader.table("t")
        writer = python_child(BATCH_WRITER, str(db_path), str(batches), stdout=subprocess.PIPE)
        try:
            last = 0
            while True:
                finished = writer.poll() is not None
                count = table.count()
                rows = list(table.select())
                assert count % 10 == 0, count
                assert len(rows) % 10 == 0, len(rows)
                per_batch = collections.Counter(r["batch"] for r in rows)
                assert set(per_batch.values()) <= {10}, per_batch
                assert count >= last  # a growing prefix
                last = count
                seen.add(count)
                if finished:
                    break
        finally:
            writer.wait(timeout=60)
            assert writer.stdout is not None
            output = writer.stdout.read()
            writer.stdout.close()
        assert writer.returncode == 0
        assert output == "done\n"
        assert table.count() == batches * 10
        assert reader.head() == batches * 10
    # The reader looked while the writer was busy, not only before and after.
    assert len(seen - {0, batches * 10}) >= 3, sorted(seen)
