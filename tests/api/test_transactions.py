"""Transactions see their own writes: reads through the writer inside `db.batch()` (and
between DriftQL BEGIN and COMMIT) answer exactly as they will after the commit; other readers
and AS OF points before the transaction do not see the pending writes."""

from __future__ import annotations

import datetime
import threading
from pathlib import Path
from typing import Any

import pytest

import driftdb
from helpers.checks import nothing_changes


@pytest.fixture
def orders(db: driftdb.Database) -> driftdb.Table:
    t = db.create_table("orders", indexes=["status"])
    t.insert_many(
        [
            {"id": 1, "status": "new", "total": 30},
            {"id": 2, "status": "new", "total": 12},
            {"id": 3, "status": "paid", "total": 99},
        ]
    )
    return t


def everything(db: driftdb.Database, t: driftdb.Table) -> dict[str, Any]:
    """Every read path, at now: what must agree inside the batch and after its commit."""
    return {
        "get": [t.get(k) for k in (1, 2, 3, 12)],
        "select": list(t.select()),
        "by_index": list(t.select(where={"status": "paid"})),
        "range": list(t.select(where="total > ?", params=[20], order_by="total DESC")),
        "count": t.count(),
        "count_paid": t.count(where={"status": "paid"}),
        "history": [(e.seq, e.type.name, e.row) for k in (1, 3, 12) for e in t.history(k)],
        "driftql": db.execute("SELECT * FROM orders WHERE status = 'paid'").rows,
        "driftql_count": db.execute("SELECT COUNT(*) FROM orders").count,
    }


def test_reads_inside_a_batch_see_its_writes_exactly_as_after_the_commit(
    db: driftdb.Database, orders: driftdb.Table
) -> None:
    with db.batch():
        assert orders.get(12) is None
        orders.insert({"id": 12, "status": "paid", "total": 40})
        assert orders.get(12) == {"id": 12, "status": "paid", "total": 40}
        orders.patch(1, {"status": "paid", "total": None})
        orders.soft_delete(3)
        inside = everything(db, orders)
    after = everything(db, orders)
    # The pending events are stamped with the read's time, the committed ones with the
    # commit's: the same answers, seqs included.
    assert inside == after
    assert after["get"][3] == {"id": 12, "status": "paid", "total": 40}
    assert after["count"] == 3


def test_a_batch_that_fails_leaves_its_reads_unseen_and_the_log_untouched(
    db: driftdb.Database, orders: driftdb.Table
) -> None:
    with nothing_changes(db), pytest.raises(RuntimeError), db.batch():
        orders.insert({"id": 12})
        assert orders.get(12) == {"id": 12}
        raise RuntimeError("changed my mind")
    assert orders.get(12) is None
    assert orders.count() == 3


def test_a_savepoint_rolled_back_is_no_longer_seen_inside_the_batch(
    db: driftdb.Database, orders: driftdb.Table
) -> None:
    with db.batch():
        orders.insert({"id": 10})
        with pytest.raises(driftdb.DuplicateKeyError):
            orders.insert_many([{"id": 11}, {"id": 1}])  # all or nothing: 11 is undone
        assert orders.get(10) == {"id": 10}
        assert orders.get(11) is None
        assert [r["id"] for r in orders.select(order_by="id")] == [1, 2, 3, 10]


def test_as_of_a_point_before_the_batch_ignores_its_pending_writes(
    db: driftdb.Database, orders: driftdb.Table
) -> None:
    head = db.head()
    with db.batch():
        orders.insert({"id": 12, "status": "new"})
        orders.patch(1, {"status": "void"})
        assert orders.get(12, as_of=head) is None
        assert orders.get(1, as_of=head) == {"id": 1, "status": "new", "total": 30}
        assert orders.count(as_of=head) == 3
        assert orders.count(where={"status": "void"}, as_of=f"@seq:{head}") == 0
        past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
        assert orders.get(1, as_of=past) is None
        assert orders.count() == 4


def test_other_readers_do_not_see_a_batch_until_it_commits(
    db: driftdb.Database, orders: driftdb.Table, db_path: Path
) -> None:
    seen: dict[str, Any] = {}
    with db.batch():
        orders.insert({"id": 12})

        def other_thread() -> None:
            seen["thread"] = orders.get(12)

        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
        with driftdb.open(db_path, readonly=True) as reader:
            seen["reader"] = reader.table("orders").get(12)
    assert seen == {"thread": None, "reader": None}
    with driftdb.open(db_path, readonly=True) as reader:
        assert reader.table("orders").get(12) == {"id": 12}


