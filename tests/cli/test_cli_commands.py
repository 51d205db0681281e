"""Every command of the CLI: outputs, exit codes and the messages a person sees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import Runner, tree_digest

import driftdb


def test_version_and_help_of_every_command_have_examples(run: Runner) -> None:
    assert run("--version").out.startswith("driftdb, version ")
    for command in ("init", "sql", "select", "drift", "ingest", "snapshot", "compact", "doctor"):
        done = run(command, "--help")
        assert done.code == 0, command
        assert "Example" in done.out, f"{command} --help has no example"


def test_usage_error_exits_2_without_traceback(run: Runner) -> None:
    done = run("select", "--table", "orders")
    assert done.code == 2
    assert "Missing option '-d' / '--dir'" in done.err
    assert "Traceback" not in done.err


def test_missing_database_is_one_clear_line(run: Runner) -> None:
    done = run("select", "-d", "nowhere", "--table", "orders")
    assert done.code == 1
    assert done.err == (
        'error: no DriftDB database at nowhere; create one with "driftdb init nowhere" or '
        "driftdb.open(path, create=True)\n"
    )


def test_unknown_table_suggests_the_close_one(run: Runner, shop: Path) -> None:
    done = run("select", "-d", "db", "--table", "order")
    assert done.code == 1
    assert done.err == 'error: no table "order" (did you mean "orders"?); tables: orders\n'


def test_select_json_as_of_and_where(run: Runner, shop: Path) -> None:
    now = run("select", "-d", "db", "--table", "orders", "--json")
    assert json.loads(now.out) == [
        {"id": 1, "status": "paid", "total": 30},
        {"id": "x7", "status": "new", "total": 99},
    ]
    then = run(
        "select",
        "-d",
        "db",
        "--table",
        "orders",
        "--as-of",
        "@seq:3",
        "--where",
        "status = 'new'",
        "--format",
        "jsonl",
    )
    assert [json.loads(line)["id"] for line in then.out.splitlines()] == [1, 2, "x7"]


def test_select_count_and_limit(run: Runner, shop: Path) -> None:
    assert run("select", "-d", "db", "--table", "orders", "--count").out == "2\n"
    limited = run(
        "select",
        "-d",
        "db",
        "--table",
        "orders",
        "--order-by",
        "total DESC",
        "--limit",
        "1",
        "--json",
    )
    assert json.loads(limited.out) == [{"id": "x7", "status": "new", "total": 99}]


def test_database_dir_from_environment(run: Runner, shop: Path) -> None:
    done = run("select", "--table", "orders", "--count", env={"DRIFTDB_DIR": str(shop)})
    assert (done.code, done.out) == (0, "2\n")


def test_bad_as_of_is_a_clear_error(run: Runner, shop: Path) -> None:
    done = run("select", "-d", "db", "--table", "orders", "--as-of", "yesterday")
    assert done.code == 1
    assert done.err.startswith('error: --as-of: cannot read "yesterday" as a timepoint; use ')


def test_duplicate_key_is_one_line_and_writes_nothing(run: Runner, shop: Path) -> None:
    before = tree_digest(shop, truth_only=True)
    done = run("sql", "-d", "db", "-e", 'INSERT INTO orders {"id": 1, "status": "x"}')
    assert done.code == 1
    assert done.err == (
        'error: table "orders" already has a live row with key 1; use PATCH to change it\n'
    )
    assert tree_digest(shop, truth_only=True) == before


def test_syntax_error_in_a_script_runs_nothing(run: Runner, shop: Path) -> None:
    before = tree_digest(shop, truth_only=True)
    script = 'INSERT INTO orders {"id": 9};\nSELECT * FORM orders'
    done = run("sql", "-d", "db", "-e", script)
    assert done.code == 1
    assert "at line 2, column 10" in done.err
    assert tree_digest(shop, truth_only=True) == before


@pytest.mark.parametrize(
    "command",
    [
        ("select", "-d", "db", "--table", "orders"),
        (
            "select",
            "-d",
            "db",
            "--table",
            "orders",
            "--where",
            "status = 'paid'",
            "--as-of",
            "@seq:2",
        ),
        ("drift", "-d", "db", "--table", "orders", "--key", "1"),
        ("sql", "-d", "db", "-e", "SHOW TABLES; DESCRIBE orders; SELECT COUNT(*) FROM orders"),
    ],
)
def test_read_only_commands_change_no_byte(
    run: Runner, shop: Path, command: tuple[str, ...]
) -> None:
    before = tree_digest(shop)
    assert run(*command).code == 0
    assert tree_digest(shop) == before


def test_reads_work_while_a_writer_holds_the_lock(run: Runner, shop: Path) -> None:
    with driftdb.open(shop):
        done = run("select", "-d", "db", "--table", "orders", "--count")
        assert (done.code, done.out) == (0, "2\n")
        locked = run("sql", "-d", "db", "-e", 'PATCH orders KEY 1 SET {"a": 1}')
        assert locked.code == 1
        assert locked.err.startswith("error: database ")
        assert "is locked by another writer (pid=" in locked.err


def test_drift_key_text_maps_to_integer_and_string_keys(run: Runner, shop: Path) -> None:
    as_int = json.loads(run("drift", "-d", "db", "--table", "orders", "--key", "1", "--json").out)
    assert [e["type"] for e in as_int] == ["INSERT", "PATCH"]
    assert as_int[1]["row"] == {"id": 1, "status": "paid", "total": 30}
    assert set(as_int[0]) == {"seq", "ts", "type", "data", "row", "meta"}
    as_str = json.loads(run("drift", "-d", "db", "--table", "orders", "--key", "x7", "--json").out)
    assert as_str[0]["data"]["id"] == "x7"
    deleted = json.loads(run("drift", "-d", "db", "--table", "orders", "--key", "2", "--json").out)
    assert [e["type"] for e in deleted] == ["INSERT", "SOFT_DELETE"]
    assert deleted[-1]["row"] is None
    missing = run("drift", "-d", "db", "--table", "orders", "--key", '"1"')
    assert missing.code == 1
    assert missing.err == "error: table \"orders\" has no history for key '1'\n"


def test_sql_reads_statements_from_stdin(run: Runner, shop: Path) -> None:
    done = run(
        "sql",
        "-d",
        "db",
        "--format",
        "csv",
        stdin="-- a comment\nSELECT id FROM orders\nWHERE status = 'paid';\n",
    )
    assert (done.code, done.out) == (0, "id\n1\n")


def test_sql_file_and_csv(run: Runner, shop: Path, tmp_path: Path) -> None:
    (tmp_path / "q.dql").write_text("SELECT id, total FROM orders ORDER BY total;\n")
    done = run("sql", "-d", "db", "-f", "q.dql", "--format", "csv")
    assert done.out == "id,total\n1,30\nx7,99\n"


def test_ingest_commits_lines_before_a_bad_one_and_resumes(
    run: Runner, shop: Path, tmp_path: Path
) -> None:
    lines = [json.dumps({"id": 100 + i, "status": "new"}) for i in range(5)]
    lines.insert(3, "{not json")
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    done = run("ingest", "-d", "db", "--table", "orders", "--file", "in.jsonl", "--batch-size", "2")
    assert done.code == 1
    assert done.err.startswith("error: line 4: not valid JSON (")
    assert "3 rows before it were committed" in done.err
    assert "--from-line 4" in done.err
    count = run("select", "-d", "db", "--table", "orders", "--where", "id >= 100", "--count")
    assert count.out == "3\n"
    (tmp_path / "in.jsonl").write_text("\n".join([*lines[:3], "{}", *lines[4:]]) + "\n")
    fixed = run("ingest", "-d", "db", "--table", "orders", "--file", "in.jsonl", "--from-line", "5")
    assert (fixed.code, fixed.out) == (0, "ingested 2 rows into orders\n")


def test_ingest_names_the_line_of_a_rejected_document(run: Runner, shop: Path) -> None:
    stdin = '{"id": 50}\n{"id": 1, "status": "dup"}\n'
    done = run("ingest", "-d", "db", "--table", "orders", "--file", "-", stdin=stdin)
    assert done.code == 1
    assert done.err == (
        'error: line 2: table "orders" already has a live row with key 1; use PATCH to change '
        "it; 1 row before it was committed. Fix the line and resume with --from-line 2\n"
    )


def test_interactive_shell_driven_through_stdin_is_a_script(run: Runner, shop: Path) -> None:
    done = run("sql", "-d", "db", stdin="SHOW TABLES;\nSELECT COUNT(*) FROM orders;\n")
    assert done.code == 0
    assert done.out.endswith("2\n")
