"""COMPACT keeps history: every answer at every seq is the same before and after, checked
against the reference replay of the log; and a crash at any step loses nothing."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from maint_support import (
    CountCalls,
    FailAt,
    answers,
    expected_answers,
    log_events,
    make_orders,
    replay_states,
    segment_files,
)

import driftdb
from driftdb.engine import view as view_module
from driftdb.storage import fs
from helpers.depth import examples

KEYS: list[int | str] = [1, 2, 3, "a", "b"]
VALUES = ["x", "y", None]

op = st.one_of(
    st.tuples(st.just("put"), st.sampled_from(KEYS), st.sampled_from(VALUES), st.integers(0, 9)),
    st.tuples(st.just("patch"), st.sampled_from(KEYS), st.sampled_from(VALUES), st.integers(0, 9)),
    st.tuples(st.just("delete"), st.sampled_from(KEYS), st.none(), st.none()),
    st.tuples(st.just("snapshot"), st.none(), st.none(), st.none()),
)


@contextlib.contextmanager
def snapshot_reads(mode: str) -> Iterator[None]:
    previous = view_module.SNAPSHOT_READS
    view_module.SNAPSHOT_READS = mode  # type: ignore[assignment]
    try:
        yield
    finally:
        view_module.SNAPSHOT_READS = previous


def apply_ops(db: driftdb.Database, table: driftdb.Table, ops: list[Any]) -> None:
    for kind, key, value, n in ops:
        if kind == "snapshot":
            table.snapshot()
            continue
        live = table.get(key) is not None
        if kind == "put":
            doc = {"id": key, "s": value, "n": n, "nested": {"k": n}}
            if live:
                with db.batch():  # replace = delete + insert, as one batch
                    table.soft_delete(key)
                    table.insert(doc)
            else:
                table.insert(doc)
        elif kind == "patch" and live:
            table.patch(key, {"s": value, "nested": {"k": None} if n % 2 else {"j": n}})
        elif kind == "delete" and live:
            table.soft_delete(key)


def check_every_seq(table: driftdb.Table, states: dict[int, Any]) -> None:
    for seq, state in states.items():
        got = answers(table, seq, KEYS, "s", VALUES)
        assert got == expected_answers(state, KEYS, "s", VALUES), f"at @seq:{seq}"


@settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(op, min_size=1, max_size=30), snapshots=st.integers(0, 2))
def test_every_answer_at_every_seq_survives_compaction_and_snapshots(
    ops: list[Any], snapshots: int
) -> None:
    path = tempfile.mkdtemp(prefix="driftdb-compact-")
    try:
        with driftdb.open(path, create=True) as db:
            table = db.create_table(
                "t", indexes=["s"], options={"segment_size_bytes": 200, "snapshot_every_events": 7}
            )
            apply_ops(db, table, ops)
            head = db.head()
            events = log_events(path, "t")
            assert [e.seq for e in events] == sorted({e.seq for e in events})
            states = replay_states(events, head)
            check_every_seq(table, states)
            report = table.compact()
            assert report.segments_after <= report.segments_before
            assert log_events(path, "t") == events  # the same events, byte for byte decoded
            check_every_seq(table, states)
            for _ in range(snapshots):
                table.snapshot()
            check_every_seq(table, states)
            with snapshot_reads("always"):  # every full-table read starts from a snapshot
                check_every_seq(table, states)
            history = {k: table.history(k) for k in KEYS}
        with driftdb.open(path) as db:
            table = db.table("t")
            check_every_seq(table, states)
            assert {k: table.history(k) for k in KEYS} == history
        shutil.rmtree(os.path.join(path, "tables", "t", "indexes"))
        with driftdb.open(path, readonly=True) as db:
            check_every_seq(db.table("t"), states)
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_compaction_merges_sealed_segments_and_reports_it(db: driftdb.Database) -> None:
    orders = make_orders(db, n=40, segment_size_bytes=400)
    orders.schema.options["segment_size_bytes"] = 4000  # fewer, larger segments from now on
    before = segment_files(db.path, "orders")
    active = before[-1].read_bytes()
    report = orders.compact()
    after = segment_files(db.path, "orders")
    assert report.segments_before == len(before) > report.segments_after == len(after)
    assert after[-1].name == before[-1].name and after[-1].read_bytes() == active
    assert [p.name for p in after] == [p.name for p in before[len(before) - len(after) :]]
    assert report.bytes_after < report.bytes_before  # fewer segment headers
    assert report.seconds >= 0
    assert report.snapshot is not None and report.snapshot.seq == db.head()
    assert str(report).startswith(
        f'compacted table "orders": {len(before)} -> {len(after)} segments'
    )


def test_writes_after_compaction_go_on_where_they_were(db: driftdb.Database) -> None:
    orders = make_orders(db, n=20, segment_size_bytes=300)
    orders.schema.options["segment_size_bytes"] = 5000
    orders.compact()
    seq = orders.insert({"id": 77, "status": "late"})
    assert seq == db.head()
    assert orders.get(77) == {"id": 77, "status": "late"}
    assert orders.history(3)[0].seq < seq


def _fault_points(tmp_path: Path) -> dict[str, int]:
    path = tmp_path / "count"
    with driftdb.open(path, create=True) as db:
        orders = make_orders(db, n=30, segment_size_bytes=300)
        orders.schema.options["segment_size_bytes"] = 3000
        counter = CountCalls()
        with fs.use(counter):
            orders.compact()
    return counter.counts


@pytest.mark.parametrize("kind", ["write", "fsync", "fsync_dir", "rename", "remove"])
def test_an_io_error_at_any_step_of_compaction_keeps_every_event_exactly_once(
    tmp_path: Path, kind: str
) -> None:
    calls = _fault_points(tmp_path).get(kind, 0)
    assert calls > 0
    points = sorted({1, calls, *range(1, calls + 1, max(1, calls // 6))})
    for n in points:
        path = tmp_path / f"{kind}-{n}"
        with driftdb.open(path, create=True) as db:
            orders = make_orders(db, n=30, segment_size_bytes=300)
            orders.schema.options["segment_size_bytes"] = 3000
            events = log_events(path, "orders")
            states = replay_states(events, db.head())
            layer = FailAt(kind, n)
            with fs.use(layer), pytest.raises(driftdb.DriftError):
                orders.compact()
            assert layer.fired
            with pytest.raises(driftdb.WriterStoppedError):
                orders.insert({"id": 999})
        with driftdb.open(path) as db:
            assert log_events(path, "orders") == events, f"{kind} #{n}"
            orders = db.table("orders")
            for seq in (0, len(states) // 2, len(states) - 1):
                assert answers(orders, seq, [0, 3, 1005], "status", ["paid"]) == expected_answers(
                    states[seq], [0, 3, 1005], "status", ["paid"]
                )
            assert not list((path / "tables" / "orders" / "segments").glob("*.tmp"))
            assert not (path / "tables" / "orders" / "COMPACTING").exists()


CHILD = textwrap.dedent("""
    import os, sys
    import driftdb
    from driftdb.storage import fs

    class Die(fs.FileLayer):
        def __init__(self, kind, n):
            self.kind, self.n, self.calls = kind, n, 0
        def tick(self, kind):
            if kind == self.kind:
                self.calls += 1
                if self.calls == self.n:
                    os._exit(9)  # the process dies here: no cleanup, no finally
        def rename(self, src, dst):
            self.tick("rename"); super().rename(src, dst)
        def remove(self, path):
            self.tick("remove"); super().remove(path)
        def fsync(self, fd):
            self.tick("fsync"); super().fsync(fd)

    path, kind, n, before = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    db = driftdb.open(path)
    table = db.table("orders")
    table.schema.options["segment_size_bytes"] = 3000
    with fs.use(Die(kind, n)):
        table.compact(before=int(before) if before != "-" else None)
    os._exit(0)
