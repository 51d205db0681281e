"""Power loss below the process: a file layer that forgets what was not fsynced.

Writes run in-process under `fs.use(PowerLossLayer)`; at a random file operation the power
goes (the operation may be half done), then `crash()` cuts every file back to its last fsynced
length plus nothing, a torn prefix, zeros or everything of the rest, and undoes a random suffix
of the directory entries made since the last directory fsync. The Database is dropped without
close(), its index kept, lost or rolled back to an older copy, and reopened. This catches a
missing fsync, not only a missing flush: an acknowledged write whose bytes were never fsynced
is lost here, and the oracle says so.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
from crash_support import (
    PowerCut,
    PowerLossLayer,
    Record,
    Workload,
    abandon,
    crash_points,
    create_tables,
    describe,
    record_figures,
    rng_for,
    verify,
)

import driftdb
from driftdb.storage import fs

POINTS_PER_TEST = 10
POINTS = crash_points()
GROUPS = math.ceil(POINTS / POINTS_PER_TEST)


def crash_once(db_path: Path, record: Record, run: str, point: int, steps: int) -> dict[str, int]:
    """Open (creating the tables), write `steps` calls with the power going at a random
    operation (or after the last one), crash, and drop the Database like a dead process."""
    rng = rng_for(f"power-loss-{run}", point)
    layer = PowerLossLayer(rng)
    layer.armed = False
    db = None
    saved_index: Path | None = None
    with fs.use(layer):
        try:
            if (db_path / "tables").is_dir() and rng.random() < 0.3:
                layer.armed, layer.cut_at = True, rng.randint(1, 8)  # the power goes in recovery
            db = driftdb.open(db_path, create=True)
            layer.armed = False
            create_tables(db)
            layer.armed = True
            if layer.cut_at is None:
                layer.cut_at = rng.randint(1, steps * 3)
            workload = Workload(db, rng, run, record, maintenance=rng.random() < 0.5)
            for i in range(steps):
                workload.step()
                if i == steps // 2 and rng.random() < 0.3:
                    # An index copy from mid-run: restored below, the index lags the log.
                    saved_index = db_path.parent / f"{db_path.name}-index-{run}"
                    shutil.rmtree(saved_index, ignore_errors=True)
                    saved_index.mkdir()
                    db.table("a").index.env.copy(str(saved_index))  # type: ignore[union-attr]
        except PowerCut:
            pass
        lost = layer.crash()
    if db is not None:
        abandon(db)
    if saved_index is not None and rng.random() < 0.7:
        target = db_path / "tables" / "a" / "indexes"
        for name in ("data.mdb", "lock.mdb"):
            (target / name).unlink(missing_ok=True)
        shutil.copy(saved_index / "data.mdb", target / "data.mdb")
    return {"cut_at_op": layer.cut_at or 0, "ops": layer.ops, **lost}


@pytest.mark.parametrize("group", range(GROUPS))
def test_power_loss_at_any_file_operation_keeps_every_acknowledged_write(
    tmp_path: Path, group: int
) -> None:
    first = group * POINTS_PER_TEST
    for point in range(first, min(first + POINTS_PER_TEST, POINTS)):
        db_path = tmp_path / f"db{point}"
        record = Record()
        rng = rng_for("power-loss-check", point)
        rounds = 2 if rng.random() < 0.4 else 1  # a second crash after the first recovery
        checked_before = 0
        for run in range(1, rounds + 1):
            info = crash_once(db_path, record, f"r{run}", point, steps=rng.randint(5, 40))
            verdict = verify(
                db_path,
                record,
                rng,
                reader_first=rng.random() < 0.5,
                drop_indexes=rng.random() < 0.2,
                new_write_tag=f"parent.{run}",
            )
            new_acks, checked_before = verdict.acked - checked_before, verdict.acked
            record_figures(
                "crash",
                "power-loss",
                crash_points=1,
                torn=info["lost_bytes"] > 0,
                new_acked=new_acks,
                **verdict.figures(),
            )
            assert not verdict.problems, describe(verdict, f"power-loss point {point} {info}")


@pytest.mark.parametrize("segment", [1, 2])
def test_a_zeroed_segment_header_left_by_a_power_cut_is_a_torn_tail(
    tmp_path: Path, segment: int
) -> None:
    db_path = tmp_path / "db"
    with driftdb.open(db_path, create=True) as db:
        table = db.create_table("a", options={"segment_size_bytes": 4096})
        if segment == 2:
            table.insert({"id": 1, "v": "kept"})
    segments = db_path / "tables" / "a" / "segments"
    (segments / f"{segment:08d}.seg").write_bytes(b"\0" * 6)  # the torn, zero-filled header
    with pytest.warns(driftdb.DriftWarning), driftdb.open(db_path) as db:
        assert db.table("a").get(1) == ({"id": 1, "v": "kept"} if segment == 2 else None)
        db.table("a").insert({"id": 2})
