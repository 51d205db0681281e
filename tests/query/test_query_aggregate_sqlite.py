"""GROUP BY, aggregates, HAVING and DISTINCT against SQLite: random rows AS OF a random point,
loaded into an in-memory SQLite table, give the same groups and values, through the value
counts (an indexed group column) and by folding rows.

SQLite's SUM and AVG turn text into numbers; DriftDB skips what is not a number, so the SQLite
side sums `CASE WHEN typeof(n) IN ('integer', 'real') THEN n END`. Values are ints, floats,
ASCII text and null (SQLite has no booleans, lists or objects); MIN and MAX over mixed ints and
text agree because both put numbers before text.
"""

from __future__ import annotations

import math
import sqlite3
import tempfile
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import driftdb
from driftdb.errors import QuerySyntaxError
from driftdb.query.aggregate import group_rows
from driftdb.query.parser import parse, parse_one
from driftdb.storage import fs
from helpers.depth import examples


class NoSync(fs.FileLayer):
    """What a query answers, not durability, is under test: no fsync."""

    def fsync(self, fd: int) -> None:
        pass

    def fsync_dir(self, path: str) -> None:
        pass


MISSING = object()
group_values = st.sampled_from(["a", "b", "B", 1, 2.0, 2]) | st.none() | st.just(MISSING)
numbers = st.integers(-50, 50) | st.sampled_from([0.5, -2.25, 10.0])
values = numbers | st.sampled_from(["x", "y", ""]) | st.none() | st.just(MISSING)


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[str, int, dict[str, Any]]]:
    steps: list[tuple[str, int, dict[str, Any]]] = []
    keys = draw(st.integers(0, 14))
    for key in range(keys):
        doc: dict[str, Any] = {"id": key}
        for name, strategy in (("g", group_values), ("n", values)):
            value = draw(strategy)
            if value is not MISSING:
                doc[name] = value
        steps.append(("insert", key, doc))
    for _ in range(draw(st.integers(0, 5)) if keys else 0):
        key = draw(st.integers(0, keys - 1))
        patch = {"g": draw(group_values), "n": draw(values)}
        steps.append(("patch", key, {k: v for k, v in patch.items() if v is not MISSING}))
    if keys and draw(st.booleans()):
        steps.append(("delete", draw(st.integers(0, keys - 1)), {}))
    return steps


def number_or_self(value: Any) -> Any:
    """Compare 2 and 2.0 as one value, as both databases group them."""
    return float(value) if isinstance(value, int | float) else value


def same(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, int | float) and isinstance(theirs, int | float):
        return math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-9)
    return bool(ours == theirs)


NUMERIC = "CASE WHEN typeof(n) IN ('integer', 'real') THEN n END"
QUERIES = [
    (
        "SELECT g, COUNT(*), COUNT(n), COUNT(DISTINCT n), SUM(n), AVG(n), MIN(n), MAX(n)"
        " FROM {t} {where} GROUP BY g",
        f"SELECT g, COUNT(*), COUNT(n), COUNT(DISTINCT n), SUM({NUMERIC}), AVG({NUMERIC}),"
        " MIN(n), MAX(n) FROM t {where} GROUP BY g",
    ),
    (
        "SELECT COUNT(*) AS c, SUM(DISTINCT n), MIN(g), MAX(g) FROM {t} {where}",
        f"SELECT COUNT(*), SUM(DISTINCT {NUMERIC}), MIN(g), MAX(g) FROM t {{where}}",
    ),
    (
        "SELECT g, COUNT(*) AS c FROM {t} {where} GROUP BY g HAVING c > 1 OR MAX(n) = 'x'",
        "SELECT g, COUNT(*) FROM t {where} GROUP BY g HAVING COUNT(*) > 1 OR MAX(n) = 'x'",
    ),
    ("SELECT DISTINCT g FROM {t} {where}", "SELECT DISTINCT g FROM t {where}"),
    ("SELECT g, COUNT(*) FROM {t} GROUP BY g", "SELECT g, COUNT(*) FROM t GROUP BY g"),
    (
        "SELECT g, COUNT(g), MIN(g) FROM {t} GROUP BY g HAVING COUNT(*) >= 1",
        "SELECT g, COUNT(g), MIN(g) FROM t GROUP BY g HAVING COUNT(*) >= 1",
    ),
]
WHERES = ["", "WHERE id > 3", "WHERE n IS NOT NULL"]


