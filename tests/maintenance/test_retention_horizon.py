"""COMPACT BEFORE: history before the horizon is discarded; later answers stay the same, and
AS OF earlier is a clear error."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from maint_support import answers, expected_answers, log_events, make_orders, replay_states

import driftdb
from driftdb.model.timepoint import format_unix_ms
from driftdb.storage import snapshot as snap

KEYS = [0, 1, 2, 3, 5, 1005, 1010]


def check_from(table: driftdb.Table, states: dict[int, Any], horizon: int) -> None:
    for seq, state in states.items():
        if seq < horizon:
            continue
        assert answers(table, seq, KEYS, "status", ["new", "paid", "shipped"]) == expected_answers(
            state, KEYS, "status", ["new", "paid", "shipped"]
        ), seq  # type: ignore[arg-type]


def test_answers_at_and_after_the_horizon_are_unchanged(db: driftdb.Database) -> None:
    orders = make_orders(db, n=40)
    events = log_events(db.path, "orders")
    states = replay_states(events, db.head())
    report = orders.compact(before=50)
    assert report.horizon == orders.horizon() == 50
    assert report.events_dropped == len([e for e in events if e.seq <= 50])
    assert report.segments_after < report.segments_before
    assert all(e.seq > 50 for e in log_events(db.path, "orders"))
    check_from(orders, states, 50)
    assert orders.get(3, as_of="@seq:50") == states[50].get(3)


def test_as_of_before_the_horizon_raises_the_documented_error(db: driftdb.Database) -> None:
    orders = make_orders(db, n=20)
    orders.compact(before="@seq:30")
    horizon = orders.horizon_info()
    assert horizon is not None
    expected = (
        f'table "orders" keeps history from @seq:30 '
        f"({format_unix_ms(horizon.unix_ms)}); AS OF @seq:10 is before that horizon"
    )
    with pytest.raises(driftdb.HistoryUnavailableError) as caught:
        orders.get(1, as_of="@seq:10")
    assert str(caught.value) == expected
    with pytest.raises(driftdb.HistoryUnavailableError, match="AS OF @seq:29 is before"):
        list(orders.select(as_of=29))
    with pytest.raises(driftdb.HistoryUnavailableError):
        orders.count(as_of=0)
    early = format_unix_ms(horizon.unix_ms - 1)
    with pytest.raises(driftdb.HistoryUnavailableError, match=f"AS OF {early} is before"):
        orders.get(1, as_of=early)
    assert orders.get(1, as_of=format_unix_ms(horizon.unix_ms)) == orders.get(1, as_of=30)


def test_a_time_horizon_keeps_the_state_at_that_time(db: driftdb.Database) -> None:
    table = db.create_table("t")
    clock = iter(range(1_000_000, 2_000_000, 1000))
    db.clock._source = lambda: next(clock)  # one second per event
    for i in range(10):
        table.insert({"id": i})
    cut = datetime.fromtimestamp(1_004_500 / 1000, tz=UTC)  # between the 5th and 6th event
    state_at_cut = {r["id"]: r for r in table.select(as_of=cut)}
    table.compact(before=cut)
    assert table.horizon() == 5
    assert {r["id"]: r for r in table.select(as_of=cut)} == state_at_cut
    assert table.count(as_of="@seq:5") == 5
    with pytest.raises(driftdb.HistoryUnavailableError):
        table.count(as_of=datetime.fromtimestamp(1_004_400 / 1000, tz=UTC))


def test_history_after_retention_starts_with_the_row_at_the_horizon(
    db: driftdb.Database,
) -> None:
    table = db.create_table("t")
    table.insert({"id": 1, "v": 1})
    table.patch(1, {"v": 2})
    table.patch(1, {"v": 3})
    table.patch(1, {"v": 4})
    table.compact(before=3)
    entries = table.history(1)
    assert [(e.seq, e.type.name, e.row) for e in entries] == [
        (3, "INSERT", {"id": 1, "v": 3}),
        (4, "PATCH", {"id": 1, "v": 4}),
    ]
    assert entries[0].meta == {"horizon": 3}


def test_the_horizon_is_moved_back_so_no_batch_is_split(db: driftdb.Database) -> None:
    table = db.create_table("t")
    table.insert({"id": 0})
    table.insert_many([{"id": i} for i in range(1, 5)])  # seqs 2..5, one batch
    table.compact(before=3)
    assert table.horizon() == 1
    assert [e.seq for e in log_events(db.path, "t")] == [2, 3, 4, 5]


def test_a_batch_across_tables_is_not_cut_after_retention_and_an_index_rebuild(
    db_path: Path,
) -> None:
    with driftdb.open(db_path, create=True) as db:
        a, b = db.create_table("a"), db.create_table("b")
        a.insert({"id": 0})
        with db.batch():
            a.insert({"id": 1})
            b.insert({"id": 1})
        a.insert({"id": 2})
        a.compact(before=3)
        assert a.horizon() == 3
    for name in ("a", "b"):
        shutil.rmtree(db_path / "tables" / name / "indexes")
    with driftdb.open(db_path) as db:
        assert db.table("b").get(1) == {"id": 1}
        assert [r["id"] for r in db.table("a").select()] == [0, 1, 2]
        # nothing cut or truncated: the only notes say the missing indexes were built
        assert all("built them from the log" in note for note in db.notes), db.notes


def test_the_horizon_survives_reopen_and_a_lost_index(db_path: Path) -> None:
    with driftdb.open(db_path, create=True) as db:
        orders = make_orders(db, n=30)
        states = replay_states(log_events(db_path, "orders"), db.head())
        orders.compact(before=40)
        orders.insert({"id": 5000, "status": "new"})
        states[db.head()] = {**states[db.head() - 1], 5000: {"id": 5000, "status": "new"}}
    shutil.rmtree(db_path / "tables" / "orders" / "indexes")
    with driftdb.open(db_path, readonly=True) as db:  # no index: base snapshot + log
        orders = db.table("orders")
        assert orders.horizon() == 40
        check_from(orders, states, 40)
        with pytest.raises(driftdb.HistoryUnavailableError):
            orders.get(1, as_of=39)
        assert orders.history(3)[0].seq == 40
    with driftdb.open(db_path) as db:  # the writer rebuilds the index from the base
        orders = db.table("orders")
        assert orders.horizon() == 40
        check_from(orders, states, 40)
    with driftdb.open(db_path, readonly=True) as db:
        check_from(db.table("orders"), states, 40)


def test_the_horizon_is_recorded_in_the_base_snapshot_header(db: driftdb.Database) -> None:
    orders = make_orders(db, n=20)
    orders.compact(before=25)
    info = snap.find_base(orders.snapshots_dir)
    assert info is not None and info.base and info.seq == 25
    assert info.horizon == orders.horizon_info()
    assert Path(info.path).name == "25.base.snap"
    assert all(s >= 25 for s in snap.list_snapshots(orders.snapshots_dir))


def test_a_damaged_base_snapshot_stops_a_rebuild_rather_than_guess(db_path: Path) -> None:
    with driftdb.open(db_path, create=True) as db:
        make_orders(db, n=20).compact(before=25)
    base = db_path / "tables" / "orders" / "snapshots" / "25.base.snap"
    data = bytearray(base.read_bytes())
    data[-2] ^= 1
    base.write_bytes(bytes(data))
    shutil.rmtree(db_path / "tables" / "orders" / "indexes")
    with pytest.raises(driftdb.CorruptionError, match=r"25\.base\.snap: body CRC mismatch"):
        driftdb.open(db_path)


def test_a_second_retention_moves_the_horizon_forward_only(db: driftdb.Database) -> None:
    orders = make_orders(db, n=30)
    states = replay_states(log_events(db.path, "orders"), db.head())
    orders.compact(before=20)
    orders.compact(before=10)
    assert orders.horizon() == 20
    orders.compact(before=45)
    assert orders.horizon() == 45
    assert len(snap.list_bases(orders.snapshots_dir)) == 1
    check_from(orders, states, 45)
    from driftdb.engine import view

    view.SNAPSHOT_READS = "always"
    try:
        check_from(orders, states, 45)
    finally:
        view.SNAPSHOT_READS = "auto"


def test_retention_of_everything_keeps_the_current_state_and_accepts_writes(
    db: driftdb.Database,
) -> None:
    orders = make_orders(db, n=10)
    now = {r["id"]: r for r in orders.select()}
    head = db.head()
    with pytest.raises(driftdb.InvalidInputError, match="would discard its whole history"):
        orders.compact(before=10**9)  # past the head: only on purpose
    assert orders.horizon() is None
    orders.compact(before=10**9, force=True)
    assert orders.horizon() == head
    assert log_events(db.path, "orders") == []
    assert {r["id"]: r for r in orders.select()} == now
    seq = orders.insert({"id": 77})
    assert seq == head + 1 and orders.get(77) == {"id": 77}


def test_describe_shows_the_horizon(db: driftdb.Database) -> None:
    orders = make_orders(db, n=10)
    orders.compact(before=12)
    rows = {r["property"]: r["value"] for r in db.execute("DESCRIBE orders").rows}
    assert rows["horizon"] == "@seq:12"
