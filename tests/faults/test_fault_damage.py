"""Bit flips, byte changes and truncation at seeded random offsets in every kind of file:
segments, snapshots, the LMDB index (data.mdb), meta.json and schema.yaml.

Each damaged copy is judged against the replay of the intact log (damage_support.judge):
detected (a CorruptionError naming the file and offset), recovered with a DriftWarning and
right answers, or transparently rebuilt (a cache) with right answers; never a silently wrong
answer, a shorter history without a warning, or a traceback. A refused segment then goes
through `driftdb.maintenance.doctor.repair` (when it exists), which must restore every intact frame.
$DRIFTDB_DAMAGE_TRIALS scales the number of trials (25 by default).
"""

from __future__ import annotations

import importlib.util
import os
import random
import shutil
from pathlib import Path

import pytest
from crash_support import Record, Workload, create_tables, record_figures, rng_for
from damage_support import (
    damage,
    files_of,
    judge,
    judge_in_child,
    judge_repair,
    judgement_figures,
)

import driftdb

TOTAL = int(os.environ.get("DRIFTDB_DAMAGE_TRIALS", "25"))
SHARE = {"segment": 0.4, "snapshot": 0.15, "index": 0.15, "meta": 0.1, "schema": 0.2}
HAS_DOCTOR = importlib.util.find_spec("driftdb.maintenance.doctor") is not None


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two tables, several segments (table a rotates at 4 KiB), snapshots when they exist,
    batches across tables, meta.json written on close."""
    path = tmp_path_factory.mktemp("pristine") / "db"
    with driftdb.open(path, create=True) as db:
        create_tables(db)
        workload = Workload(db, random.Random(3), "r1", Record())
        for i in range(90):
            workload.step()
            if i == 60:
                for name in ("a", "b"):
                    snapshot = getattr(db.table(name), "snapshot", None)
                    if snapshot is not None:
                        snapshot()
    return path


@pytest.mark.parametrize("kind", list(SHARE))
def test_damaged_file_is_detected_or_recovered_never_answered_wrong(
    kind: str, pristine: Path, tmp_path: Path
) -> None:
    files = files_of(pristine, kind)
    if not files:
        pytest.skip(f"the database has no {kind} files (not built yet?)")
    judgements = []
    for i in range(max(2, round(TOTAL * SHARE[kind]))):
        rng = rng_for(f"damage-{kind}", i)
        rel = rng.choice(files)
        trial = tmp_path / f"t{i}"
        shutil.copytree(pristine, trial)
        # (A truncated data.mdb has its own test below: it kills the process.)
        offset, what = damage(
            trial / rel, rng, rng.choice(["bit", "byte"]) if kind == "index" else None
        )
        check = judge_in_child if kind == "index" else judge
        j = check(pristine, trial, rel, offset, what)
        if j.outcome in ("refused", "latent") and kind == "segment" and HAS_DOCTOR:
            j.repaired = judge_repair(pristine, trial, rel, offset, what)
        judgements.append(j)
    record_figures("faults", f"damage-{kind}", **judgement_figures(judgements))
    bad = [j for j in judgements if j.bad or j.repaired not in (None, "restored")]
    assert not bad, "\n".join(
        f"{j.file} @{j.offset} ({j.damage}): {j.outcome} {j.message[:300]} | {j.problems[:3]}"
        f" | repair: {j.repaired}"
        for j in bad
    )


def test_truncated_index_file_is_rebuilt_not_a_crash(pristine: Path, tmp_path: Path) -> None:
    trial = tmp_path / "t"
    shutil.copytree(pristine, trial)
    data = trial / "tables" / "b" / "indexes" / "data.mdb"
    os.truncate(data, data.stat().st_size // 2)
    j = judge_in_child(pristine, trial, "tables/b/indexes/data.mdb", 0, "truncate")
    assert j.outcome != "crashed", j.message
    assert not j.problems, j.problems


def _damage_stored_value(db_path: Path, old: bytes, new: bytes) -> int:
    """Replace `old` by `new` in every table's data.mdb (a flipped byte on disk)."""
    hits = 0
    for data in db_path.glob("tables/*/indexes/data.mdb"):
        raw = data.read_bytes()
        hits += raw.count(old)
        data.write_bytes(raw.replace(old, new))
    return hits


def test_a_changed_byte_in_an_indexed_row_is_never_answered(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with driftdb.open(path, create=True) as db:
        db.create_table("t").insert({"id": 1, "note": "balance-0000100"})
    assert _damage_stored_value(path, b"balance-0000100", b"balance-9000100") > 0
    with driftdb.open(path) as db:
        try:
            row = db.table("t").get(1)
        except driftdb.CorruptionError:
            return  # detected: fine
    assert row == {"id": 1, "note": "balance-0000100"}


def test_an_undecodable_index_entry_is_a_corruption_error(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with driftdb.open(path, create=True) as db:
        db.create_table("t").insert({"id": 1, "note": "balance-0000100"})
    assert _damage_stored_value(path, b"balance-0000100", b"\xffalance-0000100") > 0
    with driftdb.open(path) as db:
        try:
            row = db.table("t").get(1)
        except driftdb.CorruptionError as exc:
            assert "indexes" in str(exc)
            return
    assert row == {"id": 1, "note": "balance-0000100"}


@pytest.mark.skipif(not HAS_DOCTOR, reason="driftdb.maintenance.doctor is not built yet")
def test_doctor_reports_damage_to_an_acknowledged_last_frame_as_an_error(
    tmp_path: Path,
) -> None:
    from driftdb import doctor

    path = tmp_path / "db"
    with driftdb.open(path, create=True) as db:
        table = db.create_table("t")
        for i in range(5):
            table.insert({"id": i, "v": "x" * 20})
    segment = path / "tables/t/segments/00000001.seg"
    data = bytearray(segment.read_bytes())
    data[-3] ^= 0x01  # inside the last frame's payload: its CRC fails
    segment.write_bytes(bytes(data))
    # The index covers the last frame, so it was acknowledged: the writer refuses to open
    # (never truncates it as a torn write), naming the seq at stake, and doctor reports it.
    with pytest.raises(driftdb.CorruptionError, match=r"@seq:5.*not a torn write"):
        driftdb.open(path)
    report = doctor.check(path)
    assert not report.ok, report.render()