def sqlite_rows(rows: list[dict[str, Any]], query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(":memory:") as con:
        con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, g, n)")
        con.executemany(
            "INSERT INTO t VALUES (?, ?, ?)", [(r["id"], r.get("g"), r.get("n")) for r in rows]
        )
        return con.execute(query).fetchall()


def normalized(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted(
        (tuple(number_or_self(v) for v in row) for row in rows),
        key=lambda row: [(v is None, str(type(v)), str(v)) for v in row],
    )


def assert_same_rows(ours: list[tuple[Any, ...]], theirs: list[tuple[Any, ...]]) -> None:
    a, b = normalized(ours), normalized(theirs)
    assert len(a) == len(b), (a, b)
    for x, y in zip(a, b, strict=True):
        assert all(same(p, q) for p, q in zip(x, y, strict=True)), (a, b)


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.data())
def test_groups_and_aggregates_agree_with_sqlite_as_of_any_point(
    steps: list[tuple[str, int, dict[str, Any]]], data: st.DataObject
) -> None:
    with (
        fs.use(NoSync()),
        tempfile.TemporaryDirectory() as directory,
        driftdb.open(directory, create=True) as db,
    ):
        indexed = db.create_table("t", primary_key="id", indexes=["g"])
        plain = db.create_table("u", primary_key="id")
        seqs = [0]
        for op, key, doc in steps:
            with db.batch():
                for table in (indexed, plain):
                    if op == "insert":
                        seq = table.insert(doc)
                    elif op == "patch":
                        seq = table.patch(key, doc)
                    else:
                        seq = table.soft_delete(key)
            seqs.append(seq)
        point = data.draw(st.sampled_from(seqs))
        rows = list(plain.select(as_of=point))
        for ours, theirs in QUERIES:
            where = data.draw(st.sampled_from(WHERES))
            expected = sqlite_rows(rows, theirs.format(where=where))
            for name in ("t", "u"):
                text = ours.format(t=f"{name} AS OF @seq:{point}", where=where)
                got = db.execute(text)
                assert_same_rows([tuple(r.values()) for r in got.rows], expected)


