"""The index orders values exactly as the evaluator does: long strings, big ints, lists, objects.

Regressions from the trust issue: long values indexed by prefix + digest made range scans follow
digest order; ints above 2**53 were rounded to doubles; lists and objects sorted by JSON text.
The evaluator's `sort_key` is the reference; every range answer is compared with the same data
in an unindexed table.
"""

from __future__ import annotations

import functools
import random
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import driftdb
from driftdb.index.keycodec import encode_value, is_exact
from driftdb.query.evaluate import sort_key
from helpers.depth import examples

X = "x" * 100
OPS = ["<", "<=", ">", ">=", "="]


def both_tables(db: driftdb.Database, docs: list[dict[str, Any]]) -> None:
    db.create_table("ix", indexes=["v"]).insert_many(docs)
    db.create_table("plain").insert_many(docs)


def ids(db: driftdb.Database, table: str, where: str, params: list[Any]) -> list[Any]:
    return sorted(r["id"] for r in db.table(table).select(where=where, params=params))


def assert_ranges_agree(db: driftdb.Database, bounds: list[Any]) -> None:
    for bound in bounds:
        for op in OPS:
            where = f"v {op} ?"
            want = ids(db, "plain", where, [bound])
            assert ids(db, "ix", where, [bound]) == want, (op, bound)
            assert db.table("ix").count(where=where, params=[bound]) == len(want), (op, bound)


def test_range_on_long_strings_sharing_the_indexed_prefix(db: driftdb.Database) -> None:
    db.execute(
        f"CREATE TABLE t (pk=id, INDEX(s)); INSERT INTO t "
        f'[{{"id":1,"s":"{X}a"}},{{"id":2,"s":"{X}g"}}]'
    )
    assert db.execute(f"SELECT id FROM t WHERE s > '{X}a'").rows == [{"id": 2}]
    assert db.execute(f"SELECT COUNT(*) FROM t WHERE s < '{X}g'").rows == [{"count": 1}]


def test_range_on_long_urls_matches_the_unindexed_answer(db: driftdb.Database) -> None:
    rng = random.Random(7)
    prefix = "https://example.com/" + "a/b/c/" * 16
    urls = [prefix + "".join(rng.choices("abcxyz/", k=rng.randint(0, 40))) for _ in range(200)]
    both_tables(db, [{"id": n, "v": url} for n, url in enumerate(urls)])
    assert_ranges_agree(db, [*rng.sample(urls, 25), prefix, prefix[:50], prefix + "zzz"])


BIG = [2**53 - 1, 2**53, 2**53 + 1, 2**53 + 2, 2**63 - 2, 2**63 - 1, 2**64 - 1, -(2**63)]


def test_range_on_ints_beyond_2_to_the_53_is_exact(db: driftdb.Database) -> None:
    values = [*BIG, 9007199254740992.0, 1.5, -(2**53) - 1, 0]
    both_tables(db, [{"id": n, "v": v} for n, v in enumerate(values)])
    assert ids(db, "ix", "v < 9007199254740993", []) == ids(db, "plain", "v < 9007199254740993", [])
    assert 1 in ids(db, "ix", "v < 9007199254740993", [])  # 2**53 itself
    assert 5 in ids(db, "ix", "v > 9223372036854775806", [])
    assert_ranges_agree(db, [*values, 2**53 + 0.5, 10**30, -(10**30), 10**400])
    got = [r["v"] for r in db.table("ix").select(order_by="v")]
    assert got == sorted(values)


LISTS: list[Any] = [[], [1], [1, 2], [2], [1, [0]], [[1], 2], [[1, 2]], ["a"], [None], [True]]
OBJECTS: list[Any] = [{}, {"a": 1}, {"a": 1, "b": 0}, {"a": 2}, {"b": 0}, {"a": [1]}, {"a": {}}]


def test_lists_and_objects_order_element_by_element() -> None:
    assert sorted([[1, 2], [1], [], [2]], key=sort_key) == [[], [1], [1, 2], [2]]
    ordered = sorted(OBJECTS, key=sort_key)
    assert ordered[:5] == [{}, {"a": 1}, {"a": 1, "b": 0}, {"a": 2}, {"a": [1]}]
    for values in (LISTS, OBJECTS):
        by_index = sorted(values, key=encode_value)
        assert by_index == sorted(values, key=sort_key)


def test_ranges_and_order_on_list_and_object_columns(db: driftdb.Database) -> None:
    values = LISTS + OBJECTS
    both_tables(db, [{"id": n, "v": v} for n, v in enumerate(values)])
    assert_ranges_agree(db, values)
    got = [r["v"] for r in db.table("ix").select(order_by="v DESC")]
    assert got == sorted(values, key=sort_key, reverse=True)


json_scalar = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
)
json_value = st.recursive(
    json_scalar,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)


def _compare(a: Any, b: Any) -> int:
    ka, kb = sort_key(a), sort_key(b)
    return (ka > kb) - (ka < kb)


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(json_value, min_size=2, max_size=12))
def test_the_index_encoding_orders_values_as_the_evaluator_does(values: list[Any]) -> None:
    exact = [v for v in values if is_exact(v)]
    by_index = [encode_value(v) for v in sorted(exact, key=encode_value)]
    by_evaluator = [encode_value(v) for v in sorted(exact, key=functools.cmp_to_key(_compare))]
    assert by_index == by_evaluator
    for a in exact:
        for b in exact:
            assert (encode_value(a) == encode_value(b)) == (_compare(a, b) == 0), (a, b)


def test_a_reopened_database_gives_the_same_exact_ranges(tmp_path: Path) -> None:
    with driftdb.open(tmp_path / "db", create=True) as db:
        both_tables(db, [{"id": n, "v": v} for n, v in enumerate(BIG + LISTS)])
    with driftdb.open(tmp_path / "db", readonly=True) as db:
        assert_ranges_agree(db, [*BIG[:3], *LISTS[:3]])
