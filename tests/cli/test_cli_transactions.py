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


TXN_SCRIPT = (
    'BEGIN; PATCH orders KEY 1 SET {"status": "void"}; ROLLBACK; '
    'BEGIN; PATCH orders KEY 1 SET {"status": "shipped"}; '
    'INSERT INTO orders [{"id": 43}, {"id": 44}]; COMMIT'
)
TXN_OUTPUT = [
    "transaction open",
    "patched key 1 (pending until COMMIT)",
    "rolled back; 1 write discarded",
    "transaction open",
    "patched key 1 (pending until COMMIT)",
    "inserted 2 rows (pending until COMMIT)",
    "committed 3 writes (seqs 6-8)",  # the shop's head was @seq:5: the rolled-back 6 is reused
]


def test_writes_in_a_transaction_are_reported_pending_and_commit_reports_their_seqs(
    run: Runner, shop: Path
) -> None:
    ran = run("sql", "-d", "db", "-e", TXN_SCRIPT)
    assert (ran.code, ran.err) == (0, "")
    assert ran.out.splitlines() == TXN_OUTPUT
    drift = run("drift", "-d", "db", "--table", "orders", "--key", "1", "--format", "jsonl")
    assert '"seq": 6,' in drift.out.splitlines()[-1]


def test_the_shell_reports_a_transaction_the_same_way(invoke: Runner, shop: Path) -> None:
    ran = invoke("sql", "-d", "db", stdin=TXN_SCRIPT.replace("; ", ";\n") + ";\n", tty=True)
    assert ran.code == 0, ran
    assert [line for line in TXN_OUTPUT if line not in ran.out] == []
    assert "(seq 6)" not in ran.out
