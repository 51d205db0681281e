"""Range queries on an indexed column answer exactly what a full scan answers, at every bound.

Each row holds the same value twice: in `n`, which is indexed, and in `m`, which is not. A
query on `n` is planned as an index range; the same query on `m` is a full scan filtered by the
evaluator, the reference. For every value present in the column taken as the bound, and every
operator (`<`, `<=`, `>`, `>=`, `=`, `IN`, `IS NULL`, `IS NOT NULL`), the rows and the COUNT(*)
must be the same, now and AS OF earlier seqs. The values mix every type family, negatives,
zero and -0.0, integral floats and near-integers: the places a bound is easy to get wrong.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

import driftdb

VALUES: list[Any] = [
    None,
    False,
    True,
    -1e300,
    -5,
    -2.5,
    -1,
    -1.0,
    -0.5,
    -1e-9,
    -0.0,
    0,
    0.0,
    1e-9,
    0.5,
    1,
    1.0,
    1.5,
    2,
    3,
    10,
    2**53,
    1e300,
    "",
    "-1",
    "0",
    "B",
    "a",
    "a b",
    "b",
    "é",
    [1],
    {"a": 1},
]
MISSING = object()  # a row without the field at all (reads as null)
OPERATORS = ("<", "<=", ">", ">=", "=")


def document(key: int, value: Any) -> dict[str, Any]:
    return {"id": key} if value is MISSING else {"id": key, "n": value, "m": value}


def build_history(table: driftdb.Table) -> list[int]:
    """Every value on a row of its own, then patches that move values between rows, soft
    deletes and re-inserts, so earlier seqs hold different sets. Returns the seqs to read at."""
    values = [*VALUES, MISSING]
    for key, value in enumerate(values):
        table.insert(document(key, value))
    after_inserts = table.head()
    for key in range(0, len(values), 3):
        value = values[(key * 7 + 5) % len(values)]
        table.patch(key, {"n": value, "m": value} if value is not MISSING else {"n": None})
    after_patches = table.head()
    for key in range(1, len(values), 4):
        table.soft_delete(key)
    after_deletes = table.head()
    for key in range(1, len(values), 8):
        table.insert(document(key, values[(key * 5 + 1) % len(values)]))
    return sorted({1, after_inserts // 2, after_inserts, after_patches, after_deletes})


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with driftdb.open(tmp_path_factory.mktemp("bounds") / "db", create=True) as db:
        table = db.create_table("t", primary_key="id", indexes=["n"])
        seqs = build_history(table)
        yield table, [*seqs, None]  # None: now


def same_answer(table: driftdb.Table, where: str, params: list[Any], as_of: int | None) -> None:
    indexed = where.replace("{col}", "n")
    scanned = where.replace("{col}", "m")
    rows = list(table.select(where=indexed, params=params, as_of=as_of, order_by="id"))
    expected = list(table.select(where=scanned, params=params, as_of=as_of, order_by="id"))
    assert rows == expected, (indexed, params, as_of)
    assert table.count(where=indexed, params=params, as_of=as_of) == len(expected), (
        indexed,
        params,
        as_of,
    )


def test_the_indexed_column_is_planned_as_an_index_range(table: Any) -> None:
    t, _ = table
    for op in OPERATORS:
        plan = t.db.execute(f"EXPLAIN SELECT * FROM t WHERE n {op} -1").rows
        assert "INDEX" in str(plan), (op, plan)
        plan = t.db.execute(f"EXPLAIN SELECT * FROM t WHERE m {op} -1").rows
        assert "FULL SCAN" in str(plan), (op, plan)


@pytest.mark.parametrize("op", OPERATORS)
def test_a_comparison_at_every_present_value_matches_the_scan(table: Any, op: str) -> None:
    t, seqs = table
    for bound in VALUES:
        if bound is None:
            continue  # `n < null` is never planned on an index (nothing compares with null)
        for as_of in seqs:
            same_answer(t, f"{{col}} {op} ?", [bound], as_of)


def test_a_comparison_with_the_bound_on_the_left_matches_the_scan(table: Any) -> None:
    t, seqs = table
    for op, bound in itertools.product(OPERATORS, [-1, -0.0, 0, 0.5, 2, "a", True]):
        same_answer(t, f"? {op} {{col}}", [bound], seqs[-1])


def test_is_null_and_is_not_null_match_the_scan(table: Any) -> None:
    t, seqs = table
    for as_of in seqs:
        same_answer(t, "{col} IS NULL", [], as_of)
        same_answer(t, "{col} IS NOT NULL", [], as_of)


def test_in_lists_of_present_values_match_the_scan(table: Any) -> None:
    t, seqs = table
    scalars = [v for v in VALUES if not isinstance(v, list | dict)]
    for a, b in zip(scalars, scalars[1:] + scalars[:1], strict=True):
        for as_of in seqs:
            same_answer(t, "{col} IN (?)", [a], as_of)
            same_answer(t, "{col} IN (?, ?)", [a, b], as_of)


def test_ranges_closed_on_both_sides_match_the_scan(table: Any) -> None:
    t, seqs = table
    numbers = sorted({v for v in VALUES if type(v) in (int, float)})
    for low, high in itertools.combinations(numbers, 2):
        same_answer(t, "{col} >= ? AND {col} <= ?", [low, high], seqs[-1])
        same_answer(t, "{col} > ? AND {col} < ?", [low, high], seqs[-1])


def test_stored_ints_beyond_2_53_match_the_scan(tmp_path: Any) -> None:
    big = [2**53 - 1, 2**53, 2**53 + 1, 2**53 + 2, -(2**53), -(2**53) - 1, 2**60, 2**60 + 1]
    with driftdb.open(tmp_path / "db", create=True) as db:
        t = db.create_table("t", primary_key="id", indexes=["n"])
        for key, value in enumerate(big):
            t.insert(document(key, value))
        for op, bound in itertools.product(OPERATORS, big):
            same_answer(t, f"{{col}} {op} ?", [bound], None)
