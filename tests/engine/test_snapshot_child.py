"""Automatic snapshots are taken by a child process (engine/snapshot_child.py) while the
writer's background thread waits for it. Checked against the log replay (the reference):
- every snapshot the child writes holds the rows the replay gives at its seq, also when
  commits race a child that is still running (never a later state);
- a child that fails warns with its message; the log and the indexes are intact and later
  snapshots are taken; a child that cannot be started is replaced by the thread;
- close waits for a running child; the child never writes the index, and stops if the writer
  that started it is gone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import driftdb
from driftdb.engine import snapshot_child
from driftdb.model.replay import state_at
from driftdb.storage.paths import list_snapshots, snapshot_name
from driftdb.storage.snapshot import read_snapshot
from driftdb.storage.tail import read_tail
from helpers.depth import examples

KEYS: list[int | str] = [1, 2, 3, "a", "b"]


def replayed(db_path: Path) -> list[Any]:
    segments = db_path / "tables" / "t" / "segments"
    return [item.event for item in read_tail(str(segments), None).located]


def snapshots_match_the_replay(db_path: Path) -> list[int]:
    """Every plain snapshot of table t equals the replay at its seq; their seqs."""
    directory = str(db_path / "tables" / "t" / "snapshots")
    events = replayed(db_path)
    seqs = list_snapshots(directory)
    for seq in seqs:
        info, rows = read_snapshot(os.path.join(directory, snapshot_name(seq)))
        assert info.seq == seq
        assert dict(rows) == state_at(events, seq, "id"), seq
    return seqs


def apply(db: driftdb.Database, table: driftdb.Table, op: tuple[str, Any, int]) -> list[int]:
    kind, key, n = op
    try:
        if kind == "insert":
            return [table.insert({"id": key, "n": n, "pad": "x" * n})]
        if kind == "patch":
            return [table.patch(key, {"n": n})]
        if kind == "delete":
            return [table.soft_delete(key)]
        with db.batch():
            return [table.insert({"id": f"{key}-b", "n": n}), table.soft_delete(f"{key}-b")]
    except (driftdb.DuplicateKeyError, driftdb.KeyNotFoundError):
        return []


operation = st.tuples(
    st.sampled_from(["insert", "patch", "delete", "batch"]),
    st.sampled_from(KEYS),
    st.integers(0, 40),
)


@pytest.fixture
def child_runs(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """What every `snapshot_child.run` returned (True: the child took the snapshot)."""
    runs: list[bool] = []
    real = snapshot_child.run

    def recording(directory: str, seq: int, unix_ms: int) -> bool:
        runs.append(real(directory, seq, unix_ms))
        return runs[-1]

    monkeypatch.setattr(snapshot_child, "run", recording)
    return runs


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Snapshot children start only once the returned file exists (a shell waits for it,
    then becomes the child): a test decides when the child reads the index."""
    flag = tmp_path / "release"
    real = snapshot_child.child_argv
    wait = 'i=0; while [ ! -e "$0" ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done; exec "$@"'

    def held_argv(directory: str, seq: int, unix_ms: int) -> list[str]:
        return ["sh", "-c", wait, str(flag), *real(directory, seq, unix_ms)]

    monkeypatch.setattr(snapshot_child, "child_argv", held_argv)
    yield flag
    flag.touch()  # never leave a child waiting


@settings(
    max_examples=examples(8),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operation, min_size=1, max_size=30), every=st.integers(1, 8))
def test_every_snapshot_the_child_writes_is_the_replay_at_its_seq(
    tmp_path_factory: Any, child_runs: list[bool], ops: list[tuple[str, Any, int]], every: int
) -> None:
    path = tmp_path_factory.mktemp("child") / "db"
    del child_runs[:]
    with warnings.catch_warnings():
        warnings.simplefilter("error", driftdb.DriftWarning)  # no snapshot may fail
        with driftdb.open(path, create=True) as db:
            table = db.create_table("t", options={"snapshot_every_events": every})
            for op in ops:
                apply(db, table, op)
            table.finish_snapshot()
    assert all(child_runs)  # taken by a child every time, never by the thread
    seqs = snapshots_match_the_replay(path)
    assert bool(seqs) == bool(child_runs)
    assert len(seqs) <= 1  # pruned to snapshots_keep (1) by the writer


