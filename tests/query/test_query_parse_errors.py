"""Malformed statements: each gets the whole message, line and column, and a useful hint.

These messages are what people meet first, so they are pinned down exactly. The hypothesis tests
at the end mutate valid statements and check that nothing but a DriftQL error ever escapes.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftdb.errors import InvalidInputError, QuerySyntaxError
from driftdb.query.parser import MAX_CONDITIONS, MAX_NESTING, parse, parse_expression

# (statement, str(error)): message, "at line L, column C", and the hint in parentheses.
MALFORMED = [
    (
        "SELEC * FROM t",
        "Unknown statement 'SELEC' at line 1, column 1 (did you mean SELECT?)",
    ),
    (
        "SELECT * FORM t",
        "Expect FROM after column list at line 1, column 10 (did you mean FROM?)",
    ),
    (
        "SELECT * FROM",
        "Expect table name after FROM at end of input at line 1, column 14",
    ),
    (
        "SELECT * FROM t WHER a = 1",
        "Unexpected 'WHER' after table name at line 1, column 17 (did you mean WHERE?)",
    ),
    (
        "SELECT * FROM t WHERE",
        "Expect expression after WHERE at end of input at line 1, column 22",
    ),
    (
        "SELECT * FROM t WHERE a",
        "Expect comparison operator after 'a' at end of input at line 1, column 24"
        " (expected =, !=, <, <=, >, >=, [NOT] IN, [NOT] BETWEEN, [NOT] LIKE, [NOT] ILIKE,"
        " IS NULL or IS NOT NULL)",
    ),
    (
        "SELECT * FROM t WHERE a =",
        "Expect value after '=' at end of input at line 1, column 26",
    ),
    (
        "SELECT * FROM t WHERE a = 1 AND",
        "Expect expression after AND at end of input at line 1, column 32",
    ),
    (
        "SELECT * FROM t WHERE (a = 1",
        "Expect ')' after expression at end of input at line 1, column 29",
    ),
    (
        "SELECT * FROM t WHERE a IN 1",
        "Expect '(' after IN at line 1, column 28",
    ),
    (
        "SELECT * FROM t WHERE a IN (1, 2",
        "Expect ')' after IN list at end of input at line 1, column 33",
    ),
    (
        "SELECT * FROM t WHERE a IN ()",
        "Expect value after '(' at line 1, column 29",
    ),
    (
        "SELECT * FROM t WHERE a IS 1",
        "Expect NULL after IS at line 1, column 28",
    ),
    (
        "SELECT * FROM t WHERE a IS NOT 1",
        "Expect NULL after IS NOT at line 1, column 32",
    ),
    (
        "SELECT * FROM t WHERE a == 1",
        "Expect value after '=' at line 1, column 26 (compare with =, not ==)",
    ),
    (
        "SELECT * FROM t WHERE a = 1 b = 2",
        "Unexpected 'b' after WHERE condition at line 1, column 29"
        " (expected AND, OR, AS OF, ORDER BY, LIMIT or ';')",
    ),
    (
        'SELECT * FROM t WHERE a MATCHES "x%"',
        "Expect comparison operator after 'a' at line 1, column 25"
        " (expected =, !=, <, <=, >, >=, [NOT] IN, [NOT] BETWEEN, [NOT] LIKE, [NOT] ILIKE,"
        " IS NULL or IS NOT NULL)",
    ),
    # BETWEEN, LIKE, ILIKE and quoted names (issue 12, item 7)
    (
        "SELECT * FROM t WHERE a BETWEEN 1",
        "Expect AND after BETWEEN lower bound at end of input at line 1, column 34",
    ),
    (
        "SELECT * FROM t WHERE a BETWEEN 1 OR 2",
        "Expect AND after BETWEEN lower bound at line 1, column 35",
    ),
    (
        "SELECT * FROM t WHERE a NOT BETWEEN 1 AND",
        "Expect expression after AND at end of input at line 1, column 42",
    ),
    (
        "SELECT * FROM t WHERE a BETWEEN AND 2",
        "Expect expression after BETWEEN at line 1, column 33",
    ),
    (
        "SELECT * FROM t WHERE a LIKE",
        "Expect expression after LIKE at end of input at line 1, column 29",
    ),
    (
        "SELECT * FROM t WHERE a LIKE 5",
        "Expect string pattern after LIKE at line 1, column 30"
        " (% matches any run of characters, _ any one character)",
    ),
    (
        "SELECT * FROM t WHERE a NOT ILIKE null",
        "Expect string pattern after NOT ILIKE at line 1, column 35"
        " (% matches any run of characters, _ any one character)",
    ),
    (
        "SELECT * FROM t WHERE a LIKE 'x' ESCAPE",
        "Expect string after ESCAPE at end of input at line 1, column 40 (write ESCAPE '\\')",
    ),
    (
        "SELECT * FROM t WHERE a LIKE 'x' ESCAPE '!!'",
        "ESCAPE must be one character at line 1, column 41",
    ),
    (
        "SELECT * FROM t WHERE a LIKE 'x' ESCAPE ''",
        "ESCAPE must be one character at line 1, column 41",
    ),
    (
        "SELECT * FROM t WHERE a NOT 'x'",
        "Expect comparison operator after 'a' at line 1, column 25"
        " (expected =, !=, <, <=, >, >=, [NOT] IN, [NOT] BETWEEN, [NOT] LIKE, [NOT] ILIKE,"
        " IS NULL or IS NOT NULL)",
    ),
    (
        "SELECT * FROM t WHERE `first-name = 'ada'",
        "Unterminated quoted name at line 1, column 23 (add the closing `)",
    ),
    (
        "SELECT a.`` FROM t",
        "Empty quoted name at line 1, column 10",
    ),
    (
        "CREATE TABLE t (pk=`a.b`)",
        "Primary key must be a top-level column at line 1, column 20",
    ),
    (
        "CREATE TABLE t (pk=id, INDEX(`a.b`))",
        "An indexed column's name cannot contain '.' at line 1, column 30"
        " (a dot separates the fields of a nested path: write a.b)",
    ),
    (
        "SELECT * FROM t AS OF @seq:-1",
        "Expect non-negative integer after @seq: at line 1, column 23"
        " (write @seq:N, for example @seq:42)",
    ),
    (
        'SELECT * FROM t AS OF "@seq:abc"',
        "Expect non-negative integer after @seq: at line 1, column 23"
        " (write @seq:N, for example @seq:42)",
    ),
    (
        "SELECT * FROM t AS OF @yesterday",
        "Unknown timepoint '@yesterday' at line 1, column 23"
        " (use @seq:N, @now or a quoted RFC 3339 time)",
    ),
    (
        "SELECT * FROM t AS OF 5",
        "Expect timepoint after AS OF at line 1, column 23 (did you mean @seq:5?)",
    ),
    (
        "SELECT * FROM t AS OF",
        "Expect timepoint after AS OF at end of input at line 1, column 22",
    ),
    (
        "SELECT * FROM t AS @seq:1",
        "Expect OF after AS at line 1, column 20",
    ),
    (
        "SELECT * FROM t FOR AS OF @now",
        "Expect SYSTEM_TIME after FOR at line 1, column 21",
    ),
    (
        "SELECT * FROM t AS OF @seq:1 WHERE a = 1 AS OF @seq:2",
        "AS OF given twice at line 1, column 42",
    ),
    (
        "SELECT * FROM t AS OF @seq:1 AS OF @seq:2",
        "AS OF given twice at line 1, column 30",
    ),
    (
        "SELECT * FROM t ORDER a",
        "Expect BY after ORDER at line 1, column 23",
    ),
    (
        "SELECT * FROM t ORDER BY",
        "Expect column after ORDER BY at end of input at line 1, column 25",
    ),
    (
        "SELECT * FROM t ORDER BY a AS OF @now",
        "Unexpected 'AS' after ORDER BY clause at line 1, column 28"
        " (AS OF goes right after the table name or after the WHERE condition)",
    ),
    (
        "SELECT * FROM t LIMIT -1",
        "LIMIT must be a non-negative integer at line 1, column 23",
    ),
    (
        "SELECT * FROM t LIMIT 1.5",
        "LIMIT must be a non-negative integer at line 1, column 23",
    ),
    (
        "SELECT * FROM t LIMIT",
        "Expect non-negative integer after LIMIT at end of input at line 1, column 22",
    ),
    (
        "SELECT * FROM t LIMIT 5 OFFSET x",
        "Expect non-negative integer after OFFSET at line 1, column 32",
    ),
    (
        "SELECT * FROM t OFFSET 5",
        "Unexpected 'OFFSET' after table name at line 1, column 17"
        " (expected AS OF, WHERE, ORDER BY, LIMIT or ';')",
    ),
    (
        "SELECT a b FROM t",
        "Expect FROM after column list at line 1, column 10 (separate columns with ',')",
    ),
    (
        "SELECT FROM t",
        "Expect column list after SELECT at line 1, column 8 (write * for every column)",
    ),
    (
        "SELECT a, FROM t",
        "Expect column after ',' at line 1, column 11"
        " (FROM is a reserved word; write `FROM` for a name)",
    ),
    (
        "SELECT COUNT() FROM t",
        "Expect column after COUNT( at line 1, column 14 (COUNT(*) counts rows)",
    ),
    (
        "SELECT * FROM order",
        "Expect table name after FROM at line 1, column 15"
        " (ORDER is a reserved word; write `order` for a name)",
    ),
    (
        'SELECT * FROM "orders"',
        "Expect table name after FROM at line 1, column 15"
        " (table names are written without quotes, or in backticks: `orders`)",
    ),
    (
        "SELECT a. FROM t",
        "Expect field name after '.' at line 1, column 11",
    ),
    (
        "CREATE TABEL t (pk=id)",
        "Expect TABLE after CREATE at line 1, column 8 (did you mean TABLE?)",
    ),
    (
        "CREATE TABLE t",
        "Expect '(' after table name at end of input at line 1, column 15",
    ),
    (
        "CREATE TABLE t ()",
        "Expect pk=<column> or INDEX(...) in table definition at line 1, column 17",
    ),
    (
        "CREATE TABLE t (INDEX(a))",
        "Expect pk=<column> in table definition at line 1, column 25"
        " (every table needs a primary key)",
    ),
    (
        "CREATE TABLE t (pk id)",
        "Expect '=' after pk at line 1, column 20",
    ),
    (
        "CREATE TABLE t (pk=id, INDEX(a, b)",
        "Expect ',' or ')' after table option at end of input at line 1, column 35",
    ),
    (
        "CREATE TABLE t (pk=id INDEX(a))",
        "Expect ',' or ')' after table option at line 1, column 23",
    ),
    (
        "CREATE TABLE t (pk=id, pk=key)",
        "PK given twice at line 1, column 24",
    ),
    (
        "CREATE TABLE t (pk=a.b)",
        "Primary key must be a top-level column at line 1, column 21",
    ),
    (
        "CREATE TABLE t (pk=id, INDX(a))",
        "Expect pk=<column> or INDEX(...) in table definition at line 1, column 24"
        " (did you mean INDEX?)",
    ),
    (
        "CREATE TABLE t (pk=id, INDEX(a, a))",
        "Column 'a' indexed twice at line 1, column 33",
    ),
    (
        'INSERT t {"a": 1}',
        "Expect INTO after INSERT at line 1, column 8",
    ),
    (
        "INSERT INTO t",
        "Expect document after table name at end of input at line 1, column 14"
        " (write a JSON object {...} or an array of objects [{...}, ...])",
    ),
    (
        "INSERT INTO t {a: 1}",
        'Expect string key in object at line 1, column 16 (quote the key: "a")',
    ),
    (
        'INSERT INTO t {"a": 1,}',
        "Expect string key in object at line 1, column 23 (remove the trailing ',')",
    ),
    (
        'INSERT INTO t {"a" 1}',
        "Expect ':' after object key at line 1, column 20",
    ),
    (
        'INSERT INTO t {"a": 1',
        "Expect ',' or '}' after object value at end of input at line 1, column 22",
    ),
    (
        'INSERT INTO t {"a": 1, "a": 2}',
        'Duplicate key "a" in object at line 1, column 24',
    ),
    (
        "INSERT INTO t [1, 2]",
        "Expect object in document array at line 1, column 16 (INSERT needs at least one document)",
    ),
    (
        "INSERT INTO t []",
        "Expect object in document array at line 1, column 16 (INSERT needs at least one document)",
    ),
    (
        'INSERT INTO t {"a": [1, 2,]}',
        "Expect value after ',' at line 1, column 27 (remove the trailing ',')",
    ),
    (
        'INSERT INTO t {"a": nope}',
        "Expect value after ':' at line 1, column 21 (quote a string: \"nope\")",
    ),
    (
        'PATCH t "k" SET {}',
        "Expect KEY after table name at line 1, column 9",
    ),
    (
        "PATCH t KEY k SET {}",
        'Expect key after KEY at line 1, column 13 (quote a string key: KEY "k")',
    ),
    (
        "PATCH t KEY 1.5 SET {}",
        "Key must be a string or an integer at line 1, column 13",
    ),
    (
        'PATCH t KEY "k" {"a": 1}',
        "Expect SET after key at line 1, column 17",
    ),
    (
        'PATCH t KEY "k" SET 5',
        'Expect object after SET at line 1, column 21 (write SET {"field": value})',
    ),
    (
        'DELETE FROM t KEY "k"',
        "Unknown statement 'DELETE' at line 1, column 1 (did you mean SOFT DELETE?)",
    ),
    (
        "UPDATE t SET a = 1",
        "Unknown statement 'UPDATE' at line 1, column 1 (did you mean PATCH?)",
    ),
    (
        'SOFT DELETE t KEY "k"',
        "Expect FROM after SOFT DELETE at line 1, column 13",
    ),
    (
        'SOFT REMOVE FROM t KEY "k"',
        "Expect DELETE after SOFT at line 1, column 6",
    ),
    (
        "SHOW TABLE",
        "Expect TABLES, DRIFT or BLAME after SHOW at line 1, column 6 (did you mean TABLES?)",
    ),
    (
        "SHOW DRIFT t",
        "Expect KEY after table name at end of input at line 1, column 13",
    ),
    (
        "DESCRIBE",
        "Expect table name after DESCRIBE at end of input at line 1, column 9",
    ),
    (
        "DESCRIBE t u",
        "Unexpected 'u' after table name at line 1, column 12 (expected ';')",
    ),
    (
        "EXPLAIN SHOW TABLES",
        "Expect SELECT after EXPLAIN at line 1, column 9"
        " (EXPLAIN takes SELECT, DIFF, RESTORE, SHOW BLAME or ALTER TABLE)",
    ),
    (
        "COMPACT t BEFORE",
        "Expect timepoint after BEFORE at end of input at line 1, column 17",
    ),
    (
        "COMPACT t AFTER @seq:1",
        "Unexpected 'AFTER' after table name at line 1, column 11 (expected BEFORE or ';')",
    ),
    (
        "COMPACT t FORCE",
        "Unexpected 'FORCE' after table name at line 1, column 11 (expected BEFORE or ';')",
    ),
    (
        "COMPACT t BEFORE @seq:1 NOW",
        "Unexpected 'NOW' after timepoint at line 1, column 25 (expected FORCE or ';')",
    ),
    (
        "SNAPSHOT t; SNAPSHOT",
        "Expect table name after SNAPSHOT at end of input at line 1, column 21",
    ),
    (
        "SHOW TABLES SHOW TABLES",
        "Unexpected 'SHOW' after SHOW TABLES at line 1, column 13 (expected ';')",
    ),
    (
        "(SELECT * FROM t)",
        "Unexpected '(' at start of statement at line 1, column 1"
        " (a statement begins with a keyword such as SELECT, INSERT or CREATE)",
    ),
    (
        "SELECT * FROM t WHERE a = 'unterminated",
        "Unterminated string at line 1, column 27 (add the closing ')",
    ),
    (
        'SELECT * FROM t WHERE a = "bad \\q escape"',
        "Invalid escape '\\q' in string at line 1, column 32",
    ),
    (
        "SELECT $ FROM t",
        "Unexpected character '$' at line 1, column 8",
    ),
    (
        "SELECT * FROM t WHERE a = 12abc",
        "Invalid number '12abc' at line 1, column 27",
    ),
    (
        "SELECT * FROM t WHERE a = `b",
        "Unterminated quoted name at line 1, column 27 (add the closing `)",
    ),
    (
        "SELECT * FROM t WHERE NOT",
        "Expect expression after NOT at end of input at line 1, column 26",
    ),
    (
        "SELECT * FROM t WHERE a = 1 OR",
        "Expect expression after OR at end of input at line 1, column 31",
    ),
    (
        "SELECT * FROM t WHERE a NOT 1",
        "Expect comparison operator after 'a' at line 1, column 25"
        " (expected =, !=, <, <=, >, >=, [NOT] IN, [NOT] BETWEEN, [NOT] LIKE, [NOT] ILIKE,"
        " IS NULL or IS NOT NULL)",
    ),
    (
        "SELECT *\nFROM t\nWHERE a = 1\n  AND b ==\n",
        "Expect value after '=' at line 4, column 10 (compare with =, not ==)",
    ),
    (
        "SELECT *\n  FROM\n\n",
        "Expect table name after FROM at end of input at line 2, column 7",
    ),
    (
        'INSERT INTO t {\n  "a": 1,\n  b: 2\n}',
        'Expect string key in object at line 3, column 3 (quote the key: "b")',
    ),
]


@pytest.mark.parametrize(("source", "message"), MALFORMED)
def test_malformed_statement_gets_exact_message_and_position(source: str, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse(source)
    assert str(caught.value) == message


def test_there_are_at_least_forty_malformed_cases() -> None:
    assert len(MALFORMED) >= 40


def render(source: str) -> str:
    with pytest.raises(QuerySyntaxError) as caught:
        parse(source)
    return caught.value.render()


def test_render_puts_a_caret_under_the_misspelt_keyword() -> None:
    assert render("SELECT * FORM orders") == (
        "Expect FROM after column list at line 1, column 10 (did you mean FROM?)\n"
        "  SELECT * FORM orders\n"
        "           ^^^^"
    )


def test_render_shows_the_line_of_a_multi_line_statement() -> None:
    assert render('SELECT *\nFROM orders\nWHERE status = "paid\n') == (
        'Unterminated string at line 3, column 16 (add the closing ")\n'
        '  WHERE status = "paid\n'
        "                 ^"
    )


def test_render_at_end_of_input_points_just_past_the_last_token() -> None:
    assert render("SELECT * FROM orders WHERE\n\n") == (
        "Expect expression after WHERE at end of input at line 1, column 27\n"
        "  SELECT * FROM orders WHERE\n"
        "                            ^"
    )


def test_render_underlines_a_whole_timepoint() -> None:
    assert render("SELECT * FROM t AS OF @seq:-1") == (
        "Expect non-negative integer after @seq: at line 1, column 23 "
        "(write @seq:N, for example @seq:42)\n"
        "  SELECT * FROM t AS OF @seq:-1\n"
        "                        ^^^^^^^"
    )


def test_the_error_carries_its_parts_for_tools() -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse("SHOW TABLES;\nSELEC * FROM t")
    error = caught.value
    assert (error.message, error.line, error.column, error.length, error.hint) == (
        "Unknown statement 'SELEC'",
        2,
        1,
        5,
        "did you mean SELECT?",
    )
    assert error.source == "SHOW TABLES;\nSELEC * FROM t"


def test_a_syntax_error_anywhere_in_a_script_is_reported_before_anything_runs() -> None:
    with pytest.raises(QuerySyntaxError, match="line 3, column 10"):
        parse("SNAPSHOT a;\nSNAPSHOT b;\nSNAPSHOT ;")


@pytest.mark.parametrize(
    "source",
    [
        "SELECT * FROM t WHERE " + "(" * (MAX_NESTING + 1) + "a = 1" + ")" * (MAX_NESTING + 1),
        "SELECT * FROM t WHERE " + "NOT " * (MAX_NESTING + 1) + "a = 1",
        "INSERT INTO t " + '{"a": ' * (MAX_NESTING + 1) + "1" + "}" * (MAX_NESTING + 1),
        "SELECT * FROM t WHERE a = " + "[" * 10_000,
    ],
)
def test_deep_nesting_is_a_syntax_error_not_a_recursion_error(source: str) -> None:
    with pytest.raises(QuerySyntaxError, match="Statement nested too deeply"):
        parse(source)


def test_nesting_up_to_the_limit_is_fine_and_long_chains_are_flat() -> None:
    depth = MAX_NESTING - 1
    parse("SELECT * FROM t WHERE " + "(" * depth + "a = 1" + ")" * depth)
    parse_expression(" AND ".join(f"a{i} = {i}" for i in range(MAX_CONDITIONS)))


# ---------------------------------------------------------------- mutation fuzzing

VALID = [
    "CREATE TABLE orders (pk=id, INDEX(status, customer.country))",
    'INSERT INTO orders [{"id": 1, "tags": ["a", {"b": null}]}, {"id": 2, "total": -1.5e3}]',
    'PATCH orders KEY "k1" SET {"status": "paid"}',
    "SOFT DELETE FROM orders KEY 7",
    'SELECT id, customer.city FROM orders FOR SYSTEM_TIME AS OF "@seq:5" WHERE total >= 10 '
    "AND (status IN ('new', 'paid') OR NOT note IS NULL) ORDER BY total DESC LIMIT 5 OFFSET 1",
    "SELECT COUNT(*) FROM orders WHERE a != 1 AS OF '2025-01-01T00:00:00Z'",
    "EXPLAIN SELECT * FROM orders WHERE a NOT IN (1, 2) AS OF @now -- note",
    "SHOW DRIFT orders KEY 'k'; SHOW TABLES; DESCRIBE orders",
    "SNAPSHOT orders; COMPACT orders BEFORE @seq:10; PURGE orders KEY 3;",
    "SELECT * FROM t WHERE a = ? AND b IN ? LIMIT ?",
]
# Pieces a mutation may insert: tokens that are valid somewhere, and characters that are not.
PIECES = [
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "AS",
    "OF",
    "ORDER",
    "BY",
    "LIMIT",
    "KEY",
    "SET",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    ",",
    ".",
    ":",
    ";",
    "*",
    "?",
    "=",
    "<",
    ">=",
    "!=",
    "'",
    '"',
    "\\",
    "@seq:",
    "@now",
    "-",
    "--",
    "1",
    "-2.5e3",
    "1e999",
    "x",
    "a.b",
    "\n",
    " ",
    "$",
    "\x00",
    "\u2028",
    "é",
    "'\\u12'",
    '"\\ud800"',
]
EXPECTED_ERRORS = (QuerySyntaxError, InvalidInputError)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A valid statement with a few characters or whitespace-separated pieces changed."""
    text = draw(st.sampled_from(VALID))
    for _ in range(draw(st.integers(1, 4))):
        words = text.split(" ")
        action = draw(st.sampled_from(["del_char", "ins_char", "del_word", "ins_word", "swap"]))
        if action == "del_char" and text:
            i = draw(st.integers(0, len(text) - 1))
            text = text[:i] + text[i + 1 :]
        elif action == "ins_char":
            i = draw(st.integers(0, len(text)))
            text = (
                text[:i]
                + draw(st.sampled_from(PIECES + [chr(c) for c in range(32, 127)]))[:1]
                + text[i:]
            )
        elif action == "del_word" and len(words) > 1:
            del words[draw(st.integers(0, len(words) - 1))]
            text = " ".join(words)
        elif action == "ins_word":
            words.insert(draw(st.integers(0, len(words))), draw(st.sampled_from(PIECES)))
            text = " ".join(words)
        elif action == "swap" and len(words) > 1:
            i = draw(st.integers(0, len(words) - 2))
            words[i], words[i + 1] = words[i + 1], words[i]
            text = " ".join(words)
    return text


def parse_fairly(source: str) -> None:
    """Parse with as many parameters as there are `?` tokens, when that can be counted."""
    params = [1] * source.count("?")
    with contextlib.suppress(*EXPECTED_ERRORS):
        parse(source, params)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_a_mutated_statement_parses_or_raises_a_driftql_error(source: str) -> None:
    parse_fairly(source)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_text_parses_or_raises_a_driftql_error(source: str) -> None:
    parse_fairly(source)
