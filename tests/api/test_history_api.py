"""The Python API of the history statements: versions, diff, blame, restore, add_index, and
the time-point and retention edges of FOR SYSTEM_TIME."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import driftdb
from driftdb.errors import HistoryUnavailableError, KeyNotFoundError


def _history(db: driftdb.Database) -> driftdb.Table:
    table = db.create_table("t", indexes=["status"])
    table.insert({"id": 1, "status": "new", "n": {"a": 1}})
    time.sleep(0.005)
    table.patch(1, {"status": "paid"}, meta={"by": "ann"})
    time.sleep(0.005)
    table.patch(1, {"n": {"b": 2}})
    table.insert({"id": 2, "status": "new"})
    return table


def test_python_api_of_versions_diff_blame_and_restore(db: driftdb.Database) -> None:
    table = _history(db)
    rows = table.versions(where="id = 1")
    assert [(r["_seq"], r["_op"], r["_end_seq"], r["_meta"]) for r in rows] == [
        (1, "INSERT", 2, None),
        (2, "PATCH", 3, {"by": "ann"}),
        (3, "PATCH", None, None),
    ]
    assert [r["_seq"] for r in table.versions(2, 2)] == [2]
    assert [r["_seq"] for r in table.versions(where={"_op": "INSERT"})] == [1, 4]
    assert table.diff(1, 4) == [
        {
            "key": 1,
            "change": "changed",
            "before": {"id": 1, "status": "new", "n": {"a": 1}},
            "after": {"id": 1, "status": "paid", "n": {"a": 1, "b": 2}},
            "fields": ["n.b", "status"],
        },
        {
            "key": 2,
            "change": "added",
            "before": None,
            "after": {"id": 2, "status": "new"},
            "fields": ["id", "status"],
        },
    ]
    assert table.diff(1, 4, where="status = 'new'", params=()) == table.diff(1, 4)
    assert [(r["field"], r["seq"], r["meta"]) for r in table.blame(1)] == [
        ("id", 1, None),
        ("status", 2, {"by": "ann"}),
        ("n.a", 1, None),
        ("n.b", 3, None),
    ]
    with pytest.raises(KeyNotFoundError):
        table.blame(2, as_of=3)
    report = table.restore(1, meta={"ticket": 9})
    assert str(report) == "restored 2 keys to @seq:1: 1 patched, 1 soft-deleted (seqs 5-6)"
    assert table.get(1) == {"id": 1, "status": "new", "n": {"a": 1}}
    assert table.get(2) is None
    assert [e.meta for e in table.history(1)][-1] == {"ticket": 9, "restored_from": 1}


def test_a_null_the_merge_patch_cannot_write_is_restored_by_delete_and_insert(
    db: driftdb.Database,
) -> None:
    table = db.create_table("t")
    table.insert({"id": 1, "gone": None, "o": {"x": None}})
    table.patch(1, {"gone": 5})
    report = table.restore(1, key=1)
    assert report.changes[0][1] == "soft-deleted and re-inserted"
    assert table.get(1) == {"id": 1, "gone": None, "o": {"x": None}}
    assert (
        str(table.restore(1, key=1)) == "key 1 already equals its state at @seq:1; nothing written"
    )


def test_from_to_excludes_the_version_that_starts_at_the_end_time(db: driftdb.Database) -> None:
    table = _history(db)
    times = {e.seq: e.unix_ms for e in table.history(1)}
    from driftdb.model.timepoint import format_unix_ms

    first, last = format_unix_ms(times[1]), format_unix_ms(times[3])
    between = db.execute(
        f'SELECT _seq FROM t FOR SYSTEM_TIME BETWEEN "{first}" AND "{last}" WHERE id = 1'
    )
    assert [r["_seq"] for r in between.rows] == [1, 2, 3]
    until = db.execute(
        f'SELECT _seq FROM t FOR SYSTEM_TIME FROM "{first}" TO "{last}" WHERE id = 1'
    )
    assert [r["_seq"] for r in until.rows] == [1, 2]
    assert db.execute("SELECT _seq FROM t FOR SYSTEM_TIME FROM @seq:1 TO @seq:1").rows == []


def test_versions_after_a_retention_horizon_start_at_it(tmp_path: Path) -> None:
    with driftdb.open(tmp_path / "db", create=True) as db:
        table = db.create_table("t")
        for i in range(5):
            table.insert({"id": i, "v": 0})
        table.patch(3, {"v": 1})
        table.compact(before=6)
        rows = table.versions()
        assert [(r["id"], r["_seq"]) for r in rows] == [(0, 6), (1, 6), (2, 6), (3, 6), (4, 6)]
        assert rows[0]["_meta"] == {"horizon": 6}
        with pytest.raises(HistoryUnavailableError):
            table.versions(2, 7)
