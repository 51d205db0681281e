"""The parser: each statement form gives the tree it should, and `?` binds data, never text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from driftdb.errors import InvalidInputError, QuerySyntaxError
from driftdb.query.ast import (
    And,
    AsOf,
    Column,
    Compact,
    Comparison,
    CreateTable,
    Describe,
    Document,
    Explain,
    InList,
    Insert,
    IsNull,
    Literal,
    Not,
    Or,
    OrderItem,
    Patch,
    Purge,
    Select,
    ShowDrift,
    ShowTables,
    Snapshot,
    SoftDelete,
    SystemTime,
)
from driftdb.query.parser import parse, parse_expression, parse_one, parse_timepoint


def col(text: str) -> Column:
    return Column(tuple(text.split(".")))


def eq(column: str, value: object) -> Comparison:
    return Comparison("=", col(column), Literal(value))  # type: ignore[arg-type]


# ---------------------------------------------------------------- statements


def test_create_table_with_primary_key_and_dotted_index_columns() -> None:
    assert parse_one("CREATE TABLE orders (pk=id, INDEX(status, customer.country))") == (
        CreateTable("orders", "id", ("status", "customer.country"))
    )


def test_create_table_accepts_spaces_around_pk_any_case_and_options_in_any_order() -> None:
    assert parse_one("create table t (index(a), PK = id)") == CreateTable("t", "id", ("a",))
    assert parse_one("CREATE TABLE t (pk = id)") == CreateTable("t", "id", ())


def test_show_tables_and_describe() -> None:
    assert parse("SHOW TABLES; DESCRIBE orders") == [ShowTables(), Describe("orders")]


def test_insert_one_document_or_an_array_of_documents() -> None:
    doc: Document = {"a": 1, "b": [1, {"c": None}], "d": True, "e": -2.5, "f": "x"}
    source = '{"a": 1, "b": [1, {"c": null}], "d": true, "e": -2.5, "f": "x"}'
    assert parse_one(f"INSERT INTO t {source}") == Insert("t", (doc,))
    assert parse_one(f"INSERT INTO t [{source}, {{}}]") == Insert("t", (doc, {}))


def test_json_keeps_key_order_and_accepts_single_quotes() -> None:
    stmt = parse_one("INSERT INTO t {'z': 1, 'a': 2}")
    assert isinstance(stmt, Insert)
    assert list(stmt.documents[0]) == ["z", "a"]


def test_patch_soft_delete_show_drift_and_purge_take_string_or_integer_keys() -> None:
    assert parse_one('PATCH t KEY "k1" SET {"status": "paid", "note": null}') == Patch(
        "t", "k1", {"status": "paid", "note": None}
    )
    assert parse_one("SOFT DELETE FROM t KEY 7") == SoftDelete("t", 7)
    assert parse_one("SHOW DRIFT t KEY -3") == ShowDrift("t", -3)
    assert parse_one("PURGE t KEY 'k'") == Purge("t", "k")


def test_snapshot_and_compact_with_and_without_a_horizon() -> None:
    assert parse(
        "SNAPSHOT t; COMPACT t; COMPACT t BEFORE @seq:10; COMPACT t BEFORE @now force"
    ) == [
        Snapshot("t"),
        Compact("t"),
        Compact("t", AsOf("seq", seq=10)),
        Compact("t", AsOf("now"), force=True),
    ]


def test_select_star_with_every_clause() -> None:
    stmt = parse_one(
        'SELECT * FROM orders AS OF "@seq:5" WHERE total > 10 ORDER BY total DESC, id ASC '
        "LIMIT 10 OFFSET 20"
    )
    assert stmt == Select(
        "orders",
        where=Comparison(">", col("total"), Literal(10)),
        as_of=AsOf("seq", seq=5),
        order_by=(OrderItem(col("total"), True), OrderItem(col("id"))),
        limit=10,
        offset=20,
    )


def test_select_columns_may_be_dotted_paths() -> None:
    stmt = parse_one("SELECT id, customer.address.city FROM t")
    assert isinstance(stmt, Select)
    assert stmt.columns == (col("id"), Column(("customer", "address", "city")))
    assert stmt.columns[1].text == "customer.address.city"


def test_select_count() -> None:
    assert parse_one("select count(*) from t where a is null") == Select(
        "t", count=True, where=IsNull(col("a"))
    )


@pytest.mark.parametrize(
    "source",
    [
        "SELECT * FROM t AS OF @seq:3 WHERE a = 1",
        "SELECT * FROM t WHERE a = 1 AS OF @seq:3",
        "SELECT * FROM t FOR SYSTEM_TIME AS OF @seq:3 WHERE a = 1",
        "SELECT * FROM t WHERE a = 1 FOR SYSTEM_TIME AS OF '@seq:3'",
    ],
)
def test_as_of_may_come_before_or_after_where(source: str) -> None:
    assert parse_one(source) == Select("t", where=eq("a", 1), as_of=AsOf("seq", seq=3))


@pytest.mark.parametrize(
    ("text", "as_of"),
    [
        ("@seq:0", AsOf("seq", seq=0)),
        ('"@seq:12"', AsOf("seq", seq=12)),
        ("@now", AsOf("now")),
        ("@NOW", AsOf("now")),
        ('"@now"', AsOf("now")),
        ('"2025-01-31T12:00:00Z"', AsOf("time", text="2025-01-31T12:00:00Z")),
        ("'2025-01-31 12:00'", AsOf("time", text="2025-01-31 12:00")),
    ],
)
def test_timepoints(text: str, as_of: AsOf) -> None:
    stmt = parse_one(f"SELECT * FROM t AS OF {text}")
    assert isinstance(stmt, Select)
    assert stmt.as_of == as_of


def test_explain_wraps_a_select() -> None:
    assert parse_one("EXPLAIN SELECT * FROM t WHERE a = 1") == Explain(
        Select("t", where=eq("a", 1))
    )


def test_keywords_that_are_not_reserved_can_name_tables_and_fields() -> None:
    stmt = parse_one("SELECT key, count, index, desc FROM drift WHERE key = 1 ORDER BY desc DESC")
    assert stmt == Select(
        "drift",
        columns=(col("key"), col("count"), col("index"), col("desc")),
        where=eq("key", 1),
        order_by=(OrderItem(col("desc"), True),),
    )


def test_any_word_can_follow_a_dot_even_a_reserved_one() -> None:
    assert parse_expression("meta.from = 1") == eq("meta.from", 1)


def test_several_statements_with_empty_ones_and_a_trailing_semicolon() -> None:
    assert parse(";; SHOW TABLES ;; SNAPSHOT t ;") == [ShowTables(), Snapshot("t")]
    assert parse("  -- only a comment\n") == []


# ---------------------------------------------------------------- expressions


def test_and_binds_tighter_than_or_and_not_tighter_than_and() -> None:
    assert parse_expression("a = 1 OR NOT b = 2 AND c = 3") == Or(
        (eq("a", 1), And((Not(eq("b", 2)), eq("c", 3))))
    )


def test_chains_are_one_node_and_parentheses_are_kept() -> None:
    assert parse_expression("a = 1 AND b = 2 AND c = 3") == And(
        (eq("a", 1), eq("b", 2), eq("c", 3))
    )
    assert parse_expression("(a = 1 AND b = 2) AND c = 3") == And(
        (And((eq("a", 1), eq("b", 2))), eq("c", 3))
    )


@pytest.mark.parametrize(
    ("text", "op"),
    [("=", "="), ("!=", "!="), ("<>", "!="), ("<", "<"), ("<=", "<="), (">", ">"), (">=", ">=")],
)
def test_comparison_operators(text: str, op: str) -> None:
    assert parse_expression(f"a {text} 1") == Comparison(op, col("a"), Literal(1))  # type: ignore[arg-type]


def test_a_literal_may_stand_on_either_side_and_columns_may_meet_columns() -> None:
    assert parse_expression("5 < a") == Comparison("<", Literal(5), col("a"))
    assert parse_expression("a.b = c") == Comparison("=", col("a.b"), col("c"))


def test_in_not_in_is_null_is_not_null() -> None:
    assert parse_expression("a IN (1, 'x', null)") == InList(
        col("a"), (Literal(1), Literal("x"), Literal(None))
    )
    assert parse_expression("a NOT IN (1)") == InList(col("a"), (Literal(1),), negated=True)
    assert parse_expression("a IS NULL") == IsNull(col("a"))
    assert parse_expression("a IS NOT NULL") == IsNull(col("a"), negated=True)


def test_json_values_can_be_compared() -> None:
    assert parse_expression('tags = ["a", "b"] OR meta = {"x": 1}') == Or(
        (eq("tags", ["a", "b"]), eq("meta", {"x": 1}))
    )


def test_true_false_null_are_values_in_any_case() -> None:
    assert parse_expression("a = TRUE OR b = false OR c = Null") == Or(
        (eq("a", True), eq("b", False), eq("c", None))
    )


# ---------------------------------------------------------------- placeholders


def test_placeholders_bind_in_order_across_the_script() -> None:
    stmts = parse(
        "SELECT * FROM t WHERE a = ? AND b IN (?, ?); PATCH t KEY ? SET ?",
        ["x", 1, 2.5, "k", {"n": [1]}],
    )
    assert stmts == [
        Select("t", where=And((eq("a", "x"), InList(col("b"), (Literal(1), Literal(2.5)))))),
        Patch("t", "k", {"n": [1]}),
    ]


def test_a_parameter_is_data_so_quotes_semicolons_and_comments_change_nothing() -> None:
    hostile = 'x" OR 1 = 1; SOFT DELETE FROM t KEY "k" -- \''
    [stmt] = parse("SELECT * FROM t WHERE name = ?", [hostile])
    assert stmt == Select("t", where=eq("name", hostile))


def test_bound_values_are_copied_so_later_changes_do_not_reach_the_tree() -> None:
    doc: dict[str, object] = {"id": 1, "tags": ["a"]}
    stmt = parse_one("INSERT INTO t ?", [doc])
    doc["id"] = 2
    doc["tags"].append("b")  # type: ignore[attr-defined]
    assert stmt == Insert("t", ({"id": 1, "tags": ["a"]},))


def test_placeholder_positions_each_take_their_own_kind_of_value() -> None:
    stmt = parse_one("SELECT * FROM t WHERE a IN ? AS OF ? LIMIT ? OFFSET ?", [("x", "y"), 7, 3, 0])
    assert stmt == Select(
        "t",
        where=InList(col("a"), (Literal("x"), Literal("y"))),
        as_of=AsOf("seq", seq=7),
        limit=3,
        offset=0,
    )
    assert parse_one("INSERT INTO t ?", [[{"id": 1}, {"id": 2}]]) == Insert(
        "t", ({"id": 1}, {"id": 2})
    )
    assert parse_one('INSERT INTO t [?, {"id": 2}]', [{"id": 1}]) == Insert(
        "t", ({"id": 1}, {"id": 2})
    )
    assert parse_one('INSERT INTO t {"id": ?}', [5]) == Insert("t", ({"id": 5},))
    assert parse_one("SHOW DRIFT t KEY ?", [12]) == ShowDrift("t", 12)


def test_timepoint_parameters_accept_seq_text_and_datetime() -> None:
    def as_of(value: object) -> AsOf | None:
        stmt = parse_one("SELECT * FROM t AS OF ?", [value])
        assert isinstance(stmt, Select)
        assert not isinstance(stmt.as_of, SystemTime)
        return stmt.as_of

    assert as_of("@seq:4") == AsOf("seq", seq=4)
    assert as_of("@now") == AsOf("now")
    assert as_of("2025-01-01T00:00:00Z") == AsOf("time", text="2025-01-01T00:00:00Z")
    moment = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert as_of(moment) == AsOf("time", text="2025-01-02T03:04:05+00:00")


@pytest.mark.parametrize(
    ("source", "params", "message"),
    [
        (
            "SELECT * FROM t WHERE a = ? AND b = ?",
            ["x"],
            "the statement has 2 placeholders '?' but 1 parameter was given",
        ),
        (
            "SELECT * FROM t",
            [1, 2],
            "the statement has 0 placeholders '?' but 2 parameters were given",
        ),
        (
            "SELECT * FROM t WHERE a = ?",
            [],
            "the statement has 1 placeholder '?' but 0 parameters were given",
        ),
        ("SELECT * FROM t WHERE a = ?", "x", "params must be a list or tuple of values, not str"),
        (
            "SELECT * FROM t WHERE a = ?",
            [{1, 2}],
            "parameter 1 has type set, which is not a JSON value",
        ),
        (
            "SELECT * FROM t WHERE a = ?",
            [float("nan")],
            "parameter 1 holds nan, which is not a JSON number",
        ),
        ("SELECT * FROM t WHERE a = ?", [{1: "x"}], "parameter 1 has a non-string object key 1"),
        (
            "PATCH t KEY ? SET {}",
            [True],
            "parameter 1 (a key) must be a string or an integer, got boolean",
        ),
        (
            "PATCH t KEY 'k' SET ?",
            [[1]],
            "parameter 1 (a patch) must be an object, got array",
        ),
        (
            "INSERT INTO t ?",
            [[]],
            "parameter 1 (the documents) must be an object or a non-empty list of objects, "
            "got an empty list",
        ),
        (
            "INSERT INTO t ?",
            [[{"id": 1}, 2]],
            "parameter 1 item 1 (a document) must be an object, got number",
        ),
        (
            "SELECT * FROM t LIMIT ?",
            [-1],
            "parameter 1 (LIMIT) must be a non-negative integer, got -1",
        ),
        (
            "SELECT * FROM t AS OF ?",
            ["@seq:x"],
            "parameter 1 (a timepoint): Expect non-negative integer after @seq:",
        ),
        (
            "SELECT * FROM t WHERE a IN ?",
            [[]],
            "parameter 1 (an IN list) must be a non-empty list of values, got an empty list",
        ),
    ],
)
def test_parameters_that_do_not_fit_are_invalid_input(
    source: str, params: object, message: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse(source, params)  # type: ignore[arg-type]
    assert not isinstance(caught.value, QuerySyntaxError)
    assert str(caught.value) == message


def test_a_cyclic_parameter_is_refused_not_a_recursion_error() -> None:
    cycle: list[object] = []
    cycle.append(cycle)
    with pytest.raises(InvalidInputError, match="nested deeper than"):
        parse("SELECT * FROM t WHERE a = ?", [cycle])


# ---------------------------------------------------------------- entry points


def test_parse_one_refuses_zero_or_several_statements() -> None:
    with pytest.raises(QuerySyntaxError) as none:
        parse_one("  ;  ")
    assert str(none.value) == "Expect statement at end of input at line 1, column 4"
    with pytest.raises(QuerySyntaxError) as several:
        parse_one("SHOW TABLES; SNAPSHOT t")
    assert str(several.value) == "Expect one statement, got several at line 1, column 14"


def test_parse_expression_takes_a_bare_condition() -> None:
    assert parse_expression("status = ?", ["paid"]) == eq("status", "paid")


def test_parse_expression_refuses_trailing_text() -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_expression("a = 1 LIMIT 3")
    assert str(caught.value) == (
        "Unexpected 'LIMIT' after expression at line 1, column 7 "
        "(expected AND, OR or the end of the condition)"
    )


def test_parse_timepoint_reads_command_line_forms() -> None:
    assert parse_timepoint("@seq:9") == AsOf("seq", seq=9)
    assert parse_timepoint('"@seq:9"') == AsOf("seq", seq=9)
    assert parse_timepoint("@now") == AsOf("now")
    assert parse_timepoint("2025-01-01") == AsOf("time", text="2025-01-01")
    with pytest.raises(QuerySyntaxError) as caught:
        parse_timepoint("@seq:-1")
    assert str(caught.value) == (
        "Expect non-negative integer after @seq: at line 1, column 1 "
        "(write @seq:N, for example @seq:42)"
    )


def test_a_statement_that_is_not_a_string_is_invalid_input() -> None:
    with pytest.raises(InvalidInputError, match="a statement must be a string, not bytes"):
        parse(b"SHOW TABLES")  # type: ignore[arg-type]
