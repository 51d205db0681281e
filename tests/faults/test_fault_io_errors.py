"""I/O errors (EIO) at every call site in turn: write, fsync, directory fsync, rename,
open_append, truncate and remove.

A counting file layer runs a representative workload once (API writes of every kind, segment
rotation, a snapshot and a compaction when they exist, close, a reopen that truncates a torn
tail) to learn how many calls of each kind it makes; then the workload runs again failing the
k-th call of one kind, for each k ($DRIFTDB_FAULT_SAMPLE of them per kind, 0 = all). After each
run the database is reopened without faults and checked against the replay of its log.
"""

from __future__ import annotations

import random
import warnings
from collections import Counter
from pathlib import Path

import pytest
from crash_support import record_figures
from fault_support import KINDS, FaultLayer, Outcome, count_calls, pick, run_with_fault

import driftdb
from driftdb.storage import fs

_CACHE: dict[str, list[Outcome]] = {}


@pytest.fixture(scope="module")
def calls(tmp_path_factory: pytest.TempPathFactory) -> Counter[str]:
    return count_calls(tmp_path_factory.mktemp("count"))


def outcomes(
    kind: str, calls: Counter[str], tmp_path_factory: pytest.TempPathFactory
) -> list[Outcome]:
    if kind not in _CACHE:
        base = tmp_path_factory.mktemp(f"fault-{kind}")
        ks = pick(list(range(1, calls[kind] + 1)), random.Random(kind))
        _CACHE[kind] = [run_with_fault(base, kind, k) for k in ks]
        labels = Counter(o.label() for o in _CACHE[kind])
        record_figures(
            "faults",
            f"eio-{kind}",
            injected=len(_CACHE[kind]),
            outcomes=dict(labels),
            lost=sum(o.verdict.lost for o in _CACHE[kind]),
            invented=sum(o.verdict.invented for o in _CACHE[kind]),
            unopenable=sum(o.reopen_error is not None for o in _CACHE[kind]),
        )
    return _CACHE[kind]


def test_the_workload_reaches_every_kind_of_call(calls: Counter[str]) -> None:
    for kind in ("write", "fsync", "fsync_dir", "rename", "open_append", "truncate"):
        assert calls[kind] > 0, f"the workload makes no {kind} call: {dict(calls)}"


@pytest.mark.parametrize("kind", KINDS)
def test_io_error_at_any_call_loses_nothing_acknowledged_and_the_database_reopens(
    kind: str, calls: Counter[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    if not calls[kind]:
        pytest.skip(f"the workload makes no {kind} call")
    bad = []
    for o in outcomes(kind, calls, tmp_path_factory):
        if o.reopen_error or o.verdict.problems:
            bad.append(
                f"{kind} #{o.k} (in {o.fired_in}, raised {o.label()}): "
                f"{o.reopen_error or ''} {o.verdict.problems[:3]}"
            )
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("kind", KINDS)
def test_io_error_at_any_call_raises_a_drift_error_never_a_bare_os_error(
    kind: str, calls: Counter[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    if not calls[kind]:
        pytest.skip(f"the workload makes no {kind} call")
    leaks = [
        f"{kind} #{o.k} in {o.fired_in}: {o.label()}: {o.message}"
        for o in outcomes(kind, calls, tmp_path_factory)
        if o.leaked
    ]
    assert not leaks, "\n".join(leaks)


@pytest.mark.parametrize("kind", ["write", "fsync"])
def test_after_a_failed_write_or_fsync_the_writer_refuses_writes_until_reopened(
    kind: str, calls: Counter[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    wrong = [
        f"{kind} #{o.k} in {o.fired_in}: raised {o.label()}, next write "
        f"{'refused' if o.stopped else 'accepted'}"
        for o in outcomes(kind, calls, tmp_path_factory)
        if o.stopped is not None and not o.stopped
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("kind", ["truncate", "open_append"])
def test_io_error_during_open_raises_drift_io_error_and_loses_nothing(
    tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "db"
    with driftdb.open(path, create=True) as db:
        db.create_table("t").insert({"id": 1})
    with open(path / "tables/t/segments/00000001.seg", "ab") as handle:
        handle.write(b"\x40\x00\x00\x00torn")  # a torn tail: open must truncate it
    with fs.use(FaultLayer(kind, 1)), pytest.raises(driftdb.DriftIOError) as info:
        driftdb.open(path)
    assert "injected Input/output error" in str(info.value)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        db = driftdb.open(path)
    if kind == "truncate":  # (a failed open_append comes after the truncation: nothing left)
        assert any("torn final frame" in str(w.message) for w in caught)
    with db:  # and nothing was lost
        assert db.table("t").get(1) == {"id": 1}
