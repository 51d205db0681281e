"""Malformed DriftQL, by hand and by mutation, through `db.execute` and through the `driftdb`
command: always a DriftError (never another exception), from the CLI exit 1 or 2 with stderr
starting "error:" and no traceback, and the database unchanged."""

from __future__ import annotations

import os
import random
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from badinput_support import run_cli, run_cli_here, truth_digest
from crash_support import record_figures
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import driftdb

FUZZ_EXAMPLES = int(os.environ.get("DRIFTDB_FUZZ_EXAMPLES", "200"))

MALFORMED = [
    "",
    "   ",
    ";;;",
    "SELEC * FROM t",
    "SELECT",
    "SELECT *",
    "SELECT * FROM",
    "SELECT * FROM t WHERE",
    "SELECT * FROM t WHERE v =",
    "SELECT * FROM t WHERE = 3",
    "SELECT * FROM t WHERE v = 'unterminated",
    'SELECT * FROM t WHERE v = "unterminated',
    "SELECT * FROM t WHERE (v = 1",
    "SELECT * FROM t WHERE v = 1)",
    "SELECT * FROM t WHERE v IN (1, 2",
    "SELECT * FROM t WHERE v IN ()",
    "SELECT * FROM t WHERE v IS",
    "SELECT * FROM t WHERE v IS NOT",
    "SELECT * FROM t WHERE NOT",
    "SELECT * FROM t WHERE v = 1 AND",
    "SELECT * FROM t WHERE v == 1",
    "SELECT * FROM t WHERE v = 1 OR OR v = 2",
    "SELECT * FROM t ORDER v",
    "SELECT * FROM t ORDER BY",
    "SELECT * FROM t LIMIT",
    "SELECT * FROM t LIMIT -1",
    "SELECT * FROM t LIMIT 'ten'",
    "SELECT * FROM t LIMIT 1.5",
    "SELECT * FROM t OFFSET 3",
    "SELECT * FROM t AS OF",
    'SELECT * FROM t AS OF "@seq:-1"',
    'SELECT * FROM t AS OF "@seq:abc"',
    'SELECT * FROM t AS OF "yesterday"',
    'SELECT * FROM t AS OF "2025-13-45T99:99:99Z"',
    "SELECT * FROM t AS OF @later",
    "SELECT * FROM t AS OF @seq:1 AS OF @seq:2",
    "SELECT COUNT(* FROM t",
    "SELECT COUNT(v, w) FROM t",
    "SELECT a,, b FROM t",
    "SELECT * FROM nosuchtable",
    "SELECT * FROM t WHERE v = 1 extra",
    "SELECT * FROM t\x00",
    'INSERT t {"id": 9}',
    "INSERT INTO",
    "INSERT INTO t",
    "INSERT INTO t {",
    'INSERT INTO t {"id": }',
    'INSERT INTO t {"id": 9,}',
    "INSERT INTO t {id: 9}",
    "INSERT INTO t []",
    "INSERT INTO t [1, 2]",
    'INSERT INTO t "just a string"',
    'INSERT INTO t {"id": 9} {"id": 10}',
    'INSERT INTO t {"v": 1}',
    'INSERT INTO t {"id": 1}',
    'INSERT INTO t {"id": 1.5}',
    'INSERT INTO t {"id": true}',
    'INSERT INTO t {"id": null}',
    'INSERT INTO t {"id": [1]}',
    'INSERT INTO t {"id": ""}',
    'INSERT INTO t {"id": 99999999999999999999999}',
    'INSERT INTO t {"id": 9, "x": NaN}',
    'INSERT INTO t {"id": 9, "x": Infinity}',
    'INSERT INTO t {"id": 9, "x": 1e999}',
    'INSERT INTO t {"id": 9, "id": 10}',
    "INSERT INTO t " + "[" * 5000 + "]" * 5000,
    'INSERT INTO t {"id": 9, "deep": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}",
    "PATCH t",
    "PATCH t KEY",
    "PATCH t KEY 1",
    "PATCH t KEY 1 SET",
    "PATCH t KEY 1 SET [1]",
    'PATCH t KEY 1 SET {"id": 2}',
    'PATCH t KEY 424242 SET {"v": 1}',
    'PATCH t KEY {} SET {"v": 1}',
    'PATCH t SET {"v": 1}',
    "SOFT DELETE t KEY 1",
    "SOFT DELETE FROM t",
    "SOFT DELETE FROM t KEY",
    "SOFT DELETE FROM t KEY 424242",
    "SOFT DELETE FROM t KEY 1.5",
    "DELETE FROM t KEY 1",
    "UPDATE t SET v = 1",
    "DROP TABLE t",
    "CREATE TABLE",
    "CREATE TABLE t2",
    "CREATE TABLE t2 ()",
    "CREATE TABLE t2 (INDEX(v))",
    "CREATE TABLE t2 (pk=)",
    "CREATE TABLE t2 (pk=id, pk=id)",
    "CREATE TABLE t2 (pk=a.b)",
    "CREATE TABLE t2 (pk=id, INDEX())",
    "CREATE TABLE t2 (pk=id, INDEX(v, v))",
    "CREATE TABLE t (pk=id)",
    'CREATE TABLE "../evil" (pk=id)',
    "CREATE TABLE ../evil (pk=id)",
    "CREATE TABLE a/b (pk=id)",
    "CREATE TABLE 9lives (pk=id)",
    "CREATE TABLE " + "x" * 200 + " (pk=id)",
    "SHOW",
    "SHOW TABLE",
    "SHOW DRIFT t",
    "SHOW DRIFT t KEY 424242",
    "DESCRIBE",
    "DESCRIBE nosuchtable",
    "EXPLAIN",
    'EXPLAIN INSERT INTO t {"id": 5}',
    "SNAPSHOT",
    "SNAPSHOT nosuchtable",
    "COMPACT t BEFORE",
    'COMPACT t BEFORE "not a time"',
    "PURGE t",
    "PURGE t KEY 424242",
    "SELECT * FROM t WHERE v = ?",
    "/* C comment */ SELECT * FROM t",
    "SELECT * FROM t WHERE " + "(" * 500 + "v = 1" + ")" * 500,
    "SELECT * FROM t WHERE " + "NOT " * 500 + "v = 1",
    "SELECT * FROM t; SELEC",
    'INSERT INTO t {"id": 77}; INSERT INTO t {"id": 77',
    "SELECT * FROM t WHERE v = 'a' || 'b'",
    "SELECT * FROM t WHERE v LIKE '%a%' ESCAPE",
    "SELECT * FROM t GROUP BY v",
    "SELECT * FROM t JOIN u",
]

