"""Compaction with a horizon (`Table.compact(before=...)`, which rewrites the log through its
manifest) under an I/O error at each of its file operations, and under a power cut at each of
them: afterwards the table holds either its whole history or the history from the horizon on,
and every answer allowed is the replay of the intact log; AS OF before the horizon is
HistoryUnavailableError, never a different answer."""

from __future__ import annotations

import contextlib
import random
import shutil
import warnings
from pathlib import Path

import pytest
from crash_support import (
    PowerCut,
    PowerLossLayer,
    Record,
    Workload,
    abandon,
    create_tables,
    read_log,
    record_figures,
)
from fault_support import KINDS, FaultLayer, fault_sample, pick

import driftdb
from driftdb.model.events import Event
from driftdb.model.replay import state_at
from driftdb.model.timepoint import format_unix_ms
from driftdb.storage import fs


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[Event]], int]:
    path = tmp_path_factory.mktemp("compaction") / "db"
    with driftdb.open(path, create=True) as db:
        create_tables(db)
        if not hasattr(db.table("a"), "compact"):
            pytest.skip("Table.compact is not built yet")
        workload = Workload(db, random.Random(17), "r1", Record())
        for _ in range(80):
            workload.step()
    events = read_log(path)
    seqs = [e.seq for e in events["a"]]
    return path, events, seqs[len(seqs) // 2]


def judge(db_path: Path, intact: dict[str, list[Event]], wanted: int) -> list[str]:
    """The table keeps the whole history, or history from a horizon <= wanted; every read at
    or after the horizon equals the intact replay, every read before it is refused."""
    problems = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", driftdb.DriftWarning)
        try:
            db = driftdb.open(db_path)
        except Exception as exc:
            return [f"reopen failed: {type(exc).__name__}: {exc}"]
        with db:
            for name, events in intact.items():
                table = db.table(name)
                horizon = table.horizon()
                if horizon is not None and (name != "a" or horizon > wanted):
                    problems.append(f"{name}: horizon {horizon}, asked for <= {wanted}")
                low = horizon or 0
                points = sorted(
                    {
                        0,
                        1,
                        low,
                        max(low - 1, 0),
                        wanted,
                        events[-1].seq,
                        *random.Random(name).sample([e.seq for e in events], 8),
                    }
                )
                for seq in points:
                    if seq < low:
                        try:
                            list(table.select(as_of=seq))
                            problems.append(f"{name}: AS OF {seq} < horizon {low} answered")
                        except driftdb.HistoryUnavailableError:
                            pass
                        continue
                    want = state_at(events, seq, "id")
                    got = {row["id"]: row for row in table.select(as_of=seq)}
                    if got != want or table.count(as_of=seq) != len(want):
                        problems.append(f"{name}: AS OF {seq} differs from the replay")
                    for key in list(want)[:3]:
                        if table.get(key, as_of=seq) != want[key]:
                            problems.append(f"{name}: get({key!r}) AS OF {seq} differs")
                late = [e for e in events if e.seq >= low]
                if late:
                    moment = late[len(late) // 2].unix_ms
                    upto = max(e.seq for e in events if e.unix_ms <= moment)
                    got = {r["id"]: r for r in table.select(as_of=format_unix_ms(moment))}
                    if got != state_at(events, upto, "id"):
                        problems.append(f"{name}: AS OF time {moment} differs from the replay")
                kept = [e.seq for e in read_log(db_path)[name]]
                if kept != [e.seq for e in events if e.seq > low or horizon is None]:
                    problems.append(
                        f"{name}: the log kept {len(kept)} events, not those after "
                        f"the horizon {horizon}"
                    )
            db.table("b").insert({"id": "after-compaction"})
    return problems


def count_ops(history: tuple[Path, dict[str, list[Event]], int], tmp_path: Path) -> FaultLayer:
    path, _, wanted = history
    trial = tmp_path / "count"
    shutil.copytree(path, trial)
    layer = FaultLayer()
    with driftdb.open(trial) as db, fs.use(layer):
        db.table("a").compact(before=wanted)
    return layer


def test_compaction_with_a_horizon_answers_exactly_as_before_from_the_horizon_on(
    history: tuple[Path, dict[str, list[Event]], int], tmp_path: Path
) -> None:
    path, intact, wanted = history
    trial = tmp_path / "plain"
    shutil.copytree(path, trial)
    with driftdb.open(trial) as db:
        db.table("a").compact(before=wanted)
        assert db.table("a").horizon() is not None
    assert judge(trial, intact, wanted) == []


@pytest.mark.parametrize("kind", KINDS)
def test_io_error_at_each_step_of_compaction_leaves_the_old_or_the_new_history(
    history: tuple[Path, dict[str, list[Event]], int], tmp_path: Path, kind: str
) -> None:
    path, intact, wanted = history
    calls = count_ops(history, tmp_path).calls[kind]
    if not calls:
        pytest.skip(f"compaction makes no {kind} call")
    outcomes: dict[str, int] = {}
    bad = []
    for k in pick(list(range(1, calls + 1)), random.Random(kind)):
        trial = tmp_path / f"{kind}{k}"
        shutil.copytree(path, trial)
        layer = FaultLayer(kind, k)
        with driftdb.open(trial) as db:
            try:
                with fs.use(layer):
                    db.table("a").compact(before=wanted)
                label = "absorbed"
            except driftdb.DriftError as exc:
                label = type(exc).__name__
            except Exception as exc:
                label = f"leaked {type(exc).__name__}"
                bad.append(f"{kind} #{k} in {layer.fired_in}: {label}: {exc}")
        outcomes[label] = outcomes.get(label, 0) + 1
        found = judge(trial, intact, wanted)
        bad += [f"{kind} #{k} in {layer.fired_in}: {p}" for p in found]
    record_figures(
        "faults", f"compaction-eio-{kind}", injected=sum(outcomes.values()), outcomes=outcomes
    )
    assert not bad, "\n".join(bad)


def test_power_cut_at_each_step_of_compaction_leaves_the_old_or_the_new_history(
    history: tuple[Path, dict[str, list[Event]], int], tmp_path: Path
) -> None:
    path, intact, wanted = history
    total = sum(count_ops(history, tmp_path).calls.values()) + 1
    limit = fault_sample()
    cuts = list(range(1, total + 1))
    if limit > 0:
        cuts = pick(cuts, random.Random("power")) if len(cuts) > 2 * limit else cuts
    bad = []
    for k in cuts:
        trial = tmp_path / f"cut{k}"
        shutil.copytree(path, trial)
        layer = PowerLossLayer(random.Random(k), cut_at=None)
        with fs.use(layer):
            db = driftdb.open(trial)
            layer.cut_at = layer.ops + k
            with contextlib.suppress(PowerCut):
                db.table("a").compact(before=wanted)
            layer.crash()
        abandon(db)
        bad += [f"cut at op {k}: {p}" for p in judge(trial, intact, wanted)]
    record_figures(
        "faults",
        "compaction-power-cut",
        injected=len(cuts),
        outcomes={"old-or-new": len(cuts) - len(bad)},
        bad=len(bad),
    )
    assert not bad, "\n".join(bad)


class ManifestDirFsyncFails(FaultLayer):
    """Fails the directory fsync that follows the rename of the COMPACTING manifest."""

    def __init__(self) -> None:
        super().__init__()
        self.renamed_manifest = False

    def rename(self, src: str, dst: str) -> None:
        super().rename(src, dst)
        self.renamed_manifest = dst.endswith("COMPACTING")

    def fsync_dir(self, path: str) -> None:
        if self.renamed_manifest and not self.fired:
            self.fired = True
            raise OSError(5, "injected fsync failure")
        super().fsync_dir(path)


def test_failed_fsync_after_the_manifest_rename_keeps_the_database_openable(
    history: tuple[Path, dict[str, list[Event]], int], tmp_path: Path
) -> None:
    """(Found by the matrix above: abort() used to delete the staged files while the manifest
    naming them stayed, and the next open refused the database.)"""
    path, intact, wanted = history
    trial = tmp_path / "trial"
    shutil.copytree(path, trial)
    layer = ManifestDirFsyncFails()
    with driftdb.open(trial) as db, fs.use(layer), pytest.raises(driftdb.DriftIOError):
        db.table("a").compact(before=wanted)
    assert layer.fired
    assert judge(trial, intact, wanted) == []
