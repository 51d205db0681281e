"""Group commit and background snapshots, checked against the log replay (the reference).

Several threads write to one database at once, each its own single durable statements (and
some small batches), while automatic snapshots are due every few events and run in the
background; another thread reads all along. Afterwards:
- the seqs handed out are exactly 1..head, each once, and every failing statement wrote
  nothing (a refused duplicate or a patch of a missing key leaves no event);
- every write was readable at its own seq as soon as its call returned (a read in the
  writer's process catches the write-behind indexes up first), and what a reader saw was the
  replay's answer at some seq;
- at every seq, get, count and indexed WHERE equal the replay of the whole log, in the writer,
  after a reopen, and from every snapshot left on disk (each equals the replay at its seq);
- plain snapshots are pruned to `snapshots_keep`.
"""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import driftdb
from driftdb.model.replay import state_at
from driftdb.storage.paths import list_snapshots, snapshot_name
from driftdb.storage.snapshot import read_snapshot
from driftdb.storage.tail import read_tail
from helpers.depth import examples

KEYS: list[int | str] = [1, 2, 3, 4, "a", "b"]
STATUS = st.sampled_from(["new", "paid", 1, None])

operation = st.one_of(
    st.tuples(st.just("insert"), st.sampled_from(KEYS), STATUS),
    st.tuples(st.just("patch"), st.sampled_from(KEYS), STATUS),
    st.tuples(st.just("delete"), st.sampled_from(KEYS), st.none()),
    st.tuples(st.just("batch"), st.sampled_from(KEYS), STATUS),
)
program = st.lists(st.lists(operation, min_size=1, max_size=12), min_size=2, max_size=6)


def run_op(db: driftdb.Database, table: driftdb.Table, op: tuple[str, Any, Any]) -> list[int]:
    """One statement (or a batch of two); the seqs it returned, [] if it was refused."""
    kind, key, status = op
    try:
        if kind == "insert":
            return [table.insert({"id": key, "status": status})]
        if kind == "patch":
            return [table.patch(key, {"status": status, "n": 1})]
        if kind == "delete":
            return [table.soft_delete(key)]
        with db.batch():
            first = table.insert({"id": f"{key}-b", "status": status})
            second = table.soft_delete(f"{key}-b")
        return [first, second]
    except (driftdb.DuplicateKeyError, driftdb.KeyNotFoundError):
        return []


def replayed(path: Path) -> list[Any]:
    return [item.event for item in read_tail(str(path / "tables" / "t" / "segments"), None).located]


def check_against_replay(table: driftdb.Table, events: list[Any], head: int) -> None:
    keys = sorted({e.key for e in events}, key=repr)
    for seq in range(head + 1):
        state = state_at(events, seq, "id")
        assert table.count(as_of=seq) == len(state), seq
        for key in keys:
            assert table.get(key, as_of=seq) == state.get(key), (seq, key)
        for status in ("new", "paid", 1):
            want = {k for k, row in state.items() if row.get("status") == status}
            got = {row["id"] for row in table.select({"status": status}, as_of=seq)}
            assert got == want, (seq, status)


@settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(threads=program, keep=st.integers(1, 3), every=st.integers(1, 6))
def test_concurrent_single_commits_match_the_replay_and_snapshots_are_pruned(
    tmp_path_factory: Any, threads: list[list[tuple[str, Any, Any]]], keep: int, every: int
) -> None:
    path = tmp_path_factory.mktemp("group") / "db"
    db = driftdb.open(path, create=True)
    table = db.create_table(
        "t",
        indexes=["status"],
        options={"snapshot_every_events": every, "snapshots_keep": keep},
    )
    returned: list[list[int]] = [[] for _ in threads]
    seen_at_return: list[tuple[int, Any, Any]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def writer(number: int) -> None:
        try:
            for op in threads[number]:
                seqs = run_op(db, table, op)
                returned[number] += seqs
                if seqs and op[0] != "batch":
                    # acknowledged means readable here at its own seq at once (a read catches the
                    # write-behind indexes up)
                    seen_at_return.append((seqs[-1], op[1], table.get(op[1], as_of=seqs[-1])))
        except BaseException as exc:
            errors.append(exc)

    reads: list[tuple[int, int]] = []

    def reader() -> None:
        try:
            while not done.is_set():
                with table.view() as view:
                    covered = view.last_seq()
                reads.append((covered, table.count(as_of=max(covered, 0))))
        except BaseException as exc:
            errors.append(exc)

    with warnings.catch_warnings():
        warnings.simplefilter("error", driftdb.DriftWarning)  # no snapshot may fail
        workers = [threading.Thread(target=writer, args=(i,)) for i in range(len(threads))]
        watcher = threading.Thread(target=reader)
        watcher.start()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        done.set()
        watcher.join()
        table.finish_snapshot()
    assert not errors, errors

    head = db.head()
    all_seqs = sorted(s for seqs in returned for s in seqs)
    assert all_seqs == list(range(1, head + 1))  # no gap, no seq twice, no refused write
    events = replayed(path)
    assert [e.seq for e in events] == all_seqs
    for seq, key, row in seen_at_return:
        assert row == state_at(events, seq, "id").get(key)
    for covered, count in reads:
        assert count == len(state_at(events, max(covered, 0), "id"))

    check_against_replay(table, events, head)
    snapshots_dir = os.path.join(str(path), "tables", "t", "snapshots")
    kept = list_snapshots(snapshots_dir) if os.path.isdir(snapshots_dir) else []
    assert len(kept) <= keep
    for seq in kept:
        info, rows = read_snapshot(os.path.join(snapshots_dir, snapshot_name(seq)))
        assert dict(rows) == state_at(events, info.seq, "id")
    db.close()
    with driftdb.open(path) as again:
        check_against_replay(again.table("t"), events, head)


def test_a_failed_group_fsync_acknowledges_nothing_and_stops_the_writer(tmp_path: Path) -> None:
    """Every thread whose statement shared a failing fsync gets an error; none gets a seq."""
    from driftdb.storage import fs

    db = driftdb.open(tmp_path / "db", create=True)
    table = db.create_table("t")
    table.insert({"id": 0})

    class FailingSync(fs.FileLayer):
        def fsync(self, fd: int) -> None:
            raise OSError(5, "Input/output error")

    results: list[object] = []

    def write(key: int) -> None:
        try:
            results.append(table.insert({"id": key}))
        except driftdb.DriftError as exc:
            results.append(exc)

    with fs.use(FailingSync()):
        workers = [threading.Thread(target=write, args=(k,)) for k in range(1, 9)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert len(results) == 8
    assert all(isinstance(r, driftdb.DriftError) for r in results), results
    try:
        table.insert({"id": 99})
        raise AssertionError("the writer must be stopped")
    except driftdb.WriterStoppedError:
        pass
    db.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", driftdb.DriftWarning)
        with driftdb.open(tmp_path / "db") as again:
            assert again.table("t").get(0) == {"id": 0}
