"""PURGE: a key disappears from every query at every seq, its frames are redacted in place,
and everything else keeps its meaning."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from maint_support import (
    FailAt,
    answers,
    expected_answers,
    log_events,
    make_orders,
    replay_states,
    segment_files,
)

import driftdb
from driftdb import doctor
from driftdb.storage import fs
from driftdb.storage import snapshot as snap
from helpers.segment_reader import written_part

KEYS = [0, 1, 2, 3, 6, 1005]
SECRET = "4111-1111-1111-1111"


def without(states: dict[int, dict], key: object) -> dict[int, dict]:  # type: ignore[type-arg]
    return {seq: {k: r for k, r in s.items() if k != key} for seq, s in states.items()}


def make_secret_orders(db: driftdb.Database) -> driftdb.Table:
    orders = make_orders(db, n=12, segment_size_bytes=300)
    orders.patch(3, {"card": SECRET}, meta={"by": "alice"})
    orders.snapshot()
    orders.patch(3, {"status": "refunded"})
    return orders


def test_a_purged_key_appears_in_no_query_at_any_seq(db: driftdb.Database) -> None:
    orders = make_secret_orders(db)
    events = log_events(db.path, "orders")
    expected = without(replay_states(events, db.head()), 3)
    report = orders.purge(3, reason="GDPR request 17")
    assert report.events_redacted == len([e for e in events if e.key == 3])
    for seq, state in expected.items():
        assert answers(orders, seq, KEYS, "status", ["paid", "refunded"]) == expected_answers(
            state, KEYS, "status", ["paid", "refunded"]
        ), seq
    db.close()
    assert doctor.check(db.path, full=True).ok  # the index is what a rebuild would give


def test_the_purged_frames_keep_seq_time_and_type_but_lose_their_data(
    db: driftdb.Database,
) -> None:
    orders = make_secret_orders(db)
    before = log_events(db.path, "orders")
    orders.purge(3, reason="GDPR request 17")
    after = log_events(db.path, "orders")
    assert [(e.seq, e.unix_ms, e.type, e.key) for e in after] == [
        (e.seq, e.unix_ms, e.type, e.key) for e in before
    ]
    for old, new in zip(before, after, strict=True):
        if old.key == 3:
            assert new.data is None and new.meta is None
            assert new.purged is not None and new.purged["reason"] == "GDPR request 17"
            assert new.txn == old.txn
        else:
            assert new == old
    assert not any(SECRET.encode() in p.read_bytes() for p in segment_files(db.path, "orders"))


def test_a_redacted_frame_shorter_than_its_original_is_padded_so_nothing_moves(
    db: driftdb.Database,
) -> None:
    orders = make_orders(db, n=10)
    orders.insert({"id": "big", "card": SECRET, "address": "x" * 200})
    orders.insert({"id": "after"})
    orders.patch("big", {"address": "y" * 200})
    # (the ends of the frames: the writer holds zeros after the last one until it lets go)
    sizes = [len(written_part(p.read_bytes())) for p in segment_files(db.path, "orders")]
    count = orders.count()
    orders.purge("big")
    assert [len(written_part(p.read_bytes())) for p in segment_files(db.path, "orders")] == sizes
    assert orders.get("big") is None and orders.count() == count - 1
    assert orders.history("after")[0].row == {"id": "after"}  # read by its unmoved location
    assert len([e for e in log_events(db.path, "orders") if e.purged is not None]) == 2


def test_history_of_a_purged_key_lists_the_redacted_events_without_rows(
    db: driftdb.Database,
) -> None:
    orders = make_secret_orders(db)
    count = len(orders.history(3))
    orders.purge(3)
    entries = orders.history(3)
    assert len(entries) == count
    assert all(e.data is None and e.row is None and e.purged is not None for e in entries)
    assert "reason" not in entries[0].purged  # type: ignore[operator]


def test_snapshots_and_indexes_no_longer_hold_the_key(db: driftdb.Database) -> None:
    orders = make_secret_orders(db)
    orders.purge(3)
    for seq in snap.list_snapshots(orders.snapshots_dir):
        rows = dict(snap.read_snapshot(f"{orders.snapshots_dir}/{seq}.snap")[1])
        assert 3 not in rows and rows
    assert not any(SECRET.encode() in p.read_bytes() for p in Path(orders.snapshots_dir).iterdir())
    assert list(orders.select({"status": "refunded"})) == []


def test_a_purge_survives_reopen_and_an_index_rebuild(db_path: Path) -> None:
    with driftdb.open(db_path, create=True) as db:
        orders = make_secret_orders(db)
        expected = without(replay_states(log_events(db_path, "orders"), db.head()), 3)
        orders.purge(3)
    shutil.rmtree(db_path / "tables" / "orders" / "indexes")
    with driftdb.open(db_path) as db:
        orders = db.table("orders")
        for seq, state in expected.items():
            assert answers(orders, seq, KEYS, None, []) == expected_answers(
                state, KEYS, None, []
            ), seq


def test_purge_after_retention_removes_the_key_from_the_base(db: driftdb.Database) -> None:
    orders = make_secret_orders(db)
    expected = without(replay_states(log_events(db.path, "orders"), db.head()), 3)
    orders.compact(before=25)
    orders.purge(3)
    base = snap.find_base(orders.snapshots_dir)
    assert base is not None and 3 not in dict(snap.read_snapshot(base.path)[1])
    assert orders.history(3) == [] or all(e.row is None for e in orders.history(3))
    for seq in range(25, db.head() + 1):
        assert answers(orders, seq, KEYS, None, []) == expected_answers(
            expected[seq], KEYS, None, []
        ), seq


def test_purging_an_unknown_key_is_a_clear_error(db: driftdb.Database) -> None:
    orders = make_orders(db, n=3)
    with pytest.raises(driftdb.KeyNotFoundError) as caught:
        orders.purge(404)
    assert str(caught.value) == 'PURGE: table "orders" has no history for key 404'


def test_writes_continue_after_a_purge_of_a_key_in_the_active_segment(
    db: driftdb.Database,
) -> None:
    orders = make_orders(db, n=5)
    orders.insert({"id": 99, "card": SECRET})
    orders.purge(99)
    seq = orders.insert({"id": 99, "status": "new again"})
    assert orders.get(99) == {"id": 99, "status": "new again"}
    assert orders.history(99)[-1].seq == seq


@pytest.mark.parametrize(
    ("kind", "n"),
    [
        ("write", 1),
        ("fsync", 2),
        ("rename", 1),
        ("fsync_dir", 3),
        ("rename", 2),
        ("remove", 1),
    ],
)
def test_a_failed_purge_leaves_the_key_wholly_there_or_wholly_gone(
    db_path: Path, kind: str, n: int
) -> None:
    with driftdb.open(db_path, create=True) as db:
        orders = make_secret_orders(db)
        events = log_events(db_path, "orders")
        full = replay_states(events, db.head())
        layer = FailAt(kind, n)
        with fs.use(layer), pytest.raises(driftdb.DriftError):
            orders.purge(3)
        assert layer.fired
    with driftdb.open(db_path) as db:
        orders = db.table("orders")
        after = log_events(db_path, "orders")
        assert [e.seq for e in after] == [e.seq for e in events]
        purged = orders.get(3) is None
        expected = without(full, 3) if purged else full
        if purged:
            assert all(e.purged is not None for e in after if e.key == 3)
        else:
            assert after == events
        for seq in (5, 20, db.head()):
            assert answers(orders, seq, KEYS, None, []) == expected_answers(
                expected[seq], KEYS, None, []
            ), seq
