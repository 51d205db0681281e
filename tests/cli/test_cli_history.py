"""`driftdb diff` and `driftdb blame`, and the history statements through `driftdb sql`:
outputs in every format, exit codes, and that reading history changes no byte."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from cli_support import Runner, tree_digest


def test_diff_and_blame_have_help_with_examples(run: Runner) -> None:
    for command in ("diff", "blame"):
        done = run(command, "--help")
        assert done.code == 0, command
        assert "Example" in done.out, f"{command} --help has no example"


def test_diff_in_every_format(run: Runner, shop: Path) -> None:
    args = ("diff", "-d", "db", "--table", "orders", "--from", "@seq:3", "--to", "@now")
    expected = [
        {
            "key": 1,
            "change": "changed",
            "before": {"id": 1, "status": "new", "total": 30},
            "after": {"id": 1, "status": "paid", "total": 30},
            "fields": ["status"],
        },
        {
            "key": 2,
            "change": "removed",
            "before": {"id": 2, "status": "new", "total": 12.5},
            "after": None,
            "fields": ["id", "status", "total"],
        },
    ]
    done = run(*args, "--format", "json")
    assert done.code == 0, done.err
    assert json.loads(done.out) == expected
    done = run(*args, "--format", "jsonl")
    assert [json.loads(line) for line in done.out.splitlines()] == expected
    done = run(*args, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(done.out)))
    assert [(r["key"], r["change"], r["fields"]) for r in rows] == [
        ("1", "changed", '["status"]'),
        ("2", "removed", '["id","status","total"]'),
    ]
    done = run(*args)
    header = [cell.strip() for cell in done.out.splitlines()[1].split("|")[1:-1]]
    assert header == ["key", "change", "before", "after", "fields"]
    assert done.out.endswith("(2 rows)\n")


def test_diff_where_keeps_a_key_when_before_or_after_matches(run: Runner, shop: Path) -> None:
    done = run(
        "diff", "-d", "db", "-t", "orders", "--from", "@seq:3", "--to", "@now",
        "--where", "status = 'paid'", "--json",
    )  # fmt: skip
    assert [row["key"] for row in json.loads(done.out)] == [1]


def test_blame_names_the_event_that_set_each_field(run: Runner, shop: Path) -> None:
    assert run("sql", "-d", "db", "-e", 'PATCH orders KEY 1 SET {"status": "paid"}').code == 0
    done = run("blame", "-d", "db", "--table", "orders", "--key", "1", "--json")
    assert done.code == 0, done.err
    rows = json.loads(done.out)
    assert [(r["field"], r["value"], r["seq"], r["op"]) for r in rows] == [
        ("id", 1, 1, "INSERT"),
        ("status", "paid", 4, "PATCH"),  # the second PATCH wrote the same value: no blame
        ("total", 30, 1, "INSERT"),
    ]
    done = run("blame", "-d", "db", "-t", "orders", "-k", "1", "--as-of", "@seq:3", "--json")
    assert [r["seq"] for r in json.loads(done.out)] == [1, 1, 1]
    done = run("blame", "-d", "db", "-t", "orders", "-k", "x7", "--format", "csv")
    assert done.out.splitlines()[0] == "field,value,seq,ts,op,meta"


def test_blame_of_a_deleted_key_is_one_clear_error(run: Runner, shop: Path) -> None:
    done = run("blame", "-d", "db", "--table", "orders", "--key", "2")
    assert done.code == 1
    assert done.err == 'error: table "orders" has no live row with key 2 now\n'


@pytest.mark.parametrize(
    "command",
    [
        ("diff", "-d", "db", "--table", "orders", "--from", "@seq:1", "--to", "@now"),
        ("blame", "-d", "db", "--table", "orders", "--key", "1"),
        ("sql", "-d", "db", "-e", "SELECT *, _seq FROM orders FOR SYSTEM_TIME ALL"),
        ("sql", "-d", "db", "-e", "EXPLAIN RESTORE orders AS OF @seq:1"),
    ],
)
def test_history_reads_change_no_byte(run: Runner, shop: Path, command: tuple[str, ...]) -> None:
    before = tree_digest(shop)
    assert run(*command).code == 0
    assert tree_digest(shop) == before


def test_restore_and_alter_through_sql(run: Runner, shop: Path) -> None:
    done = run("sql", "-d", "db", "-e", 'RESTORE orders AS OF @seq:3 META {"by": "ops"}')
    assert done.code == 0, done.err
    assert done.out == "restored 2 keys to @seq:3: 1 patched, 1 inserted (seqs 6-7)\n"
    done = run("sql", "-d", "db", "-e", "RESTORE orders AS OF @seq:3")
    assert done.out == 'every row of "orders" already equals its state at @seq:3; nothing written\n'
    done = run("sql", "-d", "db", "-e", "ALTER TABLE orders ADD INDEX (total)")
    assert done.out == 'added index (total) to table "orders" at @seq:7 (7 versions indexed)\n'
    done = run("sql", "-d", "db", "-e", "EXPLAIN SELECT * FROM orders WHERE total = 30", "--json")
    assert "INDEX LOOKUP total = 30" in done.out


def test_drift_of_a_purged_key_says_it_was_purged_and_when(run: Runner, shop: Path) -> None:
    assert run("sql", "-d", "db", "-e", "PURGE orders KEY 1").code == 0
    table = run("drift", "-d", "db", "--table", "orders", "--key", "1")
    assert table.code == 0, table.err
    assert table.out.splitlines()[1].split("|")[-2].strip() == "purged"
    last = table.out.splitlines()[-1]
    assert last.startswith("key 1 was purged at 20") and "the data of 2 of its events" in last
    events = json.loads(run("drift", "-d", "db", "--table", "orders", "--key", "1", "--json").out)
    assert [(e["seq"], e["type"], e["data"]) for e in events] == [
        (1, "INSERT", None),
        (4, "PATCH", None),
    ]
    assert all(set(e["purged"]) == {"ts"} for e in events)
    shown = run("sql", "-d", "db", "--json", "-e", "SHOW DRIFT orders KEY 1")
    assert json.loads(shown.out) == events
    untouched = json.loads(
        run("drift", "-d", "db", "--table", "orders", "--key", "2", "--json").out
    )
    assert all("purged" not in e for e in untouched)  # the documented shape, unchanged
