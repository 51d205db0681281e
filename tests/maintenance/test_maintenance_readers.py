"""Readers during maintenance: a read that straddles a rewrite reads again; readers in
another process keep answering through compaction, retention and purge."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from maint_support import make_orders

import driftdb


def test_a_history_read_straddling_a_compaction_reads_again(db: driftdb.Database) -> None:
    orders = make_orders(db, n=30, segment_size_bytes=300)
    orders.schema.options["segment_size_bytes"] = 5000
    expected = orders.history(3)
    calls = []

    def read(view: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            orders.compact()  # frames move after this view's key directory was read
        return view.history(3)  # type: ignore[attr-defined]

    assert orders._read_frames(read) == expected
    assert len(calls) == 2


def test_a_reader_opened_before_maintenance_answers_correctly_after_it(db_path: Path) -> None:
    with driftdb.open(db_path, create=True) as db:
        orders = make_orders(db, n=30, segment_size_bytes=300)
        orders.schema.options["segment_size_bytes"] = 5000
        head = db.head()
        with driftdb.open(db_path, readonly=True) as reader:
            seen = reader.table("orders")
            before = {seq: list(seen.select(as_of=seq)) for seq in (10, head)}
            history = seen.history(3)
            orders.compact()
            assert {seq: list(seen.select(as_of=seq)) for seq in (10, head)} == before
            assert seen.history(3) == history
            orders.compact(before=20)
            assert seen.horizon() == 20
            assert list(seen.select(as_of=head)) == before[head]
            orders.purge(3)
            assert seen.get(3) is None and seen.get(3, as_of=head - 1) is None
            assert all(e.row is None for e in seen.history(3))


READER = textwrap.dedent("""
    import sys, time
    import driftdb
    path, head = sys.argv[1], int(sys.argv[2])
    db = driftdb.open(path, readonly=True)
    table = db.table("orders")
    want = sorted(map(repr, table.select(as_of=head)))
    deadline = time.monotonic() + float(sys.argv[3])
    reads = 0
    while time.monotonic() < deadline:
        got = sorted(map(repr, table.select(as_of=head)))
        assert got == want, "a reader saw a different answer"
        table.history(5)
        reads += 1
    print(reads)
""")


def test_a_reader_process_keeps_answering_the_same_through_compactions(
    db_path: Path,
) -> None:
    with driftdb.open(db_path, create=True) as db:
        orders = make_orders(db, n=40, segment_size_bytes=250)
        head = db.head()
        child = subprocess.Popen(
            [sys.executable, "-c", READER, str(db_path), str(head), "3"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for size in (1000, 3000, 9000, 30000):
            orders.schema.options["segment_size_bytes"] = size
            orders.compact()
            orders.snapshot()
        out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err.decode()
    assert int(out) > 0
