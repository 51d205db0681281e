"""The writer's index map grows while reads of the same process are open.

LMDB lets a process resize its map only while it has no transaction open on the environment.
A writer whose index must grow while other threads of its process read (a web application's
request threads; the background snapshot) used to fail the index write with MDB_MAP_FULL and
stop: the commits were durable, but every later write failed until a reopen. Found by
committing single inserts into a freshly packed index (its map exactly full) while the
automatic snapshot's thread held a read.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import lmdb
import pytest

import driftdb
from driftdb.index.store import FIRST_MAP_BYTES, OPEN_ATTEMPTS, TableIndex


def _data_bytes(path: Path) -> int:
    return (path / "tables" / "t" / "indexes" / "data.mdb").stat().st_size


class BusyReaders:
    """Threads that keep reads of `t` open back to back, overlapping each other, so that
    there is rarely a moment with no read open; errors are kept for the test to check."""

    def __init__(self, db: driftdb.Database, threads: int) -> None:
        self.db = db
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.workers = [threading.Thread(target=self._read, daemon=True) for _ in range(threads)]
        for worker in self.workers:
            worker.start()

    def _read(self) -> None:
        table = self.db.table("t")
        try:
            while not self.stop.is_set():
                with self.db.view_of(table) as view:
                    view.get(1, 2**64 - 1)
                    self.stop.wait(0.005)
        except BaseException as exc:  # reported by the test, never swallowed
            self.errors.append(exc)

    def finish(self) -> None:
        self.stop.set()
        for worker in self.workers:
            worker.join()


def test_a_write_that_must_grow_the_map_waits_for_another_threads_read(tmp_path: Path) -> None:
    """The unit: a read held by another thread while writes fill the map past three quarters.
    The write that needs the room waits for the read to close, then grows the map (before
    the fix it failed with MDB_MAP_FULL)."""
    index = TableIndex(str(tmp_path / "indexes"), (), False, "t")
    opened, closed = threading.Event(), threading.Event()

    def hold_a_read() -> None:
        reader = index.read()
        opened.set()
        closed.wait(0.3)  # closes on its own: the writer waits for it
        reader.close()

    holder = threading.Thread(target=hold_a_read)
    holder.start()
    opened.wait()
    first_map = int(index.env.info()["map_size"])
    value = b"v" * 8000  # (overflow pages: the map fills in a few hundred puts)
    try:
        for n in range(3 * first_map // len(value)):

            def put_one(txn: Any, n: int = n) -> None:
                txn.put(n.to_bytes(8, "big"), value, db=index.keys)

            index._write(put_one)
    finally:
        closed.set()
        holder.join()
    assert int(index.env.info()["map_size"]) > first_map
    with index.read() as reader:
        assert reader.txn is not None
    index.close()


def test_overlapping_reads_of_four_threads_while_the_index_triples(tmp_path: Path) -> None:
    """Stress: no failure and no deadlock between the reads (which wait while a grow waits)
    and the writer (which waits for them) as the index grows three times past its first map."""
    db = driftdb.open(tmp_path / "db", create=True)
    table = db.create_table("t", indexes=["s", "c"])
    table.insert({"id": 1, "s": "x", "c": "y"})
    readers = BusyReaders(db, threads=4)
    key = 2
    try:
        while _data_bytes(tmp_path / "db") < 3 * FIRST_MAP_BYTES:
            docs = [
                {
                    "id": key + i,
                    "s": f"status-{(key + i) % 7}",
                    "c": f"c-{key + i}",
                    "pad": "p" * 80,
                }
                for i in range(500)
            ]
            table.insert_many(docs)
            key += len(docs)
    finally:
        readers.finish()
    assert readers.errors == []
    assert db.execute("SELECT COUNT(*) FROM t").rows == [{"count": key - 1}]
    table.insert({"id": key, "s": "x"})  # the writer was not stopped
    db.close()
    with driftdb.open(tmp_path / "db", readonly=True) as again:
        assert again.execute("SELECT COUNT(*) FROM t").rows == [{"count": key}]


def test_single_commits_into_a_packed_index_while_a_read_is_open(tmp_path: Path) -> None:
    """A packed index's map is exactly its file: the first write after reopening must grow
    it, and a read held by another thread must not make that write fail."""
    with driftdb.open(tmp_path / "db", create=True) as db:
        table = db.create_table("t", indexes=["s"])
        for start in range(0, 60_000, 1000):
            table.insert_many(
                [{"id": k, "s": f"s{k % 5}", "pad": "q" * 200} for k in range(start, start + 1000)]
            )
    # (closing packed the index when it was large enough: docs/format.md, "Packing")
    db = driftdb.open(tmp_path / "db")
    table = db.table("t")
    opened, release = threading.Event(), threading.Event()

    def hold_a_read() -> None:
        with db.view_of(table):
            opened.set()
            release.wait(0.5)

    holder = threading.Thread(target=hold_a_read)
    holder.start()
    opened.wait()
    try:
        for k in range(60_000, 60_300):
            table.insert({"id": k, "s": "new"})
    finally:
        release.set()
        holder.join()
    assert db.execute("SELECT COUNT(*) FROM t WHERE s = 'new'").rows == [{"count": 300}]
    db.close()


def test_a_reader_opens_again_when_the_writer_grew_the_map_under_its_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LMDB refuses a reader process's first transaction when the writer grew the map
    between the reader's open and that transaction (MapResizedError: seen in the snapshot
    child during a 1M-event load). The reader opens again; only a map that keeps moving for
    OPEN_ATTEMPTS opens fails."""
    with driftdb.open(tmp_path / "db", create=True) as db:
        db.create_table("t", indexes=["s"]).insert({"id": 1, "s": "x"})
    real = TableIndex._open_once
    failures = [lmdb.MapResizedError("grown")] * 2

    def interrupted(self: TableIndex, first: bool) -> None:
        real(self, first)
        if failures:
            raise failures.pop()

    monkeypatch.setattr(TableIndex, "_open_once", interrupted)
    directory = str(tmp_path / "db" / "tables" / "t" / "indexes")
    index = TableIndex(directory, ("s",), True, "t")
    try:
        assert failures == []
        with index.read() as reader:
            assert reader.covered() is not None
    finally:
        index.close()
    failures += [lmdb.MapResizedError("grown")] * OPEN_ATTEMPTS
    with pytest.raises(lmdb.MapResizedError):
        TableIndex(directory, ("s",), True, "t")
