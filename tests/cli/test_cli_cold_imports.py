"""A cold start loads only what it uses: `import driftdb` loads none of the package's modules
until a name is used, and `driftdb select` with plain flags runs without click and without the
modules of other commands or optional integrations (each costs a cold query milliseconds).
Checked in a child interpreter through sys.modules; no timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import Runner

# Never needed to read rows: the CLI library, optional integrations, compression of
# snapshots, YAML (schemas DriftDB wrote are JSON), and what only errors or writes need.
NOT_FOR_A_QUERY = (
    "click",
    "rich",
    "pyarrow",
    "pandas",
    "polars",
    "duckdb",
    "deltalake",
    "zstandard",
    "yaml",
    "secrets",
    "difflib",
    "subprocess",  # automatic snapshots run in a child process: a writer's, when one is due
)
# Modules of the package that a select by flags has no use for.
NOT_FOR_SELECT = (
    "driftdb.cli.app",
    "driftdb.cli.shell",
    "driftdb.cli.cmd_sql",
    "driftdb.cli.cmd_ingest",
    "driftdb.query.printer",
    "driftdb.export",
    "driftdb.frames",
    "driftdb.dbapi",
    "driftdb.duckdb_bridge",
    "driftdb.maintenance",
)


def loaded_after(code: str) -> set[str]:
    """The modules a child interpreter holds after running `code`."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)), file=sys.stderr)"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    assert done.returncode in (0, 1), done.stderr
    return set(json.loads(done.stderr.splitlines()[-1]))


def test_import_driftdb_loads_no_module_of_the_package_or_a_heavy_one() -> None:
    loaded = loaded_after("import driftdb")
    assert sorted(m for m in loaded if m.startswith("driftdb.")) == []
    assert sorted(m for m in loaded if m.split(".")[0] in NOT_FOR_A_QUERY) == []


def test_a_public_name_loads_its_module_when_used() -> None:
    loaded = loaded_after("import driftdb\ndriftdb.DriftError")
    assert "driftdb.errors" in loaded
    assert "driftdb.database" not in loaded
    loaded = loaded_after("import driftdb.query\ndriftdb.query.parse")
    assert "driftdb.query.parser" in loaded
    assert "driftdb.query.printer" not in loaded


def test_select_by_key_loads_nothing_a_query_does_not_need(shop: Path) -> None:
    code = (
        "import sys\n"
        "from driftdb.cli.main import main\n"
        f"sys.argv = ['driftdb', 'select', '-d', {str(shop)!r}, '--table', 'orders',"
        " '--where', 'id = 1', '--format', 'json']\n"
        "try:\n    main()\nexcept SystemExit as done:\n    assert done.code == 0, done.code\n"
    )
    loaded = loaded_after(code)
    assert "driftdb.database" in loaded  # the probe did run the query
    assert sorted(m for m in loaded if m.split(".")[0] in NOT_FOR_A_QUERY) == []
    assert sorted(m for m in loaded if m.startswith(NOT_FOR_SELECT)) == []


# Modules on the path of a select that still declare dataclasses (their conversion to
# model/frozen.py is pending elsewhere). `import dataclasses` alone loads inspect, ast and
# tokenize, and each class compiles its methods on import: when this set is empty,
# "dataclasses" joins NOT_FOR_A_QUERY.
STILL_DATACLASSES: set[str] = set()


def test_select_by_key_builds_no_dataclass_outside_the_known_few(shop: Path) -> None:
    code = (
        "import json, sys\n"
        "from driftdb.cli.main import main\n"
        f"sys.argv = ['driftdb', 'select', '-d', {str(shop)!r}, '--table', 'orders',"
        " '--where', 'id = 1', '--format', 'json']\n"
        "try:\n    main()\nexcept SystemExit as done:\n    assert done.code == 0, done.code\n"
        "found = sorted({c.__module__ for m in list(sys.modules.values())"
        " for c in vars(m).values() if isinstance(c, type) and '__dataclass_fields__' in"
        " c.__dict__ and c.__module__.startswith('driftdb')})\n"
        "print(json.dumps(found), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    declaring = set(json.loads(done.stderr.splitlines()[-1]))
    assert declaring <= STILL_DATACLASSES
    if not STILL_DATACLASSES:
        assert "dataclasses" not in loaded_after(code)


def test_the_fast_select_prints_what_click_prints(run: Runner, shop: Path) -> None:
    """The same query with plain flags (read without click) and with a repeated flag (which
    only click reads): one answer."""
    fast = run("select", "-d", "db", "--table", "orders", "--where", "id = 1", "--json")
    slow = run("select", "-d", "db", "-t", "x", "-t", "orders", "--where", "id = 1", "--json")
    assert (fast.code, fast.err) == (0, "")
    assert fast == slow


SELECTS = [
    ("--table", "orders"),
    ("-t", "orders", "--where", "id = 1", "--json"),
    ("--table=orders", "--where=status = 'new'", "--format=csv"),
    ("-t", "orders", "-w", "total > 10", "--order-by", "total DESC,id", "--limit", "1"),
    ("--table", "orders", "--count", "--as-of", "@seq:2"),
    ("--table", "orders", "--limit=0", "--format", "jsonl"),
    ("--table", "nope"),  # an error DriftDB reports
    ("--table", "orders", "--where", "id = = 1"),  # a syntax error, with its caret
    ("--table", "orders", "--as-of", " "),  # an empty timepoint
    ("--table", "orders", "--where", "nosuch(1)"),
]
# Spellings the fast reader leaves to click (usage errors, help, anything unusual).
CLICK_ONLY = [
    ("--table", "orders", "--limit", "-1"),
    ("--table", "orders", "--format", "xml"),
    ("--table", "orders", "--limit", "1_0"),
    ("--table", "orders", "extra"),
    ("--where", "id = 1"),
    ("--table", "orders", "--help"),
    ("-torders",),
]


@pytest.mark.parametrize("args", SELECTS + CLICK_ONLY)
def test_select_without_click_answers_as_click_does(
    invoke: Runner, shop: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    from driftdb.cli import main
    from driftdb.cli.select_run import read_select_args

    full = ("select", "-d", "db", *args)
    assert (read_select_args(full[1:], {}) is not None) == (args in SELECTS)
    fast = invoke(*full)
    monkeypatch.setattr(main, "_fast_select", lambda argv: None)
    assert invoke(*full) == fast


def test_the_directory_comes_from_driftdb_dir_without_click(
    invoke: Runner, shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from driftdb.cli import main

    fast = invoke("select", "--table", "orders", "--json", env={"DRIFTDB_DIR": "db"})
    assert fast.code == 0 and '"id": 1' in fast.out
    monkeypatch.setattr(main, "_fast_select", lambda argv: None)
    assert invoke("select", "--table", "orders", "--json", env={"DRIFTDB_DIR": "db"}) == fast


def test_a_file_given_as_the_directory_is_left_to_click(shop: Path) -> None:
    from driftdb.cli.select_run import read_select_args

    (shop / "plain").write_text("")
    assert read_select_args(["-d", str(shop / "plain"), "--table", "t"], {}) is None
    assert read_select_args(["--table", "t"], {}) is None  # no directory at all
    assert read_select_args(["-d", str(shop), "--table", "t", "--table", "u"], {}) is None
