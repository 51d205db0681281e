"""The printer: canonical DriftQL that parses back to the very same tree.

`repr` is compared as well as `==`, because `==` alone cannot tell 1 from 1.0 or from True.
"""

from __future__ import annotations

import contextlib
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftdb.errors import InvalidInputError, QuerySyntaxError
from driftdb.query.ast import (
    And,
    AsOf,
    Between,
    Column,
    Comparison,
    Expr,
    InList,
    IsNull,
    Like,
    Literal,
    Not,
    Or,
    Select,
)
from driftdb.query.lexer import LINE_BREAKS
from driftdb.query.parser import parse, parse_expression, parse_one
from driftdb.query.printer import to_driftql
from helpers.depth import examples

CORPUS = [
    # history statements (issue 12)
    "SELECT *, _seq, _op FROM t FOR SYSTEM_TIME ALL WHERE id = 7 ORDER BY _seq",
    "select id, _end_ts FROM t for system_time between @seq:3 and '2025-01-01T00:00:00Z'",
    "SELECT COUNT(*) FROM t FOR SYSTEM_TIME FROM @seq:1 TO @now WHERE _op = 'PATCH'",
    "SELECT * FROM t WHERE a = 1 FOR SYSTEM_TIME ALL LIMIT 5 OFFSET 2",
    "SELECT *, a.b FROM t AS OF @seq:4",
    "EXPLAIN SELECT _meta.who FROM t FOR SYSTEM_TIME ALL",
    "DIFF orders FROM @seq:1 TO @now",
    "DIFF orders FROM '2025-01-01T00:00:00Z' TO @seq:9 WHERE status = 'paid' OR total > 5",
    "EXPLAIN DIFF orders FROM @seq:1 TO @seq:2",
    "SHOW BLAME orders KEY 42",
    "SHOW BLAME orders KEY 'k' AS OF @seq:3",
    "EXPLAIN SHOW BLAME orders KEY 1",
    "RESTORE orders KEY 42 AS OF @seq:7",
    'RESTORE orders AS OF \'2025-01-01T00:00:00Z\' META {"reason": "undo", "by": [1, null]}',
    "EXPLAIN RESTORE orders KEY 'x' AS OF @seq:1",
    "ALTER TABLE orders ADD INDEX (status, customer.country)",
    "alter table orders drop index (status)",
    "EXPLAIN ALTER TABLE orders ADD INDEX (total)",
    "CREATE TABLE orders (pk=id)",
    "create table orders (INDEX(status, customer.country), pk = id)",
    "SHOW TABLES",
    "DESCRIBE orders",
    'INSERT INTO orders {"id": 1, "status": "new", "total": 9.5}',
    "INSERT INTO orders [{'id': 1}, {'id': 2, 'tags': [], 'meta': {}}]",
    'INSERT INTO t {"z": 1, "a": [true, false, null, -0.0, 1e300, -12, "x"]}',
    'INSERT INTO t {"s": "quote \\" apostrophe \' backslash \\\\ tab \\t nl \\n é \\u2028"}',
    'INSERT INTO t {"nested": {"deep": {"deeper": [[1, [2, [3]]]]}}}',
    'PATCH orders KEY "k1" SET {"status": "paid", "note": null}',
    "PATCH orders KEY -5 SET {}",
    "SOFT DELETE FROM orders KEY 'k 2'",
    "SELECT * FROM orders",
    "select count(*) from orders",
    "SELECT id, customer.address.city FROM orders",
    "SELECT * FROM orders WHERE status = 'paid'",
    "SELECT * FROM orders WHERE total >= 10.25 AND total < 1e3",
    "SELECT * FROM orders WHERE a <> 1 OR b != 2",
    "SELECT * FROM orders WHERE NOT (a = 1 OR b = 2)",
    "SELECT * FROM orders WHERE NOT NOT a = 1",
    "SELECT * FROM orders WHERE (a = 1 AND b = 2) AND c = 3",
    "SELECT * FROM orders WHERE a = 1 AND (b = 2 AND c = 3)",
    "SELECT * FROM orders WHERE (a = 1 OR b = 2) OR (c = 3 OR d = 4)",
    "SELECT * FROM orders WHERE a = 1 OR b = 2 AND c = 3",
    "SELECT * FROM orders WHERE (a = 1 OR b = 2) AND c = 3",
    "SELECT * FROM orders WHERE status IN ('new', 'paid') AND x NOT IN (1, 2.5, null)",
    "SELECT * FROM orders WHERE note IS NULL OR note IS NOT NULL",
    "SELECT * FROM orders WHERE 5 < total",
    "SELECT * FROM orders WHERE tags = ['a', 'b'] AND meta != {'k': [1]}",
    "SELECT * FROM orders WHERE a.b.c = d.e",
    "SELECT * FROM orders WHERE flag = TRUE AND other = false",
    "SELECT * FROM orders AS OF @seq:42",
    "SELECT * FROM orders AS OF '@seq:0'",
    "SELECT * FROM orders WHERE a = 1 AS OF @now",
    "SELECT * FROM orders FOR SYSTEM_TIME AS OF '2025-01-31T12:00:00+01:00' WHERE a = 1",
    "SELECT * FROM orders ORDER BY total DESC, id ASC, customer.name",
    "SELECT * FROM orders LIMIT 10",
    "SELECT * FROM orders WHERE a = 1 ORDER BY a LIMIT 0 OFFSET 100",
    "SELECT key, count, index, desc FROM drift ORDER BY desc DESC",
    "SELECT * FROM t WHERE meta.from = 1",
    "EXPLAIN SELECT id FROM orders WHERE status = 'paid' AS OF @seq:3 LIMIT 1",
    "SHOW DRIFT orders KEY 'k1'",
    "SHOW DRIFT orders KEY 12345678901234567890",
    "SNAPSHOT orders",
    "COMPACT orders",
    "COMPACT orders BEFORE @seq:100",
    "COMPACT orders BEFORE '2024-12-31T23:59:59Z'",
    "COMPACT orders BEFORE @seq:100 FORCE",
    "PURGE orders KEY 'gdpr-subject'",
    # BETWEEN, LIKE, ILIKE and quoted names (issue 12, item 7)
    "SELECT * FROM t WHERE a BETWEEN 1 AND 10 AND b NOT BETWEEN 'a' AND 'm'",
    "SELECT * FROM t WHERE NOT a BETWEEN x.y AND 3 OR a BETWEEN -1.5 AND [1]",
    "SELECT * FROM t WHERE name LIKE 'a%' OR name NOT LIKE '_b%' ESCAPE '\\\\'",
    "SELECT * FROM t WHERE name ILIKE 'ADA%' AND name NOT ILIKE other ESCAPE '!'",
    "SELECT `first-name`, a.`b c`, `order`.`from` FROM `select` WHERE `x``y` = 1",
    "SELECT * FROM t WHERE `where` IS NULL ORDER BY `first-name` DESC",
    "CREATE TABLE `order` (pk=`key-id`, INDEX(`first-name`, a.`b c`, `from`))",
    "SHOW DRIFT `table` KEY 1",
    # aggregates, GROUP BY, HAVING, aliases, DISTINCT (issue 12, item 6)
    "SELECT status, COUNT(*) AS n, SUM(total), AVG(total) FROM orders GROUP BY status",
    "SELECT a.b, COUNT(DISTINCT c) AS `d-e` FROM t AS OF @seq:5 WHERE x > 1 GROUP BY a.b"
    " HAVING COUNT(*) > 1 AND `d-e` < 3 ORDER BY `d-e` DESC, MIN(x) LIMIT 2 OFFSET 1",
    "SELECT MIN(x), MAX(x) FROM t HAVING MAX(x) IS NOT NULL",
    "SELECT COUNT(*) AS n FROM t",
    "SELECT COUNT(*) FROM t ORDER BY COUNT(*)",
    "SELECT DISTINCT status FROM orders ORDER BY status",
    "SELECT DISTINCT * FROM orders LIMIT 3",
    "SELECT id AS key, total FROM orders ORDER BY key",
    "SELECT distinct, sum FROM t",
    "SELECT count(distinct) FROM t",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
]


