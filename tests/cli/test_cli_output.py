"""Output people can rely on (issue 12, item 8): scripts that stop say what ran, JSON over
several statements is one document, table and CSV cells tell missing from null from "null",
tables keep their layout, and messages name JSON types."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from cli_support import Runner

from driftdb.cli.output import text_table


def test_a_failing_statement_says_which_statements_ran_and_which_were_skipped(
    run: Runner, shop: Path
) -> None:
    script = 'INSERT INTO orders {"id": 5}; SELECT * FROM nope; SHOW TABLES; SHOW TABLES'
    done = run("sql", "-d", "db", "-e", script)
    assert done.code == 1
    assert done.out == "inserted 1 row (seq 6)\n"
    assert done.err == (
        "statement 2 of 4 failed: statement 1 ran; statements 3-4 were skipped\n"
        'error: no table "nope"; tables: orders\n'
    )
    first = run("sql", "-d", "db", "-e", "SELECT * FROM nope; SHOW TABLES")
    assert first.err.startswith("statement 1 of 2 failed: no statement ran; statement 2 was")


def test_json_over_several_statements_is_one_json_document(run: Runner, shop: Path) -> None:
    script = "SELECT COUNT(*) FROM orders; SELECT id FROM orders ORDER BY total LIMIT 1"
    done = run("sql", "-d", "db", "--format", "json", "-e", script)
    assert done.code == 0
    assert json.loads(done.out) == [[{"count": 2}], [{"id": 1}]]
    failing = run("sql", "-d", "db", "--json", "-e", "SHOW TABLES; SELECT * FROM nope")
    assert failing.code == 1
    assert json.loads(failing.out) == [[{"table": "orders"}]]
    one = run("sql", "-d", "db", "--json", "-e", "SELECT COUNT(*) FROM orders")
    assert json.loads(one.out) == [{"count": 2}]  # one statement: as before


def test_table_and_csv_tell_missing_from_null_from_the_string_null(run: Runner, shop: Path) -> None:
    rows = (
        '[{"id": 10, "note": null}, {"id": 11, "note": "null"}, {"id": 12}, {"id": 13, "note": ""}]'
    )
    assert run("sql", "-d", "db", "-e", f"INSERT INTO orders {rows}").code == 0
    query = "SELECT * FROM orders WHERE id >= 10 ORDER BY id"
    table = run("sql", "-d", "db", "-e", query).out
    assert table.splitlines()[3:7] == [
        "| 10 | null   |",
        '| 11 | "null" |',
        "| 12 |        |",
        '| 13 | ""     |',
    ]
    got = list(csv.reader(io.StringIO(run("sql", "-d", "db", "--format", "csv", "-e", query).out)))
    assert got[0] == ["id", "note"]
    assert [r[1] for r in got[1:]] == ["null", '"null"', "", '""']


def test_newlines_and_wide_characters_keep_the_table_aligned() -> None:
    table = text_table(["id", "name"], [{"id": 1, "name": "東京\nKyoto"}, {"id": 2, "name": "a"}])
    assert table.splitlines() == [
        "+----+-------------+",
        "| id | name        |",
        "+----+-------------+",
        "| 1  | 東京\\nKyoto |",
        "| 2  | a           |",
        "+----+-------------+",
    ]


def test_one_row_is_one_row_not_one_rows(run: Runner, shop: Path) -> None:
    done = run("sql", "-d", "db", "-e", "SELECT id FROM orders WHERE id = 1")
    assert done.out.endswith("(1 row)\n")
    ingested = run("ingest", "-d", "db", "--table", "orders", "--file", "-", stdin='{"id": 40}\n')
    assert ingested.out == "ingested 1 row into orders\n"


def test_messages_name_json_types_not_python_types(run: Runner, shop: Path) -> None:
    done = run("ingest", "-d", "db", "--table", "orders", "--file", "-", stdin="[1]\n")
    assert "expected a JSON object, got array" in done.err
    done = run("sql", "-d", "db", "-e", 'INSERT INTO orders {"id": null}')
    assert done.err == (
        "error: INSERT INTO orders: primary key must be a string or an integer, got null\n"
    )
    done = run("sql", "-d", "db", "-e", 'INSERT INTO orders {"id": {"a": 1}}')
    assert "got object {" in done.err and "dict" not in done.err
