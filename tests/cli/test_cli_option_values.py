"""A bad option value is named as the option it was given in: `--as-of: cannot read ...`,
one line, exit 1, never a caret under a query the user did not type."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import Runner

FORMS = "use @seq:N, @now or an RFC 3339 time such as 2025-01-01T00:00:00Z"

BAD_TIMEPOINTS = {
    "select --as-of": (("select", "-d", "db", "--table", "orders"), "--as-of"),
    "blame --as-of": (("blame", "-d", "db", "--table", "orders", "--key", "1"), "--as-of"),
    "diff --from": (("diff", "-d", "db", "--table", "orders", "--to", "@now"), "--from"),
    "diff --to": (("diff", "-d", "db", "--table", "orders", "--from", "@seq:1"), "--to"),
    "compact --before": (("compact", "-d", "db", "--table", "orders"), "--before"),
    "sql --duckdb --as-of": (("sql", "-d", "db", "--duckdb", "-e", "SELECT 1"), "--as-of"),
}
VALUES = {
    "tomorrow": "",
    "@seq:x": " (expect non-negative integer after @seq:)",
    "2025-13-01": " (month must be in 1..12)",
}


@pytest.mark.parametrize("command, option", BAD_TIMEPOINTS.values(), ids=BAD_TIMEPOINTS.keys())
@pytest.mark.parametrize("value", VALUES)
def test_a_bad_timepoint_option_names_the_option_and_draws_no_caret(
    run: Runner, shop: Path, command: tuple[str, ...], option: str, value: str
) -> None:
    done = run(*command, option, value)
    assert (done.code, done.out) == (1, "")
    assert done.err == (
        f'error: {option}: cannot read "{value}" as a timepoint{VALUES[value]}; {FORMS}\n'
    )


def test_a_where_syntax_error_names_the_option_with_its_caret_under_the_condition(
    run: Runner, shop: Path
) -> None:
    done = run("select", "-d", "db", "--table", "orders", "--where", "status ==")
    assert done.code == 1
    assert done.err.splitlines() == [
        "error: --where: Expect value after '=' at line 1, column 9 (compare with =, not ==)",
        "  status ==",
        "          ^",
    ]


def test_a_bad_order_by_names_the_option(run: Runner, shop: Path) -> None:
    done = run("select", "-d", "db", "--table", "orders", "--order-by", "id ASC DESC")
    assert (done.code, done.err) == (
        1,
        "error: --order-by: item 'id ASC DESC': expected \"column [ASC|DESC]\"\n",
    )


def test_a_quoted_key_that_is_no_json_string_is_a_string_key_not_a_crash(
    run: Runner, shop: Path
) -> None:
    done = run("drift", "-d", "db", "--table", "orders", "--key", '"\\q"')
    assert (done.code, done.err) == (
        1,
        'error: table "orders" has no history for key \'"\\\\q"\'\n',
    )