def assert_round_trips(statement: object) -> None:
    text = to_driftql(statement)  # type: ignore[arg-type]
    again = parse_one(text)
    assert again == statement, text
    assert repr(again) == repr(statement), text
    assert to_driftql(again) == text  # canonical text is a fixed point


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("source", CORPUS)
def test_corpus_statement_round_trips(source: str) -> None:
    assert_round_trips(parse_one(source))


@pytest.mark.parametrize(
    ("source", "canonical"),
    [
        ("select * from t where a<>1", "SELECT * FROM t WHERE a != 1"),
        (
            "SELECT * FROM t WHERE a = 1 FOR SYSTEM_TIME AS OF '@seq:5'",
            "SELECT * FROM t AS OF @seq:5 WHERE a = 1",
        ),
        ("SELECT * FROM t ORDER BY a ASC", "SELECT * FROM t ORDER BY a"),
        ("create table t (INDEX(b), pk = id)", "CREATE TABLE t (pk=id, INDEX(b))"),
        ("INSERT INTO t [{'a': 1}]", 'INSERT INTO t {"a": 1}'),
        ("PURGE t KEY 'k'", 'PURGE t KEY "k"'),
        ("SELECT * FROM t WHERE ((a = 1))", "SELECT * FROM t WHERE a = 1"),
        ("SELECT * FROM t AS OF '@NOW'", "SELECT * FROM t AS OF @now"),
    ],
)
def test_printing_gives_the_canonical_spelling(source: str, canonical: str) -> None:
    assert to_driftql(parse_one(source)) == canonical


