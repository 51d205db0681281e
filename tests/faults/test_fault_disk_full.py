"""A full disk (ENOSPC) in the middle of a frame, of a batch, of a snapshot and of a compaction:
a clear error, a stopped writer, and after the next open no torn frame and nothing lost."""

from __future__ import annotations

import errno
import random
import warnings
from pathlib import Path
from typing import Any

import pytest
from crash_support import (
    Record,
    Verdict,
    Workload,
    check_log_against_record,
    compare_reads,
    create_tables,
    read_log,
    record_figures,
)
from fault_support import FaultLayer

import driftdb
from driftdb.storage import fs

NO_SPACE = "[Errno 28] injected No space left on device"


def fill(db_path: Path, record: Record, steps: int = 40) -> None:
    with driftdb.open(db_path, create=True) as db:
        create_tables(db)
        workload = Workload(db, random.Random(21), "r1", record)
        for _ in range(steps):
            workload.step()


def only_frames(kind: str, args: tuple[Any, ...]) -> bool:
    """Fail frame writes only (not segment headers, snapshots or metadata, nor the zeros the
    writer puts ahead of its frames: tests/storage/test_zero_tail.py fails those)."""
    if kind != "write":
        return False
    data = bytes(args[1])
    return data[:8] not in (b"DRIFTSEG", b"DRIFTSNP") and any(data)


def reopen_and_check(db_path: Path, record: Record, tag: str) -> tuple[list[str], Verdict]:
    """Reopen without faults, check against the replay, and write once more (logged)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        db = driftdb.open(db_path)
    notes = [str(w.message) for w in caught if issubclass(w.category, driftdb.DriftWarning)]
    verdict = Verdict()
    with db:
        events = read_log(db_path)  # raises if any torn frame is left
        check_log_against_record(events, record, verdict)
        compare_reads(db, events, random.Random(3), verdict)
        doc = {"id": tag, "w": tag}
        record.attempt(
            tag, [{"t": "b", "type": "INSERT", "key": tag, "data": doc, "w": tag, "group": None}]
        )
        record.ack(tag, [db.table("b").insert(doc)])
    return notes, verdict


@pytest.mark.parametrize("what", ["insert", "insert_many", "patch", "batch-across-tables"])
def test_disk_full_in_the_middle_of_a_frame_is_a_clear_error_and_the_torn_frame_goes_on_open(
    tmp_path: Path, what: str
) -> None:
    db_path = tmp_path / "db"
    record = Record()
    fill(db_path, record)
    layer = FaultLayer("write", 1, code=errno.ENOSPC, half=True)
    layer.match = only_frames
    with driftdb.open(db_path) as db:
        a, b = db.table("a"), db.table("b")
        with fs.use(layer), pytest.raises(driftdb.DriftIOError) as info:
            if what == "insert":
                a.insert({"id": "big", "pad": "z" * 50_000})
            elif what == "insert_many":
                a.insert_many([{"id": f"m{i}", "pad": "z" * 5000} for i in range(10)])
            elif what == "patch":
                b.patch(next(iter(b.select()))["id"], {"pad": "z" * 50_000})
            else:
                with db.batch():
                    a.insert({"id": "x1", "pad": "z" * 3000})
                    b.insert({"id": 10**9, "pad": "z" * 3000})
        assert str(info.value) == (
            f"write failed ({NO_SPACE}); nothing was acknowledged and the writer is stopped: "
            "reopen the database"
        )
        with pytest.raises(driftdb.WriterStoppedError):
            b.insert({"id": 10**9 + 1})
    notes, verdict = reopen_and_check(db_path, record, "after")
    record_figures(
        "faults",
        "disk-full-frame",
        injected=1,
        outcomes={"clear-error-and-truncated": not verdict.problems},
        **{k: v for k, v in verdict.figures().items() if k in ("lost", "invented")},
    )
    assert any(
        ("truncated" in n and "torn final frame" in n) or "incomplete batch" in n for n in notes
    ), notes
    assert not verdict.problems, verdict.problems


def _maintenance(db: driftdb.Database, action: str) -> None:
    table = db.table("a")
    method = getattr(table, action, None)
    if method is None:
        pytest.skip(f"Table.{action} is not built yet")
    method()


@pytest.mark.parametrize("action", ["snapshot", "compact"])
def test_disk_full_during_snapshot_or_compaction_is_a_clear_error_and_changes_no_answer(
    tmp_path: Path, action: str
) -> None:
    db_path = tmp_path / "db"
    record = Record()
    fill(db_path, record, steps=120)
    attempts = 0
    for k in range(1, 40):
        layer = FaultLayer("write", k, code=errno.ENOSPC, half=True)
        with driftdb.open(db_path) as db:
            try:
                with fs.use(layer):
                    _maintenance(db, action)
            except driftdb.DriftError as exc:
                attempts += 1
                assert "No space left on device" in str(exc), str(exc)
                with pytest.raises(driftdb.WriterStoppedError):
                    db.table("b").insert({"id": f"refused-{k}"})
            if not layer.fired:
                break
        _, verdict = reopen_and_check(db_path, record, f"after-{k}")
        assert not verdict.problems, (k, verdict.problems)
        # Nothing half-written may stay where a reader would use it.
        for snap in db_path.glob("tables/*/snapshots/*.snap"):
            from driftdb.storage.snapshot import read_snapshot

            read_snapshot(str(snap))
    record_figures(
        "faults", f"disk-full-{action}", injected=attempts, outcomes={"clear-error": attempts}
    )
    assert attempts > 0