VALID = [
    'INSERT INTO t {"id": 100, "v": "new", "n": {"a": [1, 2, {"b": null}]}}',
    'INSERT INTO t [{"id": 101, "v": 1}, {"id": 102, "v": 2}]',
    'PATCH t KEY 1 SET {"v": "patched", "extra": {"x": 1}}',
    "SOFT DELETE FROM t KEY 2",
    "SELECT id, v FROM t WHERE v >= 1 AND v IN (1, 2, 3) ORDER BY v DESC LIMIT 2 OFFSET 1",
    'SELECT COUNT(*) FROM t AS OF "@seq:3" WHERE v IS NOT NULL',
    'SELECT * FROM t AS OF "2025-01-01T00:00:00Z" WHERE NOT (v = 1 OR v = "x")',
    "EXPLAIN SELECT * FROM t WHERE v = 3",
    "SHOW DRIFT t KEY 1",
    "CREATE TABLE u (pk=id, INDEX(a, b.c))",
    "DESCRIBE t",
    "SHOW TABLES",
]


@pytest.fixture
def table_db(tmp_path: Path) -> Iterator[driftdb.Database]:
    with driftdb.open(tmp_path / "db", create=True) as db:
        db.create_table("t", indexes=["v"]).insert_many([{"id": i, "v": i} for i in range(5)])
        yield db


def test_there_are_at_least_fifty_malformed_statements() -> None:
    assert len(set(MALFORMED)) >= 50


def test_malformed_statements_through_the_api_raise_drift_errors_and_change_nothing(
    table_db: driftdb.Database,
) -> None:
    wrong = []
    before = truth_digest(table_db.path), table_db.head()
    kinds: dict[str, int] = {}
    for statement in MALFORMED:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", driftdb.DriftWarning)
                table_db.execute(statement)
            wrong.append(f"accepted: {statement[:80]!r}")
        except driftdb.DriftError as exc:
            kinds[type(exc).__name__] = kinds.get(type(exc).__name__, 0) + 1
            if not str(exc).strip():
                wrong.append(f"empty message: {statement[:80]!r}")
        except Exception as exc:
            wrong.append(f"{type(exc).__name__} for {statement[:80]!r}: {exc}")
        if (truth_digest(table_db.path), table_db.head()) != before:
            wrong.append(f"changed the database: {statement[:80]!r}")
            before = truth_digest(table_db.path), table_db.head()
    record_figures(
        "badinput",
        "driftql-api",
        tried=len(MALFORMED),
        handled=len(MALFORMED) - len(wrong),
        outcomes=kinds,
    )
    assert not wrong, "\n".join(wrong)


