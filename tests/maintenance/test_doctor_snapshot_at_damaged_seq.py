"""A snapshot taken at exactly the seq of a frame that repair quarantines is no longer used.

A snapshot at seq S holds the effect of the event at S. If that event's frame is damaged (a
middle frame: repair moves it to quarantine and keeps the good frames after it), the snapshot
holds something the log no longer has, so repair must retire it along with every later one.
Kept, it would make full-table reads AS OF S or later (which start from the nearest snapshot)
disagree with point reads, and a full check would fail although repair said ok. Checked for
an INSERT, a PATCH and a SOFT_DELETE at S.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import driftdb
from driftdb import doctor
from driftdb.engine import view as view_module
from driftdb.storage.segment import scan_segment
from helpers.gap_support_a import keys_of, log_events, mismatches

SEGMENTS = "tables/t/segments"


def build(db_path: Path, kind: str) -> int:
    """Some history, the event at S (of `kind`), a snapshot at S, then more history so the
    frame at S sits in the middle of the segment. Returns S."""
    with driftdb.open(db_path, create=True) as db:
        t = db.create_table("t", indexes=["v"])
        for i in range(4):
            t.insert({"id": i, "v": f"row {i}"})
        t.patch(0, {"v": "patched", "n": 1})
        if kind == "insert":
            s = t.insert({"id": "s", "v": "inserted at S"})
        elif kind == "patch":
            s = t.patch(1, {"v": "patched at S", "extra": {"at": "S"}})
        else:
            s = t.soft_delete(2)
        assert t.snapshot().seq == s
        t.insert({"id": 4, "v": "after S"})
        t.patch(3, {"v": "patched after S"})
        t.soft_delete(0)
        t.insert({"id": 5, "v": "last"})
    return s


def damage_frame_at(db_path: Path, seq: int) -> None:
    """Flip one bit in the middle of the body of the frame holding `seq`."""
    frames = scan_segment(str(db_path / SEGMENTS), 1).frames
    frame = next(f for f in frames if f.body.seq == seq)
    assert frame is not frames[-1]
    path = db_path / SEGMENTS / "00000001.seg"
    data = bytearray(path.read_bytes())
    data[frame.offset + frame.size // 2] ^= 0x10
    path.write_bytes(bytes(data))


def rows_by_get(table: driftdb.Table, seq: int, keys: list[Any]) -> list[dict[str, Any]]:
    rows = (table.get(k, as_of=seq) for k in keys)
    return sorted((r for r in rows if r is not None), key=repr)


@pytest.mark.parametrize("kind", ["insert", "patch", "soft_delete"])
def test_repair_retires_a_snapshot_taken_at_the_seq_of_the_quarantined_frame(
    db_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = build(db_path, kind)
    events = log_events(db_path, "t")
    keys = keys_of(events)
    head = events[-1].seq
    damage_frame_at(db_path, s)
    # Without the index nothing can restore the event at S (with it, repair writes it back:
    # tests/maintenance/test_doctor_repair.py), so the snapshot at S must be retired.
    shutil.rmtree(db_path / "tables/t/indexes")
    assert not doctor.check(db_path).ok

    report = doctor.repair(db_path)
    assert report.ok, report.render()
    kept = [e for e in events if e.seq != s]
    assert log_events(db_path, "t") == kept  # the frame at S quarantined, every other kept
    full = doctor.check(db_path, full=True)
    assert full.ok, full.render()

    with driftdb.open(db_path) as db:
        table = db.table("t")
        for mode in ("always", "auto"):  # "always": every full-table read starts from a snapshot
            monkeypatch.setattr(view_module, "SNAPSHOT_READS", mode)
            for seq in range(s, head + 1):
                rows = sorted(table.select(as_of=seq), key=repr)
                assert rows == rows_by_get(table, seq, keys), f"{mode} @seq:{seq}"
            assert mismatches(table, kept, range(head + 1), keys) == [], mode
