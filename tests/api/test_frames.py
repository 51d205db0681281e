"""Tables, query results and history as Arrow, pandas and Polars, at any point in history:
the union schema (structs, lists, JSON strings where types conflict, the primary key first),
streaming in record batches, and the error that names the pip command when a package is
missing."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

import driftdb
from driftdb.model import columnar

pa = pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")
pl = pytest.importorskip("polars")


@pytest.fixture
def orders(db: driftdb.Database) -> driftdb.Table:
    t = db.create_table("orders", indexes=["status"])
    t.insert({"status": "new", "id": 1, "total": 30, "customer": {"name": "ada", "vip": True}})
    t.insert({"id": 2, "status": "new", "total": 12.5, "tags": ["a", "b"]})
    t.insert({"id": 3, "status": "paid", "total": 99, "customer": {"name": "bob", "since": 2019}})
    t.patch(1, {"status": "paid"}, meta={"actor": "alice"})
    t.soft_delete(2)
    return t


def test_to_arrow_has_the_union_schema_with_the_primary_key_first(orders: driftdb.Table) -> None:
    table = orders.to_arrow(as_of=3)
    assert table.schema.names == ["id", "status", "total", "customer", "tags"]
    assert table.schema.field("id").type == pa.int64()
    assert table.schema.field("total").type == pa.float64()  # ints and floats: float64
    assert table.schema.field("customer").type == pa.struct(
        [("name", pa.string()), ("vip", pa.bool_()), ("since", pa.int64())]
    )
    assert table.schema.field("tags").type == pa.list_(pa.string())
    assert table.column("id").to_pylist() == [1, 2, 3]
    assert table.column("customer").to_pylist()[0] == {"name": "ada", "vip": True, "since": None}


def test_to_arrow_answers_as_select_does_at_every_point(
    db: driftdb.Database, orders: driftdb.Table
) -> None:
    for seq in range(db.head() + 1):
        expected = list(orders.select(as_of=seq))
        got = orders.to_arrow(as_of=seq).to_pylist()
        assert [r["id"] for r in got] == [r["id"] for r in expected]
        for row, want in zip(got, expected, strict=True):
            assert {k: v for k, v in row.items() if v is not None and k in want} == {
                k: (float(v) if k == "total" else v)
                for k, v in want.items()
                if k not in ("customer",)
            } | ({"customer": row["customer"]} if "customer" in want else {})


def test_where_and_columns_select_rows_and_columns(orders: driftdb.Table) -> None:
    table = orders.to_arrow(where={"status": "paid"}, columns=["total", "id"])
    assert table.schema.names == ["total", "id"]
    assert table.to_pylist() == [{"total": 30, "id": 1}, {"total": 99, "id": 3}]
    cheap = orders.to_arrow(where="total > 50", columns=["id"])
    assert cheap.to_pylist() == [{"id": 3}]


def test_conflicting_types_become_a_json_string_column(db: driftdb.Database) -> None:
    t = db.create_table("mixed")
    t.insert_many(
        [
            {"id": 1, "v": "text", "n": {"x": 1}},
            {"id": 2, "v": 7, "n": {"x": "one"}},
            {"id": 3, "v": None, "n": {"x": None}, "flag": True},
            {"id": 4, "v": [1], "flag": 1},
        ]
    )
    table = t.to_arrow()
    assert table.schema.field("v").type == pa.string()
    assert table.schema.field("v").metadata == {b"driftdb": b"json"}
    assert table.column("v").to_pylist() == ['"text"', "7", None, "[1]"]
    assert [json.loads(v) for v in table.column("v").to_pylist() if v] == ["text", 7, [1]]
    assert table.schema.field("n").type == pa.struct([("x", pa.string())])
    assert table.column("n").to_pylist()[1] == {"x": '"one"'}
    assert table.column("flag").to_pylist() == [None, None, "true", "1"]  # bool vs int


def test_large_tables_stream_in_record_batches(
    db: driftdb.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = db.create_table("big")
    t.insert_many({"id": i, "n": i * 2} for i in range(250))
    monkeypatch.setattr(columnar, "BATCH_ROWS", 100)
    monkeypatch.setattr(columnar.Columns.batches, "__defaults__", (100,))
    reader = t.arrow_reader()
    sizes = [batch.num_rows for batch in reader]
    assert sizes == [100, 100, 50]


def test_to_pandas_and_to_polars_at_a_past_point(orders: driftdb.Table) -> None:
    frame = orders.to_pandas(as_of=3)
    assert list(frame["id"]) == [1, 2, 3]
    assert list(frame["status"]) == ["new", "new", "paid"]
    polars = orders.to_polars(as_of="@seq:3")
    assert polars["id"].to_list() == [1, 2, 3]


def test_query_results_convert_and_expose_the_arrow_stream(
    db: driftdb.Database, orders: driftdb.Table
) -> None:
    result = db.execute("SELECT id, total FROM orders AS OF @seq:3 ORDER BY total DESC")
    assert result.to_arrow().to_pylist() == [
        {"id": 3, "total": 99.0},
        {"id": 1, "total": 30.0},
        {"id": 2, "total": 12.5},
    ]
    assert pa.table(result).num_rows == 3
    assert pl.DataFrame(result)["id"].to_list() == [3, 1, 2]
    assert list(result.to_pandas()["id"]) == [3, 1, 2]
    assert result.to_polars().shape == (3, 2)


def test_history_frame_has_one_row_per_event_with_system_columns(
    orders: driftdb.Table,
) -> None:
    events = orders.history_frame()
    assert events.schema.names[:5] == ["seq", "ts", "op", "meta", "id"]
    assert events.schema.field("ts").type == pa.timestamp("ms", tz="UTC")
    rows = events.to_pylist()
    assert [(r["id"], r["seq"], r["op"]) for r in rows] == [
        (1, 1, "INSERT"),
        (1, 4, "PATCH"),
        (2, 2, "INSERT"),
        (2, 5, "SOFT_DELETE"),
        (3, 3, "INSERT"),
    ]
    assert rows[1]["meta"] == {"actor": "alice"}
    assert rows[1]["status"] == "paid"
    assert rows[3]["status"] is None  # no row after a SOFT_DELETE
    one = orders.history_frame(key=1, as_of=3).to_pylist()
    assert [r["seq"] for r in one] == [1]


def test_reads_inside_a_batch_see_its_pending_rows(
    db: driftdb.Database, orders: driftdb.Table
) -> None:
    with db.batch():
        orders.insert({"id": 9, "status": "new"})
        assert 9 in orders.to_arrow().column("id").to_pylist()


def test_a_missing_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(driftdb.MissingDependencyError) as info:
        columnar.require("pyarrow", "arrow")
    assert str(info.value) == (
        'this needs the optional package "pyarrow": pip install "driftdb[arrow]"'
    )
    assert isinstance(info.value, ImportError)


def test_empty_table_gives_an_empty_frame_with_its_primary_key(db: driftdb.Database) -> None:
    t = db.create_table("empty", primary_key="sku")
    table = t.to_arrow()
    assert table.num_rows == 0
    assert table.schema.names == ["sku"]
    rows: list[Any] = t.to_pandas().to_dict("records")
    assert rows == []
