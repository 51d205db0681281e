"""db.duckdb(as_of): full SQL over any point in history. Its answers are checked against
DriftQL's wherever both can answer, at every seq."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import driftdb

duckdb = pytest.importorskip("duckdb")
pytest.importorskip("pyarrow")
DRIFTDB = str(Path(sys.executable).parent / "driftdb")


@pytest.fixture
def shop(db: driftdb.Database) -> driftdb.Database:
    customers = db.create_table("customers")
    orders = db.create_table("orders", indexes=["status", "customer"])
    customers.insert_many([{"id": "ada", "name": "Ada"}, {"id": "bob", "name": "Bob"}])
    orders.insert({"id": 1, "customer": "ada", "status": "new", "total": 30})
    orders.insert({"id": 2, "customer": "bob", "status": "new", "total": 12.5})
    orders.insert({"id": 3, "customer": "ada", "status": "new", "total": 99})
    orders.patch(1, {"status": "paid"})
    orders.soft_delete(2)
    customers.patch("bob", {"name": "Robert"})
    return db


def test_every_table_is_a_view_at_the_point_and_agrees_with_driftql(
    shop: driftdb.Database,
) -> None:
    for seq in range(shop.head() + 1):
        con = shop.duckdb(as_of=seq)
        for status in ("new", "paid"):
            sql = "SELECT id FROM orders WHERE status = ? ORDER BY id"
            ducked = [r[0] for r in con.execute(sql, [status]).fetchall()]
            dql = shop.execute(
                f"SELECT id FROM orders AS OF @seq:{seq} WHERE status = ? ORDER BY id", [status]
            )
            assert ducked == [r["id"] for r in dql.rows], (seq, status)
        (count,) = con.execute("SELECT COUNT(*) FROM orders").fetchone()
        assert count == shop.execute(f"SELECT COUNT(*) FROM orders AS OF @seq:{seq}").count
        con.close()


def test_joins_and_aggregates_work_over_a_past_point(shop: driftdb.Database) -> None:
    con = shop.duckdb(as_of="@seq:5")
    rows = con.sql(
        "SELECT c.name, SUM(o.total) FROM orders o JOIN customers c ON o.customer = c.id "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert rows == [("Ada", 129.0), ("Bob", 12.5)]
    now = shop.duckdb().sql("SELECT name FROM customers ORDER BY id").fetchall()
    assert now == [("Ada",), ("Robert",)]


def test_versions_views_hold_the_events_with_system_columns(shop: driftdb.Database) -> None:
    con = shop.duckdb()
    ops = con.sql("SELECT id, seq, op FROM orders__versions ORDER BY seq").fetchall()
    assert ops == [
        (1, 3, "INSERT"),
        (2, 4, "INSERT"),
        (3, 5, "INSERT"),
        (1, 6, "PATCH"),
        (2, 7, "SOFT_DELETE"),
    ]
    drift = shop.execute("SHOW DRIFT orders KEY 1").rows
    ducked = con.sql("SELECT seq FROM orders__versions WHERE id = 1 ORDER BY seq").fetchall()
    assert [r[0] for r in ducked] == [r["seq"] for r in drift]
    past = shop.duckdb(as_of=5).sql("SELECT COUNT(*) FROM orders__versions").fetchall()
    assert past == [(3,)]


def test_cli_sql_duckdb_runs_sql_at_a_point(shop: driftdb.Database, tmp_path: Path) -> None:
    path = shop.path
    shop.close()
    env = {k: v for k, v in os.environ.items() if k != "DRIFTDB_DIR"}
    done = subprocess.run(
        [DRIFTDB, "sql", "-d", path, "--duckdb", "--as-of", "@seq:5", "--format", "csv", "-e",
         "SELECT status, COUNT(*) AS n FROM orders GROUP BY 1 ORDER BY 1"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "status,n\nnew,3\n"
    bad = subprocess.run(
        [DRIFTDB, "sql", "-d", path, "--duckdb", "-e", "SELEC 1"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: duckdb: Parser Error")
    usage = subprocess.run(
        [DRIFTDB, "sql", "-d", path, "--as-of", "@seq:1", "-e", "SHOW TABLES"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert usage.returncode == 2
    assert "--as-of goes with --duckdb" in usage.stderr
