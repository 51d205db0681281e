"""BETWEEN, LIKE and ILIKE against SQLite: the same rows AS OF a point, loaded into an in-memory
SQLite table, match the same conditions, through an index and without one.

LIKE is case-sensitive (SQLite with `PRAGMA case_sensitive_like = ON`), ILIKE ignores ASCII
case (SQLite's default LIKE). Values are ASCII, and each example keeps one column's values in
one type family, where SQLite's cross-type order (numbers before text) and DriftDB's (never
comparable) cannot differ.
"""

from __future__ import annotations

import sqlite3
import tempfile
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import driftdb
from driftdb.query.evaluate import matches
from driftdb.query.parser import parse_expression
from driftdb.storage import fs
from helpers.depth import examples


class NoSync(fs.FileLayer):
    """These examples test what a query answers, not durability: no fsync, so that a hundred
    small histories cost seconds, not minutes, on a slow disk."""

    def fsync(self, fd: int) -> None:
        pass

    def fsync_dir(self, path: str) -> None:
        pass


numbers = st.integers(-5, 5) | st.sampled_from([-2.5, 0.5, 3.0, 4.75])
texts = st.text(alphabet="abAB%_!x", max_size=4)
MISSING = object()


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[tuple[str, int, dict[str, Any]]], str]:
    """Inserts and patches of rows {id, v, s} (v numbers or text, by example; s text), as
    (op, key, document) steps, and the family of v."""
    family = draw(st.sampled_from(["number", "text"]))
    values = numbers if family == "number" else texts
    cell = st.none() | st.just(MISSING) | values
    steps: list[tuple[str, int, dict[str, Any]]] = []
    for key in range(draw(st.integers(1, 12))):
        doc: dict[str, Any] = {"id": key}
        for name, strategy in (("v", cell), ("s", st.none() | st.just(MISSING) | texts)):
            value = draw(strategy)
            if value is not MISSING:
                doc[name] = value
        steps.append(("insert", key, doc))
    keys = len(steps)
    for _ in range(draw(st.integers(0, 6))):
        key = draw(st.integers(0, keys - 1))
        steps.append(("patch", key, {"v": draw(st.none() | values), "s": draw(texts)}))
    return steps, family


def conditions(family: str) -> st.SearchStrategy[tuple[str, str]]:
    """(DriftQL condition, SQLite condition) pairs."""
    values = numbers if family == "number" else texts.filter(lambda t: "'" not in t)
    literal = values.map(lambda v: f"'{v}'" if isinstance(v, str) else repr(v))
    between = st.tuples(literal, literal, st.booleans()).map(
        lambda t: (f"v {'NOT ' if t[2] else ''}BETWEEN {t[0]} AND {t[1]}",) * 2
    )
    pattern = texts.map(lambda t: f"'{t}'")
    like = st.tuples(
        st.sampled_from(["LIKE", "NOT LIKE", "ILIKE", "NOT ILIKE"]),
        pattern,
        st.sampled_from(["", " ESCAPE '!'"]),
    ).map(lambda t: (f"s {t[0]} {t[1]}{t[2]}", f"s {t[0].replace('ILIKE', 'LIKE')} {t[1]}{t[2]}"))
    return between | like