def test_driftql_begin_commit_groups_statements_into_one_batch(
    db: driftdb.Database, orders: driftdb.Table
) -> None:
    head = db.head()
    results = db.execute_all(
        "BEGIN; INSERT INTO orders {'id': 12}; PATCH orders KEY 12 SET {'a': 1};"
        " SELECT * FROM orders WHERE id = 12; COMMIT"
    )
    assert [r.message for r in results] == [
        "transaction open",
        "inserted 1 row (pending until COMMIT)",
        "patched key 12 (pending until COMMIT)",
        None,
        f"committed 2 writes (seqs {head + 1}-{head + 2})",
    ]
    assert results[3].rows == [{"id": 12, "a": 1}]
    entries = orders.history(12)
    assert len({e.unix_ms for e in entries}) == 1  # one batch: one timestamp


def test_driftql_rollback_leaves_no_trace(db: driftdb.Database, orders: driftdb.Table) -> None:
    with nothing_changes(db):
        db.execute("BEGIN; INSERT INTO orders {'id': 12}; SOFT DELETE FROM orders KEY 1")
        assert db.execute("SELECT COUNT(*) FROM orders").count == 3
        assert db.execute("ROLLBACK").message == "rolled back; 2 writes discarded"
    assert orders.get(12) is None
    assert orders.get(1) is not None


def test_a_failing_statement_inside_begin_undoes_only_itself(
    db: driftdb.Database, orders: driftdb.Table
) -> None:
    db.execute("BEGIN; INSERT INTO orders {'id': 12}")
    with pytest.raises(driftdb.DuplicateKeyError):
        db.execute("INSERT INTO orders [{'id': 13}, {'id': 1}]")
    db.execute("COMMIT")
    assert orders.get(12) == {"id": 12}
    assert orders.get(13) is None


def test_transaction_statements_out_of_order_are_clear_errors(db: driftdb.Database) -> None:
    with pytest.raises(driftdb.InvalidInputError) as info:
        db.execute("COMMIT")
    assert str(info.value) == "COMMIT: no transaction is open; BEGIN one first"
    with pytest.raises(driftdb.InvalidInputError) as info:
        db.execute("ROLLBACK")
    assert str(info.value) == "ROLLBACK: no transaction is open; BEGIN one first"
    db.execute("BEGIN")
    with pytest.raises(driftdb.InvalidInputError) as info:
        db.execute("BEGIN")
    assert str(info.value) == "a transaction is already open; COMMIT or ROLLBACK it first"
    db.execute("ROLLBACK")


def test_closing_with_an_open_transaction_discards_it(db_path: Path) -> None:
    with driftdb.open(db_path, create=True) as db:
        db.create_table("t")
        db.execute("BEGIN; INSERT INTO t {'id': 1}")
    with driftdb.open(db_path) as db:
        assert db.table("t").get(1) is None
        db.execute("INSERT INTO t {'id': 2}")  # the writer is free again
        assert db.table("t").count() == 1


def test_transaction_statements_need_the_writer() -> None:
    from driftdb.query.parser import parse

    assert all(s.writes for s in parse("BEGIN; COMMIT; ROLLBACK"))


def test_execute_returns_the_last_result_and_execute_all_every_result(
    db: driftdb.Database, orders: driftdb.Table
) -> None:
    script = "SELECT COUNT(*) FROM orders; SELECT id FROM orders WHERE id = 2"
    assert db.execute(script).rows == [{"id": 2}]
    first, second = db.execute_all(script)
    assert first.count == 3
    assert second.rows == [{"id": 2}]


def test_select_offset_skips_rows_after_ordering(orders: driftdb.Table) -> None:
    ids = [r["id"] for r in orders.select(order_by="id DESC", offset=1)]
    assert ids == [2, 1]
    assert [r["id"] for r in orders.select(order_by="id", limit=1, offset=1)] == [2]
    assert list(orders.select(offset=10)) == []
    with pytest.raises(driftdb.InvalidInputError) as info:
        orders.select(offset=-1)
    assert str(info.value) == "offset must be a non-negative integer, got -1"


def test_as_of_a_date_means_midnight_utc(db: driftdb.Database, orders: driftdb.Table) -> None:
    today = datetime.datetime.now(datetime.UTC).date()
    assert orders.count(as_of=today - datetime.timedelta(days=1)) == 0
    assert orders.count(as_of=today + datetime.timedelta(days=1)) == 3
    from driftdb.model.timepoint import parse_timepoint

    point = parse_timepoint(datetime.date(2025, 1, 2))
    assert point.unix_ms == 1735776000000
    assert point.text == "2025-01-02"
