"""Separate processes racing: two writers for the lock, readers against a writer that rotates
segments, snapshots and compacts. $DRIFTDB_RACE_SECONDS sets how long the readers run (4 s)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from crash_support import record_figures

import driftdb

CHILD = str(Path(__file__).with_name("concurrency_children.py"))
SECONDS = float(os.environ.get("DRIFTDB_RACE_SECONDS", "4"))
ROUNDS = int(os.environ.get("DRIFTDB_LOCK_ROUNDS", "4"))


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, CHILD, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def expect_line(proc: subprocess.Popen[str], text: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line == text, f"child said {line!r}, not {text!r}"


def go(procs: list[subprocess.Popen[str]], delay_s: float = 0.2) -> None:
    """Once every child is ready (imported, waiting), give them all one start time."""
    for proc in procs:
        expect_line(proc, "ready")
    start_at = f"{time.time() + delay_s:.3f}\n"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(start_at)
        proc.stdin.flush()


def result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"child failed ({proc.returncode}): {err[-2000:]}"
    parsed: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return parsed


def test_two_writers_racing_for_the_lock_exactly_one_wins(tmp_path: Path) -> None:
    path = tmp_path / "db"
    driftdb.open(path, create=True).close()
    outcomes = []
    for _ in range(ROUNDS):
        procs = [start("lock", str(path), "1.0") for _ in range(2)]
        go(procs)
        round_results = [result(p) for p in procs]
        outcomes.append(sorted(str(r["result"]) for r in round_results))
        for r in round_results:
            if r["result"] == "locked":
                message = str(r["message"])
                assert "is locked by another writer (" in message, message
                assert "with --lock-timeout SECONDS (lock_timeout_s in Python)" in message, message
    record_figures(
        "faults",
        "lock-race",
        injected=len(outcomes),
        outcomes={"one-winner": sum(o == ["locked", "won"] for o in outcomes)},
    )
    assert all(o == ["locked", "won"] for o in outcomes), outcomes


def test_a_writer_with_a_lock_timeout_waits_for_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "db"
    driftdb.open(path, create=True).close()
    holder = start("lock", str(path), "1.0")
    go([holder], delay_s=0)
    expect_line(holder, "holding")
    with pytest.raises(driftdb.LockedError):
        driftdb.open(path)
    began = time.monotonic()
    with driftdb.open(path, lock_timeout_s=30):
        waited = time.monotonic() - began
    assert result(holder)["result"] == "won"
    assert 0.05 < waited < 30, waited


def test_readers_never_see_a_torn_or_half_applied_batch(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with driftdb.open(path, create=True) as db:
        db.create_table("t", indexes=["batch"], options={"segment_size_bytes": 4096})
        db.create_table("u")
    writer = start("writer", str(path), str(SECONDS))
    readers = [start("reader", str(path), str(SECONDS)) for _ in range(2)]
    wrote = result(writer)
    seen = [result(r) for r in readers]
    reads = sum(int(s["reads"]) for s in seen)
    problems = [p for s in seen for p in s["problems"]]
    errors: dict[str, int] = {}
    for s in seen:
        for name, n in s["errors"].items():
            errors[name] = errors.get(name, 0) + n
    record_figures(
        "faults",
        "readers-during-writes",
        injected=reads,
        outcomes={
            "whole": reads - len(problems),
            "torn": len(problems),
            **errors,
            "history unavailable (horizon)": sum(int(s["history_unavailable"]) for s in seen),
        },
        writer=wrote,
    )
    assert wrote.get("batches", 0) > 5, wrote
    assert len(list(path.glob("tables/t/segments/*.seg"))) >= 1
    assert reads > 10, seen
    assert not problems, problems[:10]
    messages = [m for s in seen for m in s["messages"]]
    assert not errors, f"readers got errors while the writer worked: {errors} {messages}"