def sqlite_ids(rows: list[dict[str, Any]], condition: str, case_sensitive: bool) -> list[int]:
    with sqlite3.connect(":memory:") as con:
        con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v, s)")
        con.executemany(
            "INSERT INTO t VALUES (?, ?, ?)", [(r["id"], r.get("v"), r.get("s")) for r in rows]
        )
        con.execute(f"PRAGMA case_sensitive_like = {'ON' if case_sensitive else 'OFF'}")
        found = con.execute(f"SELECT id FROM t WHERE {condition} ORDER BY id").fetchall()
    return [row[0] for row in found]


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.data())
def test_between_and_like_agree_with_sqlite_as_of_any_point(
    history: tuple[list[tuple[str, int, dict[str, Any]]], str], data: st.DataObject
) -> None:
    steps, family = history
    with (
        fs.use(NoSync()),
        tempfile.TemporaryDirectory() as directory,
        driftdb.open(directory, create=True) as db,
    ):
        indexed = db.create_table("t", primary_key="id", indexes=["v", "s"])
        plain = db.create_table("u", primary_key="id")
        seqs = []
        inserts = [doc for op, _, doc in steps if op == "insert"]
        with db.batch():  # one commit for the inserts, then one per patch
            for doc in inserts:
                indexed.insert(doc)
                seq = plain.insert(doc)
        seqs.append(seq)
        for _, key, doc in steps[len(inserts) :]:
            with db.batch():
                indexed.patch(key, doc)
                seqs.append(plain.patch(key, doc))
        point = data.draw(st.sampled_from(seqs))
        rows = list(plain.select(as_of=point))
        for _ in range(3):
            ours, theirs = data.draw(conditions(family))
            expected = sqlite_ids(rows, theirs, case_sensitive="ILIKE" not in ours)
            for name in ("t", "u"):
                got = db.execute(f"SELECT id FROM {name} WHERE {ours} AS OF @seq:{point}")
                assert sorted(r["id"] for r in got.rows) == expected, (name, ours, rows)


@pytest.mark.parametrize(
    ("condition", "row", "expected"),
    [
        ("name LIKE 'a%'", {"name": "abc"}, True),
        ("name LIKE 'a%'", {"name": "Abc"}, False),
        ("name ILIKE 'a%'", {"name": "Abc"}, True),
        ("name ILIKE 'é%'", {"name": "Éclair"}, True),
        ("name LIKE 'a_c'", {"name": "a\nc"}, True),
        ("name LIKE '100!%' ESCAPE '!'", {"name": "100%"}, True),
        ("name LIKE '100!%' ESCAPE '!'", {"name": "1000"}, False),
        ("name LIKE 'a!'  ESCAPE '!'", {"name": "a!"}, False),
        ("name LIKE '%a%a%a%a%a%a%a%a%b'", {"name": "a" * 5000}, False),
        ("name LIKE '1%'", {"name": 12}, False),
        ("name NOT LIKE '1%'", {"name": 12}, False),
        ("name NOT LIKE 'x'", {}, False),
        ("n BETWEEN 1 AND 3", {"n": 3.0}, True),
        ("n BETWEEN 1 AND 'z'", {"n": 2}, False),
        ("n NOT BETWEEN 1 AND 'z'", {"n": 2}, False),
        ("n NOT BETWEEN 1 AND 3", {"n": 0}, True),
        ("n NOT BETWEEN 1 AND 3", {"n": None}, False),
        ("`first-name` = 'ada'", {"first-name": "ada"}, True),
        ("a.`b c` = 1", {"a": {"b c": 1}}, True),
    ],
)
def test_pattern_and_range_conditions_on_one_row(
    condition: str, row: dict[str, Any], expected: bool
) -> None:
    assert matches(parse_expression(condition), row) is expected


def test_between_on_an_indexed_column_reads_one_index_range(db: driftdb.Database) -> None:
    orders = db.create_table("orders", primary_key="id", indexes=["total"])
    orders.insert_many([{"id": i, "total": i * 10} for i in range(10)])
    plan = db.execute("EXPLAIN SELECT * FROM orders WHERE total BETWEEN 20 AND 40").message
    assert plan == "INDEX RANGE 20 <= total <= 40, then FILTER by the full WHERE"
    got = db.execute("SELECT id FROM orders WHERE total BETWEEN 20 AND 40").rows
    assert got == [{"id": 2}, {"id": 3}, {"id": 4}]


def test_backticks_name_fields_that_are_no_identifiers_everywhere(db: driftdb.Database) -> None:
    db.execute("CREATE TABLE people (pk=`person-id`, INDEX(`first-name`, `order`))")
    db.execute('INSERT INTO people {"person-id": 1, "first-name": "ada", "order": 2}')
    got = db.execute(
        "SELECT `first-name`, `order` FROM people WHERE `first-name` = 'ada' ORDER BY `order`"
    )
    assert got.rows == [{"first-name": "ada", "order": 2}]
    assert db.execute("SELECT * FROM people WHERE \"first-name\" = 'ada'").rows == []