def test_commits_racing_a_running_child_are_acknowledged_and_it_snapshots_its_seq(
    db_path: Path, held: Path, child_runs: list[bool]
) -> None:
    with driftdb.open(db_path, create=True) as db:
        table = db.create_table("t", options={"snapshot_every_events": 10, "snapshots_keep": 5})
        seqs = [table.insert({"id": i, "n": 0}) for i in range(10)]  # the 10th is due
        thread = table._snapshot_thread
        assert thread is not None and thread.is_alive()  # held: has not read anything yet
        # Commits while the child waits: they change the rows it will read, and one is due.
        for i in range(10):
            seqs.append(table.patch(i, {"n": 1}))
        seqs.append(table.soft_delete(3))
        seqs += [table.insert({"id": 100 + i}) for i in range(9)]
        assert seqs == list(range(1, 31))  # every commit acknowledged, in order
        assert table.count() == 18  # (a read: the indexes now hold every commit)
        held.touch()
        table.finish_snapshot()
        assert table.get(3) is None
    assert child_runs == [True, True]  # the one due while the first ran came after it
    assert snapshots_match_the_replay(db_path) == [10, 30]
    _, rows = read_snapshot(str(db_path / "tables/t/snapshots/10.snap"))
    assert dict(rows) == {i: {"id": i, "n": 0} for i in range(10)}  # not a later state


def test_a_failing_child_warns_with_its_message_and_later_snapshots_are_taken(
    db_path: Path, child_runs: list[bool]
) -> None:
    with driftdb.open(db_path, create=True) as db:
        table = db.create_table("t", options={"snapshot_every_events": 3, "snapshots_keep": 3})
        os.makedirs(os.path.join(table.snapshots_dir, "3.snap.tmp"))  # its temp file can't be
        with pytest.warns(driftdb.DriftWarning) as caught:
            for i in range(3):
                table.insert({"id": i})
            table.finish_snapshot()
        [message] = [str(w.message) for w in caught]
        assert 'automatic snapshot of table "t" failed' in message
        assert "snapshot process exited with status 1: IsADirectoryError" in message
        assert "3.snap.tmp" in message and "Traceback" not in message
        assert list_snapshots(table.snapshots_dir) == []
        for i in range(3, 6):
            table.insert({"id": i})
        table.finish_snapshot()
        assert [table.get(i) for i in range(6)] == [{"id": i} for i in range(6)]
    assert child_runs == [True]  # the failed run raised: only the later one returned
    assert snapshots_match_the_replay(db_path) == [6]
    os.rmdir(db_path / "tables/t/snapshots/3.snap.tmp")
    with driftdb.open(db_path) as again:  # the log and index are intact
        assert again.table("t").count() == 6
        assert again.notes == []


def test_a_child_that_cannot_start_is_replaced_by_the_thread(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", str(db_path.parent / "no-such-python"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", driftdb.DriftWarning)
        with driftdb.open(db_path, create=True) as db:
            table = db.create_table("t", options={"snapshot_every_events": 4})
            for i in range(6):
                table.insert({"id": i, "n": i})
            table.patch(1, {"n": 9})
            table.insert({"id": 9})
            table.finish_snapshot()
    assert snapshots_match_the_replay(db_path) == [8]


def test_a_frozen_application_takes_its_snapshots_in_the_thread(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, child_runs: list[bool]
) -> None:
    """sys.executable of a frozen application is the application: never run it with -m."""
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    with driftdb.open(db_path, create=True) as db:
        table = db.create_table("t", options={"snapshot_every_events": 3})
        for i in range(3):
            table.insert({"id": i})
        table.finish_snapshot()
    assert child_runs == [False]
    assert snapshots_match_the_replay(db_path) == [3]


