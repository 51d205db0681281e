"""Malformed history statements (FOR SYSTEM_TIME, DIFF, SHOW BLAME, RESTORE, ALTER TABLE):
each gets the whole message, line and column, and a hint where one helps (the style of
test_query_parse_errors.py, kept apart so the two lists grow without colliding)."""

from __future__ import annotations

import pytest

from driftdb.errors import QuerySyntaxError
from driftdb.query.parser import parse

MALFORMED_HISTORY = [
    (
        "SELECT * FROM t FOR SYSTEM_TIME",
        "Expect AS OF, ALL, BETWEEN or FROM after FOR SYSTEM_TIME at end of input at line 1, "
        "column 32",
    ),
    (
        "SELECT * FROM t FOR SYSTEM_TIME AL",
        "Expect AS OF, ALL, BETWEEN or FROM after FOR SYSTEM_TIME at line 1, column 33 (did "
        "you mean ALL?)",
    ),
    (
        "SELECT * FROM t FOR SYSTEM_TIME BETWEEN @seq:1",
        "Expect AND after BETWEEN timepoint at end of input at line 1, column 47",
    ),
    (
        "SELECT * FROM t FOR SYSTEM_TIME BETWEEN @seq:1 OR @seq:2",
        "Expect AND after BETWEEN timepoint at line 1, column 48",
    ),
    (
        "SELECT * FROM t FOR SYSTEM_TIME BETWEEN 1 AND 2",
        "Expect timepoint after BETWEEN at line 1, column 41 (did you mean @seq:1?)",
    ),
    (
        "SELECT * FROM t FOR SYSTEM_TIME FROM @seq:1",
        "Expect TO after FROM timepoint at end of input at line 1, column 44",
    ),
    (
        "SELECT * FROM t FOR SYSTEM_TIME FROM @seq:1 UNTIL @seq:2",
        "Expect TO after FROM timepoint at line 1, column 45",
    ),
    (
        "SELECT * FROM t FOR SYSTEM_TIME ALL AS OF @seq:1",
        "AS OF and FOR SYSTEM_TIME given together at line 1, column 37 (a SELECT reads rows "
        "at one point (AS OF) or versions over a range (FOR SYSTEM_TIME ALL, BETWEEN or "
        "FROM), not both)",
    ),
    (
        "SELECT * FROM t FOR SYSTEM_TIME ALL LIMIT",
        "Expect non-negative integer after LIMIT at end of input at line 1, column 42",
    ),
    (
        "SELECT * FROM t FOR SYSTEM_TIME ALL ORDER _seq",
        "Expect BY after ORDER at line 1, column 43",
    ),
    (
        "SELECT *, FROM t FOR SYSTEM_TIME ALL",
        "Expect column after ',' at line 1, column 11"
        " (FROM is a reserved word; write `FROM` for a name)",
    ),
    (
        "SELECT * FROM t FOR SYSTEM_TIME ALL foo",
        "Unexpected 'foo' after FOR SYSTEM_TIME clause at line 1, column 37 (expected WHERE, "
        "ORDER BY, LIMIT or ';')",
    ),
    ("DIFF", "Expect table name after DIFF at end of input at line 1, column 5"),
    ("DIFF t", "Expect FROM after table name at end of input at line 1, column 7"),
    (
        "DIFF t FORM @seq:1 TO @seq:2",
        "Expect FROM after table name at line 1, column 8 (did you mean FROM?)",
    ),
    ("DIFF t FROM", "Expect timepoint after FROM at end of input at line 1, column 12"),
    ("DIFF t FROM @seq:1", "Expect TO after FROM timepoint at end of input at line 1, column 19"),
    ("DIFF t FROM @seq:1 AND @seq:2", "Expect TO after FROM timepoint at line 1, column 20"),
    ("DIFF t FROM @seq:1 TO", "Expect timepoint after TO at end of input at line 1, column 22"),
    (
        "DIFF t FROM @seq:1 TO @seq:2 WHERE",
        "Expect expression after WHERE at end of input at line 1, column 35",
    ),
    (
        "DIFF t FROM @seq:1 TO @seq:2 LIMIT 3",
        "Unexpected 'LIMIT' after timepoint at line 1, column 30 (expected WHERE or ';')",
    ),
    (
        "DIFF t FROM @seq:1 TO @seq:2 WHERE a = 1 ORDER BY a",
        "Unexpected 'ORDER' after WHERE condition at line 1, column 42 (expected AND, OR or ';')",
    ),
    ("SHOW BLAME", "Expect table name after SHOW BLAME at end of input at line 1, column 11"),
    ("SHOW BLAME t", "Expect KEY after table name at end of input at line 1, column 13"),
    ("SHOW BLAME t KEY", "Expect key after KEY at end of input at line 1, column 17"),
    (
        "SHOW BLAME t KEY abc",
        'Expect key after KEY at line 1, column 18 (quote a string key: KEY "abc")',
    ),
    ("SHOW BLAME t KEY 1 AS @seq:1", "Expect OF after AS at line 1, column 23"),
    (
        "SHOW BLAME t KEY 1 AS OF",
        "Expect timepoint after AS OF at end of input at line 1, column 25",
    ),
    (
        "SHOW BLAME t KEY 1 WHERE a = 1",
        "Unexpected 'WHERE' after key at line 1, column 20 (expected AS OF or ';')",
    ),
    (
        "SHOW BLAM t KEY 1",
        "Expect TABLES, DRIFT or BLAME after SHOW at line 1, column 6 (did you mean BLAME?)",
    ),
    ("RESTORE", "Expect table name after RESTORE at end of input at line 1, column 8"),
    (
        "RESTORE t",
        "Expect AS OF after table name at end of input at line 1, column 10 (RESTORE needs "
        "the point to go back to: AS OF x)",
    ),
    (
        "RESTORE t KEY 1",
        "Expect AS OF after key at end of input at line 1, column 16 (RESTORE needs the point "
        "to go back to: AS OF x)",
    ),
    ("RESTORE t KEY 1 AS OF", "Expect timepoint after AS OF at end of input at line 1, column 22"),
    (
        "RESTORE t WHERE a = 1",
        "Expect AS OF after table name at line 1, column 11 (name one key with KEY k, or "
        "restore every key with AS OF x)",
    ),
    (
        "RESTORE t AS OF @seq:1 META",
        'Expect object after META at end of input at line 1, column 28 (write META {"reason": '
        '"..."})',
    ),
    (
        "RESTORE t AS OF @seq:1 META 'x'",
        'Expect object after META at line 1, column 29 (write META {"reason": "..."})',
    ),
    (
        'RESTORE t AS OF @seq:1 META {"a": 1} META {}',
        "Unexpected 'META' after META object at line 1, column 38 (expected ';')",
    ),
    (
        "RESTORE t AS OF 5",
        "Expect timepoint after AS OF at line 1, column 17 (did you mean @seq:5?)",
    ),
    (
        "RESTORE t KEY 1 AS OF @seq:1 SET {}",
        "Unexpected 'SET' after AS OF clause at line 1, column 30 (expected META or ';')",
    ),
    ("ALTER", "Expect TABLE after ALTER at end of input at line 1, column 6"),
    ("ALTER t ADD INDEX (a)", "Expect TABLE after ALTER at line 1, column 7"),
    ("ALTER TABLE", "Expect table name after ALTER TABLE at end of input at line 1, column 12"),
    (
        "ALTER TABLE t",
        "Expect ADD INDEX or DROP INDEX after table name at end of input at line 1, column 14",
    ),
    ("ALTER TABLE t ADD (a)", "Expect INDEX after ADD at line 1, column 19"),
    ("ALTER TABLE t ADD INDEX a", "Expect '(' after INDEX at line 1, column 25"),
    ("ALTER TABLE t ADD INDEX (a, a)", "Column 'a' indexed twice at line 1, column 29"),
    ("ALTER TABLE t ADD INDEX ()", "Expect column after INDEX( at line 1, column 26"),
    (
        "ALTER TABLE t ADD INDEX (a",
        "Expect ')' after index columns at end of input at line 1, column 27",
    ),
    (
        "ALTER TABLE t REMOVE INDEX (a)",
        "Expect ADD INDEX or DROP INDEX after table name at line 1, column 15",
    ),
    (
        "ALTER TABLE t DORP INDEX (a)",
        "Expect ADD INDEX or DROP INDEX after table name at line 1, column 15 (did you mean DROP?)",
    ),
    (
        "ALTER TABLE t DROP INDEX (a) (b)",
        "Unexpected '(' after index columns at line 1, column 30 (expected ';')",
    ),
    ("EXPLAIN DIFF t", "Expect FROM after table name at end of input at line 1, column 15"),
    (
        "EXPLAIN SHOW TABLES",
        "Expect SELECT after EXPLAIN at line 1, column 9 (EXPLAIN takes SELECT, DIFF, "
        "RESTORE, SHOW BLAME or ALTER TABLE)",
    ),
    (
        "EXPLAIN ALTER TABLE t ADD INDEX",
        "Expect '(' after INDEX at end of input at line 1, column 32",
    ),
    (
        "RESTOR t AS OF @seq:1",
        "Unknown statement 'RESTOR' at line 1, column 1 (did you mean RESTORE?)",
    ),
    (
        "DIF t FROM @seq:1 TO @seq:2",
        "Unknown statement 'DIF' at line 1, column 1 (did you mean DIFF?)",
    ),
]


@pytest.mark.parametrize(("source", "message"), MALFORMED_HISTORY)
def test_malformed_history_statement_gets_exact_message_and_position(
    source: str, message: str
) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse(source)
    assert str(caught.value) == message


def test_the_caret_underlines_the_offending_token() -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse("DIFF orders\n  FORM @seq:1 TO @seq:2")
    assert caught.value.render() == (
        "Expect FROM after table name at line 2, column 3 (did you mean FROM?)\n"
        "    FORM @seq:1 TO @seq:2\n"
        "    ^^^^"
    )
