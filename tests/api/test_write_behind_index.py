"""Write-behind indexes (engine/commit.py): a commit is acknowledged once its frames are
fsynced, and the indexes catch up later (when they lag too far, at a read, at close).

Checked against the log replay (the reference):
- the indexes really lag (a test of this module can fail if they are applied inline), yet
  never cover an event that is not durable, and catch up at a read and at close;
- with any lag bound, single commits (duplicates and patches of keys only `pending` holds
  included) are validated as a replay would, and every read in the writer's process, in a
  read-only open and in a second process, equals the replay at the head it saw;
- a kill (no close) after acknowledged commits loses none of them: reopening indexes them;
- an index that fails to catch up stops the writer and says the writes are durable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import driftdb
from driftdb.engine import commit
from driftdb.model.replay import state_at
from driftdb.storage.tail import read_tail
from helpers.depth import examples

KEYS: list[int | str] = [1, 2, 3, "a"]
STATUS = st.sampled_from(["new", "paid", 7, None])
operation = st.one_of(
    st.tuples(st.just("insert"), st.sampled_from(KEYS), STATUS),
    st.tuples(st.just("patch"), st.sampled_from(KEYS), STATUS),
    st.tuples(st.just("delete"), st.sampled_from(KEYS), st.none()),
    st.tuples(st.just("batch"), st.sampled_from(KEYS), STATUS),
    st.tuples(st.just("read"), st.sampled_from(KEYS), st.none()),
)


def replayed(path: Path) -> list[Any]:
    segments = str(path / "tables" / "t" / "segments")
    return [item.event for item in read_tail(segments, None).located]


def covered_seq(table: driftdb.Table) -> int:
    """What the index covers, read directly (no catch-up first)."""
    assert table.index is not None
    with table.index.read() as reader:
        covered = reader.covered()
    return covered.seq if covered is not None else 0


def run(db: driftdb.Database, table: driftdb.Table, op: tuple[str, Any, Any]) -> None:
    kind, key, status = op
    try:
        if kind == "insert":
            table.insert({"id": key, "status": status})
        elif kind == "patch":
            table.patch(key, {"status": status})
        elif kind == "delete":
            table.soft_delete(key)
        elif kind == "batch":
            with db.batch():
                table.insert({"id": f"{key}-b", "status": status})
                table.patch(f"{key}-b", {"n": 1})
    except (driftdb.DuplicateKeyError, driftdb.KeyNotFoundError):
        pass


def lag_bound(monkeypatch: pytest.MonkeyPatch, events: int) -> None:
    monkeypatch.setattr(commit, "INDEX_LAG_EVENTS", events)
    monkeypatch.setattr(commit, "INDEX_LAG_S", 3600.0)


def test_the_indexes_lag_the_acknowledged_log_and_catch_up_at_a_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lag_bound(monkeypatch, 1000)
    path = tmp_path / "db"
    db = driftdb.open(path, create=True)
    table = db.create_table("t", indexes=["status"])
    for n in range(5):
        table.insert({"id": n, "status": "new"})
    table.patch(0, {"status": "paid"})
    assert db.head() == 6
    assert covered_seq(table) < 6  # acknowledged before the index held it
    with pytest.raises(driftdb.DuplicateKeyError):
        table.insert({"id": 4, "status": "x"})  # only `pending` knows key 4 yet
    assert table.get(0) == {"id": 0, "status": "paid"}  # a read catches the index up
    assert covered_seq(table) == 6
    table.insert({"id": 9})
    db.close()
    with driftdb.open(path, readonly=True) as again:
        assert again.table("t").count() == 6
        assert covered_seq(again.table("t")) == 7  # close caught the index up


def test_the_leader_catches_up_once_the_lag_reaches_its_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lag_bound(monkeypatch, 3)
    db = driftdb.open(tmp_path / "db", create=True)
    table = db.create_table("t")
    seen = []
    for n in range(7):
        table.insert({"id": n})
        seen.append(covered_seq(table))
    assert seen == [0, 0, 3, 3, 3, 6, 6]
    db.close()


@settings(
    max_examples=examples(30),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operation, min_size=1, max_size=25), bound=st.sampled_from([1, 2, 5, 10**6]))
def test_reads_and_validation_with_any_lag_equal_the_replay(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    ops: list[tuple[str, Any, Any]],
    bound: int,
) -> None:
    lag_bound(monkeypatch, bound)
    path = tmp_path_factory.mktemp("wb") / "db"
    db = driftdb.open(path, create=True)
    table = db.create_table("t", indexes=["status"])
    reader = driftdb.open(path, readonly=True)
    try:
        for op in ops:
            run(db, table, op)
            head = db.head()
            assert covered_seq(table) <= head  # never an event that is not durable
            if op[0] != "read":
                continue
            # a read-only open (no lock: reads the log after the index) sees the head...
            other = reader.table("t")
            want = state_at(replayed(path), head, "id")
            assert {r["id"]: r for r in other.select()} == want
            # ...and so does the writer's own read, which catches its index up
            assert table.get(op[1]) == want.get(op[1])
            assert {r["id"]: r for r in table.select()} == want
            assert covered_seq(table) == head
        events = replayed(path)
        assert [e.seq for e in events] == list(range(1, db.head() + 1))
        for seq in range(db.head() + 1):
            state = state_at(events, seq, "id")
            assert {r["id"]: r for r in table.select(as_of=seq)} == state
            for status in ("new", "paid", 7):
                got = {r["id"] for r in table.select({"status": status}, as_of=seq)}
                assert got == {k for k, r in state.items() if r.get("status") == status}
    finally:
        reader.close()
        db.close()


CHILD = """
import json, os, sys
from driftdb.engine import commit
import driftdb
commit.INDEX_LAG_EVENTS = int(sys.argv[2])
commit.INDEX_LAG_S = 3600.0
db = driftdb.open(sys.argv[1], create=True)
t = db.create_table("t", indexes=["status"])
for n in range(int(sys.argv[3])):
    seq = t.insert({"id": n, "status": "s%d" % (n % 3)})
    if n % 4 == 3:
        seq = t.patch(n - 1, {"status": "p"})
    print(json.dumps(seq), flush=True)