def test_close_waits_for_a_running_child(db_path: Path, held: Path) -> None:
    db = driftdb.open(db_path, create=True)
    table = db.create_table("t", options={"snapshot_every_events": 5})
    for i in range(5):
        table.insert({"id": i})
    closer = threading.Thread(target=db.close)
    closer.start()
    closer.join(0.5)
    assert closer.is_alive()  # waiting for the held child
    held.touch()
    closer.join(60)
    assert not closer.is_alive()
    names = sorted(os.listdir(db_path / "tables" / "t" / "snapshots"))
    assert names == ["5.snap"]  # published before close returned; no temp file left
    assert snapshots_match_the_replay(db_path) == [5]


def test_the_child_imports_the_writers_driftdb_first(monkeypatch: pytest.MonkeyPatch) -> None:
    mine = str(Path(snapshot_child.__file__).resolve().parent.parent.parent)
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    assert snapshot_child.child_env()["PYTHONPATH"].split(os.pathsep) == [mine, "/elsewhere"]
    monkeypatch.delenv("PYTHONPATH")
    assert snapshot_child.child_env()["PYTHONPATH"] == mine


def test_a_driftdb_in_the_working_directory_is_not_the_one_the_child_runs(
    db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    impostor = tmp_path / "cwd" / "driftdb"
    impostor.mkdir(parents=True)
    (impostor / "__init__.py").write_text("raise SystemExit('the wrong driftdb')\n")
    monkeypatch.chdir(impostor.parent)
    with warnings.catch_warnings():
        warnings.simplefilter("error", driftdb.DriftWarning)
        with driftdb.open(db_path, create=True) as db:
            table = db.create_table("t", options={"snapshot_every_events": 2})
            table.insert({"id": 1})
            table.insert({"id": 2})
            table.finish_snapshot()
    assert snapshots_match_the_replay(db_path) == [2]


def run_child(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", snapshot_child.MODULE, *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=snapshot_child.child_env(),
        timeout=120,
    )


def closed_table(db_path: Path) -> tuple[str, int]:
    with driftdb.open(db_path, create=True) as db:
        table = db.create_table("t")
        for i in range(20):
            table.insert({"id": i, "n": i})
        table.soft_delete(4)
        return table.directory, db.head()


def test_the_child_reads_the_index_and_writes_nothing_else(db_path: Path) -> None:
    directory, head = closed_table(db_path)
    indexes = Path(directory) / "indexes"
    watched = [
        indexes / "data.mdb",
        indexes / "synced",
        *sorted(Path(directory, "segments").iterdir()),
    ]
    before = [p.read_bytes() for p in watched]
    done = run_child(directory, str(head), "1234", str(os.getpid()))
    assert (done.returncode, done.stderr) == (0, "")
    assert [p.read_bytes() for p in watched] == before
    assert snapshots_match_the_replay(db_path) == [head]
    assert read_snapshot(str(Path(directory) / "snapshots" / f"{head}.snap"))[0].unix_ms == 1234


@pytest.mark.parametrize(
    "args, status, said",
    [
        ((), 2, "usage: python -m driftdb.engine.snapshot_child"),
        (("{dir}", "x", "1", "{pid}"), 2, "usage:"),
        (("{dir}", "999", "1", "{pid}"), 1, "the index covers up to @seq:21, not @seq:999"),
        (("{dir}", "21", "1", "1"), 1, "the writer (pid 1) that started this snapshot has exited"),
        (("{dir}/nothing", "21", "1", "{pid}"), 1, "Error"),
    ],
)
def test_a_failing_child_says_why_in_one_line(
    db_path: Path, args: tuple[str, ...], status: int, said: str
) -> None:
    directory, head = closed_table(db_path)
    assert head == 21
    done = run_child(*(a.format(dir=directory, pid=os.getpid()) for a in args))
    assert done.returncode == status
    assert said in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert list_snapshots(str(Path(directory) / "snapshots")) == []
