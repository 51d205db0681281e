"""Opening a database and creating tables: each error with its whole message."""

from __future__ import annotations

from pathlib import Path

import pytest

import driftdb
from helpers.bytes_edit import tree_digest


def test_opening_a_missing_database_says_how_to_create_one(tmp_path: Path) -> None:
    path = tmp_path / "nope"
    for readonly in (False, True):
        with pytest.raises(driftdb.NotFoundError) as info:
            driftdb.open(path, readonly=readonly)
        assert str(info.value) == (
            f'no DriftDB database at {path}; create one with "driftdb init {path}" or '
            "driftdb.open(path, create=True)"
        )
    assert not path.exists()


def test_create_refuses_a_non_empty_directory_and_a_file(tmp_path: Path) -> None:
    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.txt").write_text("mine")
    with pytest.raises(driftdb.InvalidInputError) as info:
        driftdb.open(full, create=True)
    assert str(info.value) == (
        f"{full} is not empty and is not a DriftDB database; choose an empty or new directory"
    )
    assert sorted(p.name for p in full.iterdir()) == ["notes.txt"]
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    with pytest.raises(driftdb.InvalidInputError) as info:
        driftdb.open(a_file, create=True)
    assert str(info.value) == f"{a_file} exists and is not a directory"


def test_create_with_an_existing_database_opens_it(db_path: Path) -> None:
    with driftdb.open(db_path, create=True) as db:
        db.create_table("t").insert({"id": 1})
    with driftdb.open(db_path, create=True) as db:
        assert db.table("t").get(1) == {"id": 1}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda db: db.create_table("orders"), 'table "orders" already exists'),
        (
            lambda db: db.create_table("1bad"),
            "invalid table name '1bad': use letters, digits and _ (not starting with a digit), "
            "at most 64 characters",
        ),
        (
            lambda db: db.create_table("../x"),
            "invalid table name '../x': use letters, digits and _ (not starting with a digit), "
            "at most 64 characters",
        ),
        (
            lambda db: db.create_table("x", options={"nope": 1}),
            "unknown table option 'nope' (known: segment_size_bytes, snapshot_every_events, "
            "snapshot_every_bytes, snapshots_keep)",
        ),
        (
            lambda db: db.create_table("x", options={"segment_size_bytes": 0}),
            "table option 'segment_size_bytes' must be an integer from 1 to 4294967296, got 0",
        ),
        (
            lambda db: db.create_table("x", primary_key="a.b"),
            "primary key 'a.b' must be a top-level field",
        ),
        (
            lambda db: db.create_table("x", indexes=["a", "a"]),
            "index column 'a' is listed twice",
        ),
    ],
    ids=[
        "exists",
        "leading-digit",
        "path",
        "unknown-option",
        "zero-option",
        "dotted-pk",
        "index-twice",
    ],
)
def test_bad_create_table_is_invalid_input_and_creates_nothing(
    db: driftdb.Database, db_path: Path, call: object, message: str
) -> None:
    db.create_table("orders").insert({"id": 1})
    before = tree_digest(db_path)
    with pytest.raises(driftdb.InvalidInputError) as info:
        call(db)  # type: ignore[operator]
    assert str(info.value) == message
    assert db.tables() == ["orders"]
    assert tree_digest(db_path) == before


def test_unknown_table_is_named_with_a_suggestion(db: driftdb.Database) -> None:
    db.create_table("orders")
    db.create_table("users")
    with pytest.raises(driftdb.TableNotFoundError) as info:
        db.table("order")
    assert str(info.value) == 'no table "order" (did you mean "orders"?); tables: orders, users'
    with pytest.raises(driftdb.TableNotFoundError) as info:
        db.table("zzz")
    assert str(info.value) == 'no table "zzz"; tables: orders, users'


def test_writes_through_a_readonly_database_are_refused(db_path: Path) -> None:
    with driftdb.open(db_path, create=True) as db:
        db.create_table("t").insert({"id": 1})
    before = tree_digest(db_path)
    with driftdb.open(db_path, readonly=True) as reader:
        table = reader.table("t")
        for write in (
            lambda: table.insert({"id": 2}),
            lambda: table.patch(1, {"x": 1}),
            lambda: table.soft_delete(1),
            lambda: reader.create_table("u"),
        ):
            with pytest.raises(driftdb.ReadOnlyError) as info:
                write()
            assert str(info.value) == (
                "the database is open read-only; open it without readonly to write"
            )
    assert tree_digest(db_path) == before


def test_writes_after_close_are_refused(db_path: Path) -> None:
    db = driftdb.open(db_path, create=True)
    table = db.create_table("t")
    table.insert({"id": 1})
    db.close()
    db.close()  # closing twice is harmless
    with pytest.raises(driftdb.DriftError) as info:
        table.insert({"id": 2})
    assert str(info.value) == "the database is closed"


def test_reads_after_close_are_refused(db_path: Path) -> None:
    db = driftdb.open(db_path, create=True)
    table = db.create_table("t")
    table.insert({"id": 1})
    db.close()
    with pytest.raises(driftdb.DriftError, match=r"^the database is closed$"):
        table.get(1)


def test_tables_survive_a_reopen_with_their_schema(db_path: Path) -> None:
    with driftdb.open(db_path, create=True) as db:
        db.create_table("b", primary_key="code", indexes=["x.y", "z"])
        db.create_table("a", options={"segment_size_bytes": 1000})
    with driftdb.open(db_path) as db:
        assert db.tables() == ["a", "b"]
        b = db.table("b")
        assert (b.primary_key, b.schema.indexes) == ("code", ("x.y", "z"))
        assert db.table("a").schema.option("segment_size_bytes") == 1000
        b.insert({"code": "c1", "x": {"y": 1}})
        assert [r["code"] for r in b.select(where={"x.y": 1})] == ["c1"]
        with pytest.raises(driftdb.InvalidInputError) as info:
            b.insert({"id": 1})
        assert str(info.value) == 'INSERT INTO b: document has no primary key field "code"'