def test_group_by_an_indexed_column_is_answered_from_the_value_counts(
    db: driftdb.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders = db.create_table("orders", primary_key="id", indexes=["status"])
    orders.insert_many([{"id": i, "status": ["new", "paid"][i % 2]} for i in range(10)])
    orders.patch(0, {"status": "void"})
    monkeypatch.setattr("driftdb.query.engine.group_rows", _no_rows)
    got = db.execute("SELECT status, COUNT(*) AS n FROM orders AS OF @seq:10 GROUP BY status")
    assert sorted(got.rows, key=str) == [{"n": 5, "status": "new"}, {"n": 5, "status": "paid"}]
    got = db.execute("SELECT status, COUNT(*) FROM orders GROUP BY status ORDER BY status")
    assert got.rows == [
        {"status": "new", "COUNT(*)": 4},
        {"status": "paid", "COUNT(*)": 5},
        {"status": "void", "COUNT(*)": 1},
    ]
    assert got.columns == ["status", "COUNT(*)"]


def _no_rows(*args: Any) -> Any:
    raise AssertionError("rows were read")


def test_group_rows_works_over_any_row_stream_with_any_column_names() -> None:
    [select] = parse("SELECT _op, COUNT(*) AS n, MAX(_seq) FROM t GROUP BY _op")
    assert isinstance(select, driftdb.query.ast.Select)  # type: ignore[attr-defined]
    versions = [
        {"_op": "INSERT", "_seq": 1},
        {"_op": "PATCH", "_seq": 2},
        {"_op": "PATCH", "_seq": 5},
    ]
    groups = group_rows(versions, select)
    assert [(g["_op"], g[select.items[1].expr], g[select.items[2].expr]) for g in groups] == [
        ("INSERT", 1, 1),
        ("PATCH", 2, 5),
    ]


def test_plain_count_keeps_its_shape_and_honours_limit(db: driftdb.Database) -> None:
    db.create_table("t", primary_key="id").insert_many([{"id": 1}, {"id": 2}])
    assert db.execute("SELECT COUNT(*) FROM t").rows == [{"count": 2}]
    assert db.execute("SELECT COUNT(*) FROM t").count == 2
    assert db.execute("SELECT COUNT(*) FROM t LIMIT 0").rows == []
    assert db.execute("SELECT COUNT(*) FROM t LIMIT 1 OFFSET 1").rows == []
    assert db.execute("SELECT COUNT(*) AS n FROM t").rows == [{"n": 2}]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "SELECT a, COUNT(*) FROM t",
            "Column 'a' must be in GROUP BY or inside an aggregate at line 1, column 8",
        ),
        (
            "SELECT * FROM t GROUP BY a",
            "SELECT * cannot be grouped at line 1, column 8"
            " (name the columns: SELECT a, COUNT(*) FROM t GROUP BY a)",
        ),
        (
            "SELECT a, COUNT(*) FROM t GROUP BY a ORDER BY b",
            "ORDER BY column 'b' must be in GROUP BY or inside an aggregate at line 1, column 47",
        ),
        (
            "SELECT a FROM t GROUP BY a HAVING b = 1",
            "HAVING column 'b' must be in GROUP BY or inside an aggregate at line 1, column 28",
        ),
        (
            "SELECT DISTINCT a FROM t ORDER BY b",
            "ORDER BY of a SELECT DISTINCT must name a column it selects at line 1, column 35",
        ),
        (
            "SELECT * FROM t WHERE COUNT(*) > 1",
            "Aggregate COUNT is not allowed in WHERE at line 1, column 23"
            " (filter groups with HAVING)",
        ),
        (
            "SELECT SUM(*) FROM t",
            "Expect column after SUM( at line 1, column 12 (only COUNT takes *: it counts rows)",
        ),
        ("SELECT COUNT(SUM(a)) FROM t", "Aggregates cannot be nested at line 1, column 14"),
        ("SELECT AVG() FROM t", "Expect column after AVG( at line 1, column 12"),
        (
            "SELECT a AS x, b AS x FROM t",
            "Column name 'x' given twice in the select list at line 1, column 16"
            " (give one of them another name with AS)",
        ),
        ("SELECT COUNT(a FROM t", "Expect ')' after COUNT argument at line 1, column 16"),
        ("SELECT COUNT(* FROM t", "Expect ')' after COUNT(* at line 1, column 16"),
        ("SELECT a FROM t GROUP a", "Expect BY after GROUP at line 1, column 23"),
        (
            "SELECT a FROM t GROUP BY",
            "Expect column after GROUP BY at end of input at line 1, column 25",
        ),
        (
            "SELECT a FROM t GROUP BY a HAVING",
            "Expect expression after HAVING at end of input at line 1, column 34",
        ),
        (
            "SELECT a AS FROM t",
            "Expect column name after AS at line 1, column 13"
            " (FROM is a reserved word; write `FROM` for a name)",
        ),
        (
            "SELECT a FROM t GROUP BY a LIMIT 1 HAVING COUNT(*) > 1",
            "Unexpected 'HAVING' after LIMIT at line 1, column 36 (expected OFFSET or ';')",
        ),
    ],
)
def test_malformed_aggregates_get_exact_messages(source: str, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_one(source)
    assert str(caught.value) == message
