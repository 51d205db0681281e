"""The log replay is the oracle: every fast read path must give the replay's answer.

Random histories over a few keys, then for random WHERE clauses and every seq: the planned
read (key directory, temporal indexes, counts) equals a replay of the whole log filtered by the
evaluator; the same holds through a reader that finds the indexes behind the log (the overlay
path), and after the index files are deleted and rebuilt.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import driftdb
from driftdb.index.store import TableIndex
from driftdb.model.replay import state_at
from driftdb.query.evaluate import matches
from driftdb.query.parser import parse_expression
from driftdb.storage.tail import read_tail
from helpers.depth import examples

KEYS: list[int | str] = [1, 2, 3, "a", "b"]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from(["x", "y", "z"]),
    st.floats(-3, 3, allow_nan=False, allow_infinity=False),
)
STATUS = st.sampled_from(["new", "paid", "shipped", 1, 2.5, None, True])

operation = st.one_of(
    st.tuples(st.just("insert"), st.sampled_from(KEYS), STATUS, VALUES),
    st.tuples(st.just("patch"), st.sampled_from(KEYS), STATUS, VALUES),
    st.tuples(st.just("delete"), st.sampled_from(KEYS), st.none(), st.none()),
)


def literal(value: Any) -> str:
    import json

    return json.dumps(value)


comparison = st.builds(
    lambda col, op, v: f"{col} {op} {literal(v)}",
    st.sampled_from(["status", "n", "id", "meta.deep"]),
    st.sampled_from(["=", "!=", "<", "<=", ">", ">="]),
    st.one_of(STATUS, VALUES, st.sampled_from(KEYS)),
)
simple = st.one_of(
    comparison,
    st.builds(
        lambda vs: f"status IN ({', '.join(literal(v) for v in vs)})",
        st.lists(STATUS, min_size=1, max_size=3),
    ),
    st.builds(
        lambda vs: f"id IN ({', '.join(literal(v) for v in vs)})",
        st.lists(st.sampled_from(KEYS), min_size=1, max_size=3),
    ),
    st.sampled_from(["status IS NULL", "n IS NOT NULL", "meta.deep IS NULL"]),
)
where = st.recursive(
    simple,
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"({a}) AND ({b})", inner, inner),
        st.builds(lambda a, b: f"({a}) OR ({b})", inner, inner),
        st.builds(lambda a: f"NOT ({a})", inner),
    ),
    max_leaves=4,
)


def apply_history(table: driftdb.Table, ops: list[tuple[str, Any, Any, Any]]) -> None:
    for kind, key, status, n in ops:
        live = table.get(key) is not None
        doc: dict[str, Any] = {"id": key, "status": status, "n": n}
        if n is not None:
            doc["meta"] = {"deep": n}
        if kind == "insert" and not live:
            table.insert(doc)
        elif kind == "patch" and live:
            table.patch(key, {"status": status, "meta": {"deep": n}})
        elif kind == "delete" and live:
            table.soft_delete(key)


def replay_answer(db_path: Path, expr_text: str, seq: int) -> set[Any]:
    tail = read_tail(str(db_path / "tables" / "t" / "segments"), None)
    state = state_at((item.event for item in tail.located), seq, "id")
    expr = parse_expression(expr_text)
    return {key for key, row in state.items() if matches(expr, row)}


def check_all(db: driftdb.Database, db_path: Path, wheres: list[str]) -> None:
    table = db.table("t")
    head = db.head()
    for text in wheres:
        for seq in range(0, head + 1):
            expected = replay_answer(db_path, text, seq)
            got = [row["id"] for row in table.select(where=text, as_of=seq)]
            assert len(got) == len(set(got)), f"duplicates for {text} @ {seq}"
            assert set(got) == expected, f"WHERE {text} AS OF @seq:{seq}"
            assert table.count(where=text, as_of=seq) == len(expected), text


settings_ = settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@settings_
@given(
    ops=st.lists(operation, min_size=1, max_size=25), wheres=st.lists(where, min_size=1, max_size=3)
)
def test_indexed_reads_equal_replay(
    tmp_path_factory: Any, ops: list[Any], wheres: list[str]
) -> None:
    path = tmp_path_factory.mktemp("db") / "db"
    with driftdb.open(path, create=True) as db:
        table = db.create_table("t", primary_key="id", indexes=["status", "meta.deep"])
        apply_history(table, ops)
        check_all(db, path, wheres)
    shutil.rmtree(path / "tables" / "t" / "indexes")
    with driftdb.open(path) as db:  # rebuilt from the log
        check_all(db, path, wheres)


@settings_
@given(
    ops=st.lists(operation, min_size=1, max_size=20),
    late=st.lists(operation, min_size=1, max_size=8),
    wheres=st.lists(where, min_size=1, max_size=2),
)
def test_reader_with_indexes_behind_the_log_equals_replay(
    tmp_path_factory: Any,
    ops: list[Any],
    late: list[Any],
    wheres: list[str],
) -> None:
    """The writer dies between the segment append and the index update: a reader then finds
    events the index does not cover, and must still answer exactly."""
    path = tmp_path_factory.mktemp("db") / "db"
    db = driftdb.open(path, create=True)
    table = db.create_table("t", primary_key="id", indexes=["status"])
    apply_history(table, ops)
    table.count()  # a read: the (write-behind) indexes take every acknowledged event
    original = TableIndex.apply
    TableIndex.apply = lambda self, located, primary_key, known=None: None  # type: ignore[method-assign]
    try:
        apply_history(table, late)  # durable in the log, invisible to the index
        with driftdb.open(path, readonly=True) as reader:
            check_all(reader, path, wheres)
            for key in KEYS:
                full = [e.seq for e in reader.table("t").history(key)]
                assert full == sorted(full)
        db.close()  # the writer "dies": its indexes never take the late events
    finally:
        TableIndex.apply = original  # type: ignore[method-assign]
    with driftdb.open(path) as reopened:  # the writer catches the index up on open
        check_all(reopened, path, wheres)
