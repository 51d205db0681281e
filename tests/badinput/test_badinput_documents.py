"""Bad documents, keys and names, through the API and the command line: a clear error naming
what and where, a database that is unchanged (or, for ingest, holds exactly the lines before
the bad one), no traceback, and no path outside the database directory."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from badinput_support import run_cli, run_cli_here, tree, truth_digest
from crash_support import record_figures

import driftdb
from driftdb.model.schema import COLUMN

GOOD = [b'{"id": 1, "v": "a"}', b'{"id": 2, "v": "b"}']
BAD_LINES = {
    "truncated object": b'{"id": 3,',
    "single quotes": b"{'id': 3}",
    "trailing brace": b'{"id": 3}}',
    "not json": b"not json at all",
    "misspelled literal": b'{"id": 3, "x": tru}',
    "invalid utf-8": b'{"id": 3, "x": "\xff\xfe"}',
    "a list": b"[1, 2, 3]",
    "a string": b'"just a string"',
    "a number": b"42",
    "null": b"null",
    "NaN": b'{"id": 3, "x": NaN}',
    "Infinity": b'{"id": 3, "x": Infinity}',
    "-Infinity": b'{"id": 3, "x": -Infinity}',
    "bool key": b'{"id": true}',
    "float key": b'{"id": 1.5}',
    "list key": b'{"id": [1]}',
    "object key": b'{"id": {"a": 1}}',
    "null key": b'{"id": null}',
    "empty key": b'{"id": ""}',
    "huge key": b'{"id": 99999999999999999999999999}',
    "no key": b'{"v": "no id"}',
    "duplicate key": b'{"id": 1, "v": "again"}',
    "nested 100": b'{"id": 3, "d": ' + b"[" * 100 + b"]" * 100 + b"}",
    "lone surrogate escape": b'{"id": 3, "x": "\\ud800"}',
    "NUL byte": b'{"id": 3, "x": "a\x00b"}',
    "control char": b'{"id": 3, "x": "a\x01b"}',
}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "db"
    with driftdb.open(path, create=True) as db:
        db.create_table("t", indexes=["v"])
    return path


def ids(db_path: Path) -> list[Any]:
    with driftdb.open(db_path, readonly=True) as db:
        return sorted(row["id"] for row in db.table("t").select())


@pytest.mark.parametrize(
    "what",
    [w for w in BAD_LINES],
)
def test_a_bad_jsonl_line_stops_ingest_naming_the_line_after_committing_the_lines_before(
    db_path: Path, tmp_path: Path, what: str
) -> None:
    source = tmp_path / "rows.jsonl"
    source.write_bytes(b"\n".join([*GOOD, BAD_LINES[what], b'{"id": 4}']) + b"\n")
    ran = run_cli_here("ingest", "-d", str(db_path), "--table", "t", "--file", str(source))
    record_figures("badinput", "jsonl-line", tried=1, handled=int(ran.clear_error() is None))
    assert ran.clear_error() is None, ran
    assert ran.err.startswith("error: line 3: "), ran.err
    assert "2 rows before it were committed" in ran.err and "--from-line 3" in ran.err
    assert ids(db_path) == [1, 2]
    with driftdb.open(db_path) as db:  # and the writer still works
        db.table("t").insert({"id": 5})


def test_ingest_of_bad_lines_through_a_real_process(db_path: Path, tmp_path: Path) -> None:
    for i, what in enumerate(["truncated object", "invalid utf-8", "NaN", "a list"]):
        source = tmp_path / f"rows{i}.jsonl"
        source.write_bytes(BAD_LINES[what] + b"\n")
        before = truth_digest(db_path)
        ran = run_cli("ingest", "-d", str(db_path), "--table", "t", "--file", str(source))
        assert ran.clear_error() is None, (what, ran)
        assert ran.err.startswith("error: line 1: "), ran.err
        assert truth_digest(db_path) == before


NOT_DOCUMENTS: list[Any] = [
    [1, 2],
    "a string",
    42,
    None,
    1.5,
    (1, 2),
    True,
    {"id": 1.5},
    {"id": True},
    {"id": None},
    {"id": [1]},
    {"id": {}},
    {"id": ""},
    {"id": 2**64},
    {"id": -(2**63) - 1},
    {1: "int field name", "id": 5},
    {"id": 5, "x": math.nan},
    {"id": 5, "x": math.inf},
    {"id": 5, "x": -math.inf},
    {"id": 5, "x": object()},
    {"id": 5, "x": b"bytes"},
    {"id": 5, "x": {1: 2}},
    {"id": 5, "x": {1, 2}},
    {"id": 5, "x": 2**64},
    {"id": 5, "x": [math.nan]},
    {"v": "no primary key"},
]


@pytest.fixture
def table(db_path: Path) -> Iterator[driftdb.Table]:
    with driftdb.open(db_path) as db:
        db.table("t").insert({"id": 1, "v": "a"})
        yield db.table("t")


def test_documents_and_keys_of_the_wrong_kind_are_invalid_input_and_change_nothing(
    table: driftdb.Table,
) -> None:
    calls: list[tuple[str, Any]] = [("insert", doc) for doc in NOT_DOCUMENTS]
    calls += [("insert_many", [{"id": 10}, doc]) for doc in NOT_DOCUMENTS[:10]]
    calls += [
        ("patch", (1.5, {"v": 1})),
        ("patch", (1, [1])),
        ("patch", (1, {"id": 2})),
        ("patch", (None, {})),
        ("patch", (1, {"x": math.nan})),
        ("patch", (True, {})),
        ("soft_delete", (None,)),
        ("soft_delete", ([1],)),
        ("soft_delete", (1.5,)),
        ("get", ([1],)),
        ("get", (True,)),
        ("get", ({},)),
        ("history", (None,)),
        ("get", (1, "yesterday")),
        ("get", (1, -5)),
        ("get", (1, "@seq:x")),
        ("select", ({"v": 1}, "@seq:-1")),
        ("select", ("v = = 1",)),
        ("count", ("v >",)),
        ("select", (None, None, "no such order")),
        ("select", (None, None, None, -1)),
    ]
    before = truth_digest(table.db.path), table.db.head()
    wrong = []
    for name, args in calls:
        method = getattr(table, name)
        try:
            if name in ("insert",) or name == "insert_many":
                method(args)
            else:
                result = method(*args)
                if name in ("select",):
                    list(result)
            wrong.append(f"{name}{args!r:.80}: accepted")
        except driftdb.InvalidInputError as exc:
            if not str(exc):
                wrong.append(f"{name}{args!r:.80}: empty message")
        except driftdb.DriftError as exc:
            wrong.append(f"{name}{args!r:.80}: {type(exc).__name__} (not invalid input): {exc}")
        except Exception as exc:
            wrong.append(f"{name}{args!r:.80}: {type(exc).__name__}: {exc}")
        if (truth_digest(table.db.path), table.db.head()) != before:
            wrong.append(f"{name}{args!r:.80}: changed the database")
            break
    table.insert({"id": 2})  # the writer was not stopped by any of it
    record_figures("badinput", "documents-api", tried=len(calls), handled=len(calls) - len(wrong))
    assert not wrong, "\n".join(wrong)


def test_a_ten_megabyte_string_is_stored_and_read_back(db_path: Path, tmp_path: Path) -> None:
    big = "x" * (10 * 1024 * 1024)
    with driftdb.open(db_path) as db:
        db.table("t").insert({"id": "big", "blob": big})  # (not an indexed column: see below)
    with driftdb.open(db_path) as db:
        assert db.table("t").get("big") == {"id": "big", "blob": big}
    source = tmp_path / "big.jsonl"
    source.write_text(json.dumps({"id": "big2", "blob": big}) + "\n")
    ran = run_cli_here("ingest", "-d", str(db_path), "--table", "t", "--file", str(source))
    assert (ran.code, ran.out) == (0, "ingested 1 row into t\n"), ran.err
    with driftdb.open(db_path, readonly=True) as db:
        assert db.table("t").get("big2") == {"id": "big2", "blob": big}
    record_figures("badinput", "huge-document", tried=2, handled=2)


@pytest.mark.parametrize(
    "doc", [{"id": "k" * 600}, {"id": 1, "v": "x" * 600}], ids=["long-key", "long-indexed-value"]
)
def test_a_key_or_indexed_value_over_the_index_key_limit_never_bricks_the_database(
    db_path: Path, doc: dict[str, Any]
) -> None:
    with driftdb.open(db_path) as db:
        try:
            db.table("t").insert(doc)
            accepted = True
        except driftdb.InvalidInputError:
            accepted = False
    with driftdb.open(db_path) as db:  # today: lmdb.BadValsizeError, on every open
        assert db.table("t").get(doc["id"]) == (doc if accepted else None)
        db.table("t").insert({"id": "after"})


def test_a_document_over_the_frame_bound_is_invalid_input_and_the_writer_goes_on(
    db_path: Path,
) -> None:
    """(Found a bug, since fixed: it was a DriftIOError that stopped the writer.)"""
    with driftdb.open(db_path) as db:
        before = truth_digest(db_path)
        with pytest.raises(driftdb.InvalidInputError, match="64"):
            db.table("t").insert({"id": "huge", "v": "z" * (70 * 1024 * 1024)})
        assert truth_digest(db_path) == before
        db.table("t").insert({"id": "after"})


def deep(depth: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        doc = {"a": doc}
    return {"id": "deep", **doc}


def test_deeply_nested_documents_are_a_clear_error_through_the_api_and_driftql(
    db_path: Path,
) -> None:
    nested = '{"id": "deep", "d": ' + '{"a": ' * 10_000 + "1" + "}" * 10_000 + "}"
    with driftdb.open(db_path) as db:
        before = truth_digest(db_path)
        with pytest.raises(driftdb.InvalidInputError, match="nested deeper than 64 levels"):
            db.table("t").insert(deep(10_000))
        with pytest.raises(driftdb.InvalidInputError, match="nested deeper than"):
            db.execute("INSERT INTO t ?", [deep(10_000)])
        with pytest.raises(driftdb.QuerySyntaxError, match="nested too deeply"):
            db.execute("INSERT INTO t " + nested)
        assert truth_digest(db_path) == before
    ran = run_cli_here("sql", "-d", str(db_path), "-e", "INSERT INTO t " + nested)
    assert ran.clear_error() is None and "nested too deeply" in ran.err, ran.err[:300]
    record_figures("badinput", "deep-nesting", tried=4, handled=4)


def test_deeply_nested_jsonl_is_a_clear_error_naming_the_line(
    db_path: Path, tmp_path: Path
) -> None:
    source = tmp_path / "deep.jsonl"
    source.write_text('{"id": 1}\n{"id": 2, "d": ' + "[" * 10_000 + "]" * 10_000 + "}\n")
    ran = run_cli("ingest", "-d", str(db_path), "--table", "t", "--file", str(source))
    assert ran.clear_error() is None, ran
    assert ran.err.startswith("error: line 2: "), ran.err
    assert ids(db_path) == [1]


@pytest.mark.parametrize(
    "via",
    [
        "file",
        "stdin",
    ],
)
def test_invalid_utf8_in_a_dql_script_is_a_clear_error(
    db_path: Path, tmp_path: Path, via: str
) -> None:
    script = b'INSERT INTO t {"id": 1, "v": "caf\xe9"};\n'
    (tmp_path / "bad.dql").write_bytes(script)
    before = truth_digest(db_path)
    if via == "file":
        ran = run_cli("sql", "-d", str(db_path), "-f", str(tmp_path / "bad.dql"))
    else:
        ran = run_cli("sql", "-d", str(db_path), stdin=script)
    assert ran.clear_error() is None, ran
    assert truth_digest(db_path) == before


def test_strings_that_are_not_unicode_text_are_invalid_input_and_the_writer_goes_on(
    db_path: Path,
) -> None:
    with driftdb.open(db_path) as db:
        table = db.table("t")
        for call in (
            lambda: table.insert({"id": 7, "v": "\ud800"}),
            lambda: table.insert({"id": "\udcff"}),
            lambda: table.get("\ud800"),
            lambda: list(table.select(where={"v": "\ud800"})),
        ):
            with pytest.raises(driftdb.InvalidInputError):
                call()
        table.insert({"id": 8})


def test_invalid_utf8_in_a_command_line_statement_is_a_clear_error(db_path: Path) -> None:
    bad = b'INSERT INTO t {"id": "\xff"}'.decode("utf-8", "surrogateescape")
    before = truth_digest(db_path)
    ran = run_cli("sql", "-d", str(db_path), "-e", bad)
    assert ran.clear_error() is None, ran
    assert truth_digest(db_path) == before


BAD_NAMES = [
    "../evil",
    "a/b",
    "..",
    ".",
    "a\x00b",
    "a b",
    "",
    " ",
    "/abs",
    "x" * 65,
    "9x",
    "é",
    "a.b",
    "a\\b",
    "../../../../tmp/evil",
    "-rf",
]


def test_table_and_column_names_with_paths_are_refused_and_nothing_leaves_the_directory(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "inside" / "db"
    with driftdb.open(db_path, create=True) as db:
        db.create_table("t")
    outside = tree(tmp_path) - {p for p in tree(tmp_path) if p.startswith("inside/db/")}
    before = truth_digest(db_path)
    wrong = []
    tried = 0
    with driftdb.open(db_path) as db:
        for name in BAD_NAMES:
            for kwargs in (
                {"name": name},
                {"name": "ok", "primary_key": name},
                {"name": "ok", "indexes": [name]},
                {"name": "ok", "indexes": ["v", name]},
            ):
                if kwargs.get("name") == "ok" and COLUMN.match(name):
                    # a fine column name: any field name but the dot and control characters
                    # (`first-name`, `a/b`, `é`): it names an LMDB sub-database, never a file
                    continue
                tried += 1
                try:
                    db.create_table(**kwargs)  # type: ignore[arg-type]
                    wrong.append(f"accepted {kwargs!r}")
                except driftdb.InvalidInputError:
                    pass
                except Exception as exc:
                    wrong.append(f"{kwargs!r}: {type(exc).__name__}: {exc}")
        assert db.tables() == ["t"]
    for name in BAD_NAMES:
        if not name or "\x00" in name:
            continue  # (argv cannot hold NUL; an empty --table is a usage error below)
        for args in (
            ("select", "-d", str(db_path), "--table", name),
            ("snapshot", "-d", str(db_path), "--table", name),
            ("compact", "-d", str(db_path), "--table", name),
            ("drift", "-d", str(db_path), "--table", name, "--key", "1"),
            ("sql", "-d", str(db_path), "-e", f'SELECT * FROM "{name}"'),
            ("sql", "-d", str(db_path), "-e", f"CREATE TABLE {name} (pk=id)"),
        ):
            tried += 1
            ran = run_cli_here(*args)
            if ran.clear_error() is not None:
                wrong.append(f"{args[0]} {name!r}: {ran.clear_error()}: {ran.err[:150]!r}")
    assert truth_digest(db_path) == before
    now = tree(tmp_path)
    assert now - {p for p in now if p.startswith("inside/db/")} == outside
    assert sorted(p.name for p in (db_path / "tables").iterdir()) == ["t"]
    record_figures("badinput", "names", tried=tried, handled=tried - len(wrong))
    assert not wrong, "\n".join(wrong)