""")


@pytest.mark.parametrize(
    ("kind", "n", "before"),
    [
        ("rename", 1, "-"),
        ("rename", 2, "-"),
        ("remove", 1, "-"),
        ("remove", 3, "-"),
        ("fsync", 4, "-"),
        ("rename", 1, "40"),
        ("rename", 2, "40"),
        ("remove", 2, "40"),
    ],
)
def test_a_process_killed_during_compaction_reopens_with_the_old_or_the_new_log(
    tmp_path: Path, kind: str, n: int, before: str
) -> None:
    path = tmp_path / "db"
    with driftdb.open(path, create=True) as db:
        make_orders(db, n=30, segment_size_bytes=300)
        events = log_events(path, "orders")
        states = replay_states(events, db.head())
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), kind, str(n), before],
        capture_output=True,
        timeout=60,
    )
    assert child.returncode in (0, 9), child.stderr.decode()
    with driftdb.open(path) as db:
        orders = db.table("orders")
        horizon = orders.horizon()
        kept = log_events(path, "orders")
        if horizon is None:
            assert kept == events
        else:
            assert horizon == 40 and kept == [e for e in events if e.seq > 40]
        for seq in range(horizon or 0, len(states)):
            assert answers(orders, seq, [0, 3, 1005], "status", ["paid"]) == expected_answers(
                states[seq], [0, 3, 1005], "status", ["paid"]
            ), seq
        assert not (path / "tables" / "orders" / "COMPACTING").exists()
