"""WHERE semantics on one row, the ORDER BY total order, and projection."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftdb.query.ast import Column, CompareOp, Comparison, Literal, OrderItem
from driftdb.query.evaluate import (
    compare,
    matches,
    order_rows,
    project,
    resolve_path,
    sort_key,
)
from driftdb.query.parser import parse_expression
from helpers.depth import examples

ROW: dict[str, Any] = {
    "id": 1,
    "status": "paid",
    "total": 12.5,
    "qty": 3,
    "flag": True,
    "note": None,
    "tags": ["a", "b"],
    "customer": {"name": "Ada", "address": {"city": "Paris"}},
}


def where(text: str, row: dict[str, Any] = ROW) -> bool:
    return matches(parse_expression(text), row)


# ---------------------------------------------------------------- paths


def test_resolve_path_walks_nested_objects() -> None:
    assert resolve_path(ROW, ("customer", "address", "city")) == (True, "Paris")
    assert resolve_path(ROW, ("note",)) == (True, None)


def test_resolve_path_reports_missing_steps_and_steps_into_non_objects() -> None:
    assert resolve_path(ROW, ("customer", "phone")) == (False, None)
    assert resolve_path(ROW, ("status", "length")) == (False, None)
    assert resolve_path(ROW, ("tags", "0")) == (False, None)


# ---------------------------------------------------------------- comparisons


@pytest.mark.parametrize(
    "condition",
    [
        "status = 'paid'",
        "status != 'new'",
        "total > 12",
        "total <= 12.5",
        "qty = 3.0",
        "3 = qty",
        "12 < total",
        "flag = true",
        "customer.address.city = 'Paris'",
        "tags = ['a', 'b']",
        "customer = {'address': {'city': 'Paris'}, 'name': 'Ada'}",
        "status IN ('new', 'paid')",
        "qty NOT IN (1, 2)",
        "note IS NULL",
        "missing IS NULL",
        "status IS NOT NULL",
        "status = 'paid' AND (qty > 5 OR total > 10)",
        "NOT status = 'new'",
        "id = id",
        "'b' > 'a'",
    ],
)
def test_conditions_that_hold(condition: str) -> None:
    assert where(condition)


@pytest.mark.parametrize(
    "condition",
    [
        "status = 'new'",
        "total < 12",
        "note = null",
        "note != null",
        "missing = 1",
        "missing != 1",
        "NOT missing = 1",
        "missing < 1",
        "flag = 1",
        "flag != true",
        "status < 5",
        "NOT status < 5",
        "tags = ['b', 'a']",
        "status IS NULL",
        "customer.phone IS NOT NULL",
        "missing IN (1, 2)",
        "missing NOT IN (1, 2)",
        "qty NOT IN (1, null)",
        "status = 'paid' AND missing = 1",
    ],
)
def test_conditions_that_do_not_hold(condition: str) -> None:
    assert not where(condition)


def test_across_type_families_equality_fails_and_inequality_holds() -> None:
    assert where("status != 5")
    assert where("flag != 1")
    assert where("qty != '3'")
    assert not where("qty = '3'")


def test_booleans_are_not_numbers() -> None:
    assert compare("=", True, 1) is False
    assert compare("=", False, 0) is False
    assert compare("<", True, 2) is None


def test_ints_and_floats_compare_numerically_even_when_large() -> None:
    assert compare("=", 2**53, float(2**53)) is True
    assert compare("=", 2**53 + 1, float(2**53)) is False
    assert compare("<", 1, 1.5) is True


def test_unknown_keeps_sql_three_valued_logic() -> None:
    row: dict[str, Any] = {"a": 1}
    assert where("missing = 1 OR a = 1", row)  # unknown OR true = true
    assert not where("missing = 1 OR a = 2", row)  # unknown OR false = unknown
    assert not where("NOT (missing = 1 AND a = 1)", row)  # NOT unknown = unknown
    assert where("NOT (missing = 1 AND a = 2)", row)  # unknown AND false = false


def test_comparisons_need_no_parser() -> None:
    expr = Comparison(">=", Column(("n",)), Literal(2))
    assert matches(expr, {"n": 2})
    assert not matches(expr, {"n": "2"})


# ---------------------------------------------------------------- order


def test_sort_key_orders_the_type_families() -> None:
    values: list[Any] = [{"a": 1}, [1], "a", 2.5, 1, True, False, None]
    assert sorted(values, key=sort_key) == [None, False, True, 1, 2.5, "a", [1], {"a": 1}]


def test_lists_and_objects_order_by_canonical_json_and_equal_when_values_are_equal() -> None:
    assert sort_key({"b": 2, "a": 1}) == sort_key({"a": 1, "b": 2.0})
    assert sort_key([1]) == sort_key([1.0])
    assert sort_key([True]) != sort_key([1])
    assert sort_key([1, 2]) < sort_key([1, 3])


def test_a_nan_sorts_after_every_number_instead_of_breaking_the_order() -> None:
    assert sorted([float("nan"), 1e308, -1], key=sort_key)[:2] == [-1, 1e308]


def test_order_rows_sorts_by_several_terms_missing_as_null_and_stable() -> None:
    rows: list[dict[str, Any]] = [
        {"id": 1, "g": "b", "n": 2},
        {"id": 2, "g": "a"},
        {"id": 3, "g": "b", "n": 1},
        {"id": 4, "g": "a", "n": 5},
        {"id": 5, "g": "b", "n": 1},
    ]
    order = [OrderItem(Column(("g",))), OrderItem(Column(("n",)), descending=True)]
    assert [r["id"] for r in order_rows(rows, order)] == [4, 2, 1, 3, 5]


def test_project_keys_by_dotted_text_in_the_order_asked() -> None:
    columns = [Column(("customer", "address", "city")), Column(("id",)), Column(("nope",))]
    assert project(ROW, columns) == {"customer.address.city": "Paris", "id": 1, "nope": None}
    assert list(project(ROW, columns)) == ["customer.address.city", "id", "nope"]
    assert project(ROW, [("customer", "name"), "status"]) == {
        "customer.name": "Ada",
        "status": "paid",
    }


# ---------------------------------------------------------------- properties

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False)
    | st.text(max_size=5)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(max_examples=examples(500), deadline=None)
@given(json_values, json_values, json_values)
def test_sort_key_is_a_total_order(a: Any, b: Any, c: Any) -> None:
    ka, kb, kc = sort_key(a), sort_key(b), sort_key(c)
    assert (ka < kb) + (ka == kb) + (ka > kb) == 1  # exactly one holds: no incomparable pair
    if ka <= kb and kb <= kc:
        assert ka <= kc


def _same_family(a: Any, b: Any) -> bool:
    def family(v: Any) -> int:
        if v is None:
            return 0
        if isinstance(v, bool):
            return 1
        if isinstance(v, int | float):
            return 2
        return 3 if isinstance(v, str) else 4 if isinstance(v, list) else 5

    return family(a) == family(b)


@settings(max_examples=examples(500), deadline=None)
@given(json_values, json_values)
def test_sort_key_agrees_with_where_for_values_of_one_family(a: Any, b: Any) -> None:
    row = {"a": a, "b": b}
    ops: list[CompareOp] = ["=", "!=", "<", "<=", ">", ">="]
    for op in ops:
        holds = matches(Comparison(op, Column(("a",)), Column(("b",))), row)
        if a is None or b is None:
            assert not holds  # any comparison with null is unknown
        elif _same_family(a, b):
            expected = {
                "=": sort_key(a) == sort_key(b),
                "!=": sort_key(a) != sort_key(b),
                "<": sort_key(a) < sort_key(b),
                "<=": sort_key(a) <= sort_key(b),
                ">": sort_key(a) > sort_key(b),
                ">=": sort_key(a) >= sort_key(b),
            }[op]
            assert holds == expected, (a, op, b)
        else:
            assert holds == (op == "!="), (a, op, b)


@settings(max_examples=examples(300), deadline=None)
@given(st.floats(allow_nan=False) | st.integers(), st.floats(allow_nan=False) | st.integers())
def test_numbers_compare_as_python_compares_them(a: float, b: float) -> None:
    assert compare("<", a, b) is (a < b)
    assert compare("=", a, b) is (a == b)