def test_malformed_statements_through_the_cli_exit_1_with_error_and_no_traceback(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "db"
    with driftdb.open(db_path, create=True) as db:
        db.create_table("t", indexes=["v"]).insert_many([{"id": i, "v": i} for i in range(5)])
    before = truth_digest(db_path)
    wrong = []
    # (An empty script is not an error for the command: it runs no statement and exits 0.)
    for statement in [s for s in MALFORMED if s.strip(" ;")]:
        ran = run_cli_here("sql", "-d", str(db_path), "-e", statement)
        problem = ran.clear_error()
        if problem:
            wrong.append(f"{problem} for {statement[:80]!r}: {ran.err[:200]!r}")
        if truth_digest(db_path) != before:
            wrong.append(f"changed the database: {statement[:80]!r}")
            before = truth_digest(db_path)
    # The same through real processes, for a sample (a process start each).
    for statement in random.Random(5).sample(MALFORMED, 8):
        ran = run_cli("sql", "-d", str(db_path), "-e", statement)
        problem = ran.clear_error()
        if problem:
            wrong.append(f"(process) {problem} for {statement[:80]!r}: {ran.err[:200]!r}")
    record_figures(
        "badinput", "driftql-cli", tried=len(MALFORMED) + 8, handled=len(MALFORMED) + 8 - len(wrong)
    )
    assert not wrong, "\n".join(wrong)


def test_a_script_with_a_syntax_error_anywhere_runs_nothing(tmp_path: Path) -> None:
    db_path = tmp_path / "db"
    with driftdb.open(db_path, create=True) as db:
        db.create_table("t")
    before = truth_digest(db_path)
    ran = run_cli_here(
        "sql",
        "-d",
        str(db_path),
        "-e",
        'INSERT INTO t {"id": 1}; INSERT INTO t {"id": 2}; SELEC * FROM t',
    )
    assert ran.code == 1
    assert ran.err.startswith("error: Unknown statement 'SELEC' at line 1, column ")
    assert truth_digest(db_path) == before


# -- mutation: valid statements, damaged at random -------------------------------------------

TOKENS = [
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ";",
    ":",
    "=",
    "'",
    '"',
    "?",
    "@seq:",
    "--",
    "AS OF",
    "WHERE",
    "KEY",
    "SET",
    "NOT",
    "NULL",
    "-1",
    "1e309",
    "\\",
    "\x00",
    "\u00e9",
    "\ud800",
    "..",
    "/",
]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(VALID))
    for _ in range(draw(st.integers(1, 3))):
        if not text:
            break
        at = draw(st.integers(0, len(text)))
        how = draw(st.sampled_from(["delete", "insert", "token", "duplicate", "truncate"]))
        if how == "delete":
            end = draw(st.integers(at, min(len(text), at + 8)))
            text = text[:at] + text[end:]
        elif how == "insert":
            text = text[:at] + draw(st.text(max_size=4)) + text[at:]
        elif how == "token":
            text = text[:at] + draw(st.sampled_from(TOKENS)) + text[at:]
        elif how == "duplicate":
            end = draw(st.integers(at, min(len(text), at + 12)))
            text = text[:end] + text[at:end] + text[end:]
        else:
            text = text[:at]
    return text


SEEN: dict[str, int] = {"tried": 0, "errors": 0, "accepted": 0, "leaked": 0}
SHARED: dict[str, Path] = {}


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(statement=mutated())
def test_mutated_statements_raise_only_drift_errors_through_api_and_cli(
    tmp_path_factory: pytest.TempPathFactory, statement: str
) -> None:
    # One database for every example (creating one each time costs more than the test):
    # accepted statements change it, failed ones must not.
    db_path = SHARED.get("path")
    if db_path is None or not db_path.exists():
        db_path = SHARED["path"] = tmp_path_factory.mktemp("mut") / "db"
        with driftdb.open(db_path, create=True) as db:
            db.create_table("t", indexes=["v"]).insert_many([{"id": i, "v": i} for i in range(5)])
    with driftdb.open(db_path) as db:
        before = truth_digest(db_path), db.head()
        SEEN["tried"] += 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                db.execute(statement)
            SEEN["accepted"] += 1
            accepted = True
        except driftdb.DriftError:
            SEEN["errors"] += 1
            accepted = False
        except Exception as exc:
            SEEN["leaked"] += 1
            if "\ud800" in statement or "\x00" in statement:
                return  # known: see test_badinput_documents (lone surrogates), and below
            raise AssertionError(f"{type(exc).__name__} for {statement!r}: {exc}") from exc
        if not accepted and ";" not in statement:
            assert (truth_digest(db_path), db.head()) == before, statement
    if "\ud800" in statement:
        return  # a lone surrogate cannot even be passed as a command-line argument
    ran = run_cli_here("sql", "-d", str(db_path), "-e", statement)
    if ran.code != 0:
        assert ran.clear_error() is None, (statement, ran.err[:300])


def test_mutation_figures() -> None:
    """(Writes the mutation counts of the test above to the figures file.)"""
    record_figures(
        "badinput",
        "driftql-mutations",
        tried=SEEN["tried"],
        handled=SEEN["tried"] - SEEN["leaked"],
        outcomes=dict(SEEN),
    )