def test_a_bound_parameter_prints_as_a_quoted_value() -> None:
    stmt = parse_one("SELECT * FROM t WHERE name = ?", ["x'; DROP --\u2028"])
    assert to_driftql(stmt) == 'SELECT * FROM t WHERE name = "x\'; DROP --\\u2028"'
    assert_round_trips(stmt)


def test_conditions_print_on_their_own() -> None:
    assert to_driftql(parse_expression("NOT (a = 1 OR b IS NULL)")) == "NOT (a = 1 OR b IS NULL)"


@pytest.mark.parametrize(
    "tree",
    [
        Select("t", columns=(Column(("a", "")),)),
        Select("t", columns=(Column(("a\nb",)),)),
        Select("t", where=Like(Column(("a",)), Literal(5))),
        Select("t", where=Like(Column(("a",)), Literal("x"), escape="!!")),
        Select("t", offset=3),
        Select("t", limit=-1),
        Select("t", where=InList(Column(("a",)), ())),
        Select("t", where=Comparison("=", Column(("a",)), Literal(float("nan")))),
        Select("t", where=And((Comparison("=", Column(("a",)), Literal(1)),))),
        Select("t", as_of=AsOf("seq", seq=-1)),
        Select("t", as_of=AsOf("time", text="@seq:1")),
    ],
)
def test_a_tree_the_parser_could_not_produce_is_refused_not_misprinted(tree: Select) -> None:
    with pytest.raises(ValueError):
        to_driftql(tree)


# ---------------------------------------------------------------- generated trees

_START = string.ascii_letters + "_"
names = (
    st.builds(
        str.__add__, st.sampled_from(_START), st.text(alphabet=_START + string.digits, max_size=5)
    )
    | st.sampled_from(["or", "AND", "from", "key", "desc", "count", "Null", "true", "between"])
    # any other name is written in backticks (`first-name`, `a``b`, `order`)
    | st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=4).filter(
        lambda n: not any(c in LINE_BREAKS for c in n)
    )
)
first_names = names
columns = st.builds(
    lambda first, rest: Column((first, *rest)), first_names, st.lists(names, max_size=2)
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
literals = st.builds(Literal, json_values)
operands = columns | literals
ops = st.sampled_from(["=", "!=", "<", "<=", ">", ">="])
predicates = (
    st.builds(Comparison, ops, operands, operands)
    | st.builds(
        InList, operands, st.lists(literals, min_size=1, max_size=3).map(tuple), st.booleans()
    )
    | st.builds(IsNull, operands, st.booleans())
    | st.builds(Between, operands, operands, operands, st.booleans())
    | st.builds(
        Like,
        operands,
        columns | st.builds(Literal, st.text(max_size=4)),
        st.none() | st.characters(exclude_categories=["Cs"]),
        st.booleans(),
        st.booleans(),
    )
)


def _extend(inner: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    many = st.lists(inner, min_size=2, max_size=3).map(tuple)
    return st.builds(Not, inner) | st.builds(And, many) | st.builds(Or, many)


expressions: st.SearchStrategy[Expr] = st.recursive(predicates, _extend, max_leaves=10)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions)
def test_any_generated_condition_round_trips(expr: Expr) -> None:
    text = to_driftql(expr)
    again = parse_expression(text)
    assert again == expr, text
    assert repr(again) == repr(expr), text


@settings(max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.builds(Select, first_names, where=expressions))
def test_any_generated_select_round_trips(select: Select) -> None:
    assert_round_trips(select)


@settings(max_examples=examples(1000), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(CORPUS), st.data())
def test_a_mutated_statement_that_still_parses_round_trips(
    source: str, data: st.DataObject
) -> None:
    i = data.draw(st.integers(0, len(source)))
    piece = data.draw(
        st.sampled_from(["", "(", ")", " NOT ", " AND a = 1", ",", "'", "1", "-", "."])
    )
    j = data.draw(st.integers(i, min(len(source), i + 3)))
    mutated = source[:i] + piece + source[j:]
    statements = []
    with contextlib.suppress(QuerySyntaxError, InvalidInputError):
        statements = parse(mutated)
    for statement in statements:
        assert_round_trips(statement)
