"""BEGIN / COMMIT / ROLLBACK through the command line: a script or a shell input groups
statements into one atomic batch, and a transaction left open is never dropped silently."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import Runner, tree_digest

from driftdb.cli.shell import inside_transaction


def test_a_script_between_begin_and_commit_is_one_batch(run: Runner, shop: Path) -> None:
    ran = run(
        "sql", "-d", "db", "-e",
        'BEGIN; INSERT INTO orders {"id": 40, "status": "new"}; '
        'PATCH orders KEY 40 SET {"status": "paid"}; COMMIT',
    )  # fmt: skip
    assert ran.code == 0, ran
    got = run(
        "sql", "-d", "db", "--format", "jsonl", "-e", "SELECT id, status FROM orders WHERE id = 40"
    )
    assert got.out.strip() == '{"id": 40, "status": "paid"}'


def test_a_script_that_ends_inside_a_transaction_writes_nothing_and_says_so(
    run: Runner, shop: Path
) -> None:
    before = tree_digest(shop, truth_only=True)
    ran = run("sql", "-d", "db", "-e", 'BEGIN; INSERT INTO orders {"id": 41, "status": "new"}')
    assert ran.code == 1
    assert ran.err.strip().splitlines()[-1] == (
        "error: the script ended inside a transaction (BEGIN without COMMIT or ROLLBACK): "
        "its writes were discarded; end it with COMMIT"
    )
    assert tree_digest(shop, truth_only=True) == before


def test_rollback_leaves_no_trace(run: Runner, shop: Path) -> None:
    before = tree_digest(shop, truth_only=True)
    ran = run("sql", "-d", "db", "-e", 'BEGIN; INSERT INTO orders {"id": 42}; ROLLBACK')
    assert ran.code == 0, ran
    assert tree_digest(shop, truth_only=True) == before


@pytest.mark.parametrize(
    ("source", "held"),
    [
        ("BEGIN;", True),
        ('BEGIN; INSERT INTO t {"id": 1};', True),
        ('BEGIN; INSERT INTO t {"id": 1}; COMMIT;', False),
        ("BEGIN; ROLLBACK;", False),
        ('INSERT INTO t {"id": 1};', False),
        ("BEGIN; SELEC * FROM t;", False),  # a syntax error runs (and is reported) at once
    ],
)
def test_the_shell_holds_an_input_until_its_transaction_ends(source: str, held: bool) -> None:
    assert inside_transaction(source) is held