with t.index.read() as r:
    print(json.dumps(["covered", r.covered().seq if r.covered() else 0]), flush=True)
os.kill(os.getpid(), 9)
"""


@pytest.mark.parametrize("bound", [1, 5, 10**6])
def test_a_kill_with_unindexed_acknowledged_commits_loses_none(tmp_path: Path, bound: int) -> None:
    path = tmp_path / "db"
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(bound), "13"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        timeout=120,
    )
    assert child.returncode == -9, child.stderr
    lines = [json.loads(line) for line in child.stdout.splitlines()]
    acknowledged = [x for x in lines if isinstance(x, int)]
    covered = next(x[1] for x in lines if isinstance(x, list))
    assert acknowledged and covered <= acknowledged[-1]
    if bound == 10**6:
        assert covered == 0  # the kill came with every commit still unindexed
    events = replayed(path)
    assert [e.seq for e in events] == list(range(1, acknowledged[-1] + 1))
    with driftdb.open(path) as db:
        table = db.table("t")
        assert covered_seq(table) == acknowledged[-1]  # recovery indexed the tail
        for seq in range(acknowledged[-1] + 1):
            assert {r["id"]: r for r in table.select(as_of=seq)} == state_at(events, seq, "id")
            got = {r["id"] for r in table.select({"status": "p"}, as_of=seq)}
            want = state_at(events, seq, "id")
            assert got == {k for k, r in want.items() if r.get("status") == "p"}


def test_a_second_process_reads_the_acknowledged_but_unindexed_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lag_bound(monkeypatch, 10**6)
    path = tmp_path / "db"
    db = driftdb.open(path, create=True)
    table = db.create_table("t", indexes=["status"])
    for n in range(6):
        table.insert({"id": n, "status": "new"})
    table.patch(2, {"status": "paid"})
    assert covered_seq(table) == 0
    read = (
        "import sys, json, driftdb\n"
        "with driftdb.open(sys.argv[1], readonly=True) as db:\n"
        "    t = db.table('t')\n"
        "    paid = [r['id'] for r in t.select({'status': 'paid'})]\n"
        "    print(json.dumps([db.head(), t.count(), paid]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", read, str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        timeout=120,
        check=True,
    )
    assert json.loads(out.stdout) == [7, 6, [2]]
    db.close()


def test_an_index_that_fails_to_catch_up_stops_the_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lag_bound(monkeypatch, 10**6)
    path = tmp_path / "db"
    db = driftdb.open(path, create=True)
    table = db.create_table("t")
    table.insert({"id": 1})
    assert table.index is not None

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("index disk gone")

    monkeypatch.setattr(table.index, "apply", broken)
    assert table.insert({"id": 2}) == 2  # durable: acknowledged
    with pytest.raises(driftdb.DriftIOError, match="durable"):
        table.get(1)
    with pytest.raises(driftdb.DriftIOError, match="durable"):
        table.count()  # still refused: never a read that misses an acknowledged write
    with pytest.raises(driftdb.WriterStoppedError):
        table.insert({"id": 3})
    db.close()
    monkeypatch.undo()
    with driftdb.open(path) as again:
        assert again.table("t").count() == 2


@pytest.mark.parametrize("bound", [1, 3, 10**6])
def test_threads_read_their_own_acknowledged_writes_while_others_catch_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bound: int
) -> None:
    """Several threads commit single writes (leaders catching up, or skipping while another
    thread applies) and each reads its own write back at once, at its seq and now."""
    lag_bound(monkeypatch, bound)
    path = tmp_path / "db"
    db = driftdb.open(path, create=True)
    table = db.create_table("t", indexes=["status"])
    errors: list[BaseException] = []
    seen: list[tuple[int, str, Any]] = []

    def work(number: int) -> None:
        try:
            for n in range(25):
                key = f"{number}-{n % 7}"
                try:
                    seq = table.insert({"id": key, "status": n % 3})
                except driftdb.DuplicateKeyError:
                    seq = table.patch(key, {"status": n % 3, "n": n})
                now = table.get(key)
                assert now is not None and now["status"] == n % 3  # its own write, now
                seen.append((seq, key, table.get(key, as_of=seq)))
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors, errors
    events = replayed(path)
    assert [e.seq for e in events] == list(range(1, db.head() + 1)) and db.head() == 100
    for seq, key, row in seen:
        assert row == state_at(events, seq, "id")[key]
    for seq in range(0, db.head() + 1, 7):
        state = state_at(events, seq, "id")
        got = {r["id"] for r in table.select({"status": 1}, as_of=seq)}
        assert got == {k for k, r in state.items() if r.get("status") == 1}
    db.close()
