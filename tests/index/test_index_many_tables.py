"""No limit on tables: each table's LMDB environment starts with a small map that grows when
full, and a process keeps only a bounded number of environments open (idle ones are closed and
reopened on use), so address space and file descriptors do not cap the number of tables."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import driftdb


def _create(path: Path, tables: int) -> driftdb.Database:
    db = driftdb.open(path, create=True)
    for i in range(tables):
        db.create_table(f"t{i}", indexes=["v"]).insert({"id": 1, "v": f"row of {i}"})
    return db


def test_a_thousand_tables_in_one_database(tmp_path: Path) -> None:
    started = time.monotonic()
    db = _create(tmp_path / "db", 1000)
    created_s = time.monotonic() - started
    db.close()
    with driftdb.open(tmp_path / "db") as db:
        assert len(db.tables()) == 1000
        for i in (0, 127, 128, 500, 999):
            assert db.table(f"t{i}").get(1) == {"id": 1, "v": f"row of {i}"}
        db.table("t999").patch(1, {"w": 2})
    print(f"created 1,000 tables with a row each in {created_s:.1f}s")


def test_twenty_open_databases_of_a_hundred_tables_in_one_process(tmp_path: Path) -> None:
    dbs = [_create(tmp_path / f"db{n}", 100) for n in range(20)]
    try:
        for n, db in enumerate(dbs):
            for i in (0, 99):
                table = db.table(f"t{i}")
                table.patch(1, {"db": n})
                assert table.get(1) == {"id": 1, "v": f"row of {i}", "db": n}
                assert table.count(where={"v": f"row of {i}"}) == 1
    finally:
        for db in dbs:
            db.close()


def test_an_index_larger_than_its_first_map_grows(tmp_path: Path) -> None:
    with driftdb.open(tmp_path / "db", create=True) as db:
        table = db.create_table("t", indexes=["v"])
        blob = "x" * 2000
        for start in range(0, 12000, 1000):
            table.insert_many({"id": i, "v": i, "blob": blob} for i in range(start, start + 1000))
        assert table.count() == 12000
        assert table.get(11999) == {"id": 11999, "v": 11999, "blob": blob}


@pytest.mark.slow
def test_ten_thousand_tables_in_one_database(tmp_path: Path) -> None:
    started = time.monotonic()
    db = _create(tmp_path / "db", 10_000)
    print(f"created 10,000 tables in {time.monotonic() - started:.1f}s")
    db.close()
    with driftdb.open(tmp_path / "db") as db:
        assert db.table("t9999").get(1) == {"id": 1, "v": "row of 9999"}
