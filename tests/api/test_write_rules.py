"""The write rules and each error they raise: whole messages, and a check after every failed
write that nothing changed (head and every segment byte)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

import driftdb
from helpers.bytes_edit import log_bytes
from helpers.checks import nothing_changes


@pytest.fixture
def table(db: driftdb.Database) -> driftdb.Table:
    t = db.create_table("t", indexes=["status"])
    t.insert({"id": 1, "status": "new", "tags": ["a"]})
    t.insert({"id": "k", "status": "new"})
    return t


# -- the rules ---------------------------------------------------------------------------------


def test_insert_of_a_live_key_is_a_duplicate_key_error(
    db: driftdb.Database, table: driftdb.Table
) -> None:
    with nothing_changes(db), pytest.raises(driftdb.DuplicateKeyError) as info:
        table.insert({"id": 1, "status": "other"})
    assert str(info.value) == (
        'table "t" already has a live row with key 1; use PATCH to change it'
    )
    with nothing_changes(db), pytest.raises(driftdb.DuplicateKeyError) as info:
        table.insert({"id": "k"})
    assert str(info.value) == (
        "table \"t\" already has a live row with key 'k'; use PATCH to change it"
    )
    assert isinstance(info.value, driftdb.InvalidInputError)
    assert table.get(1) == {"id": 1, "status": "new", "tags": ["a"]}


def test_insert_after_soft_delete_recreates_the_row_with_its_history_kept(
    table: driftdb.Table,
) -> None:
    deleted = table.soft_delete(1)
    assert table.get(1) is None
    recreated = table.insert({"id": 1, "status": "again"})
    assert table.get(1) == {"id": 1, "status": "again"}
    assert table.get(1, as_of=deleted) is None
    assert table.get(1, as_of=deleted - 1) == {"id": 1, "status": "new", "tags": ["a"]}
    assert [(e.seq, e.type.name, e.row) for e in table.history(1)] == [
        (1, "INSERT", {"id": 1, "status": "new", "tags": ["a"]}),
        (deleted, "SOFT_DELETE", None),
        (recreated, "INSERT", {"id": 1, "status": "again"}),
    ]


@pytest.mark.parametrize("key", [2, "2", "K"])
def test_patch_and_soft_delete_of_a_missing_key_are_key_not_found(
    db: driftdb.Database, table: driftdb.Table, key: object
) -> None:
    with nothing_changes(db), pytest.raises(driftdb.KeyNotFoundError) as info:
        table.patch(key, {"status": "x"})  # type: ignore[arg-type]
    assert str(info.value) == (
        f'PATCH: table "t" has no live row with key {key!r} (never inserted, or soft-deleted)'
    )
    with nothing_changes(db), pytest.raises(driftdb.KeyNotFoundError) as info:
        table.soft_delete(key)  # type: ignore[arg-type]
    assert str(info.value) == (
        f'SOFT DELETE: table "t" has no live row with key {key!r} (never inserted, or soft-deleted)'
    )
    assert isinstance(info.value, driftdb.NotFoundError)


def test_patch_and_soft_delete_of_a_deleted_key_are_key_not_found(
    db: driftdb.Database, table: driftdb.Table
) -> None:
    table.soft_delete(1)
    with nothing_changes(db), pytest.raises(driftdb.KeyNotFoundError) as info:
        table.patch(1, {"status": "x"})
    assert str(info.value) == (
        'PATCH: table "t" has no live row with key 1 (never inserted, or soft-deleted)'
    )
    with nothing_changes(db), pytest.raises(driftdb.KeyNotFoundError) as info:
        table.soft_delete(1)
    assert str(info.value) == (
        'SOFT DELETE: table "t" has no live row with key 1 (never inserted, or soft-deleted)'
    )


@pytest.mark.parametrize("new_pk", [2, "1", None, 1.5, [1]])
def test_patch_cannot_change_or_remove_the_primary_key(
    db: driftdb.Database, table: driftdb.Table, new_pk: object
) -> None:
    with nothing_changes(db), pytest.raises(driftdb.InvalidInputError) as info:
        table.patch(1, {"id": new_pk, "status": "x"})
    assert str(info.value) == (
        'PATCH t KEY 1: a patch cannot change or remove the primary key "id"'
    )
    assert table.get(1) == {"id": 1, "status": "new", "tags": ["a"]}


def test_patch_that_sets_the_primary_key_to_its_own_value_is_fine(table: driftdb.Table) -> None:
    table.patch(1, {"id": 1, "status": "paid"})
    table.patch("k", {"id": "k", "status": "paid"})
    assert table.get(1) == {"id": 1, "status": "paid", "tags": ["a"]}
    assert table.get("k") == {"id": "k", "status": "paid"}


def test_integer_and_string_keys_are_different_keys(table: driftdb.Table) -> None:
    table.insert({"id": "1", "status": "string one"})
    assert table.get(1) == {"id": 1, "status": "new", "tags": ["a"]}
    assert table.get("1") == {"id": "1", "status": "string one"}
    table.soft_delete("1")
    assert table.get(1) is not None
    assert table.get("1") is None
    assert [e.type.name for e in table.history(1)] == ["INSERT"]
    assert [e.type.name for e in table.history("1")] == ["INSERT", "SOFT_DELETE"]
    assert table.count() == 2


def test_audit_meta_is_stored_and_shown_in_history(
    db: driftdb.Database, db_path: Path, table: driftdb.Table
) -> None:
    table.patch(1, {"status": "paid"}, meta={"user": "ann", "reason": "card"})
    table.soft_delete(1, meta={"user": "bob"})
    table.insert({"id": 1}, meta={"user": "cy", "ticket": 42})
    db.close()
    with driftdb.open(db_path) as again:
        history = again.table("t").history(1)
    assert [(e.type.name, e.meta) for e in history] == [
        ("INSERT", None),
        ("PATCH", {"user": "ann", "reason": "card"}),
        ("SOFT_DELETE", {"user": "bob"}),
        ("INSERT", {"user": "cy", "ticket": 42}),
    ]
    assert history[1].data == {"status": "paid"}


def test_nested_merge_patch_with_nulls_on_a_row(table: driftdb.Table) -> None:
    table.insert({"id": 5, "a": {"b": 1, "c": {"d": 2, "e": 3}}, "f": [1, 2]})
    table.patch(5, {"a": {"b": None, "c": {"d": 20, "x": None}}, "f": None, "g": {"h": None}})
    assert table.get(5) == {"id": 5, "a": {"c": {"d": 20, "e": 3}}, "g": {}}


# -- bad documents and keys --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"status": "x"}, 'INSERT INTO t: document has no primary key field "id"'),
        (
            {"id": 1.5},
            "INSERT INTO t: primary key must be a string or an integer, got number 1.5",
        ),
        (
            {"id": 2.0},
            "INSERT INTO t: primary key must be a string or an integer, got number 2.0",
        ),
        (
            {"id": True},
            "INSERT INTO t: primary key must be a string or an integer, got boolean true",
        ),
        ({"id": [1]}, "INSERT INTO t: primary key must be a string or an integer, got array [1]"),
        (
            {"id": None},
            "INSERT INTO t: primary key must be a string or an integer, got null",
        ),
        (
            {"id": {"a": 1}},
            'INSERT INTO t: primary key must be a string or an integer, got object {"a": 1}',
        ),
        ({"id": ""}, "INSERT INTO t: primary key must not be an empty string"),
        ({"id": 2**63}, f"INSERT INTO t: integer primary key {2**63} is outside 64 bits"),
        ([{"id": 1}], "INSERT INTO t: expected a JSON object, got an array"),
        (None, "INSERT INTO t: expected a JSON object, got null"),
        ('{"id": 3}', "INSERT INTO t: expected a JSON object, got string"),
        (42, "INSERT INTO t: expected a JSON object, got number"),
        ({"id": 3, "x": math.nan}, "INSERT INTO t: nan at /x is not a JSON number"),
        ({"id": 3, "x": [1, math.inf]}, "INSERT INTO t: inf at /x/1 is not a JSON number"),
        ({"id": 3, 7: "x"}, "INSERT INTO t: object key 7 at / is not a string"),
        ({"id": 3, "a": {("t",): 1}}, "INSERT INTO t: object key ('t',) at /a is not a string"),
        ({"id": 3, "x": {1, 2}}, "INSERT INTO t: value at /x has type set, which is not JSON"),
        ({"id": 3, "x": b"raw"}, "INSERT INTO t: value at /x has type bytes, which is not JSON"),
        ({"id": 3, "x": 2**64}, "INSERT INTO t: integer at /x does not fit in 64 bits"),
    ],
)
def test_bad_document_is_invalid_input_and_writes_nothing(
    db: driftdb.Database, table: driftdb.Table, doc: object, message: str
) -> None:
    with nothing_changes(db), pytest.raises(driftdb.InvalidInputError) as info:
        table.insert(doc)  # type: ignore[arg-type]
    assert str(info.value) == message
    assert type(info.value) is driftdb.InvalidInputError


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ([1], "PATCH t KEY 1: expected a JSON object, got an array"),
        (None, "PATCH t KEY 1: expected a JSON object, got null"),
        ({"x": math.nan}, "PATCH t KEY 1: nan at /x is not a JSON number"),
        ({"x": {2: 1}}, "PATCH t KEY 1: object key 2 at /x is not a string"),
    ],
)
def test_bad_patch_is_invalid_input_and_writes_nothing(
    db: driftdb.Database, table: driftdb.Table, changes: object, message: str
) -> None:
    with nothing_changes(db), pytest.raises(driftdb.InvalidInputError) as info:
        table.patch(1, changes)  # type: ignore[arg-type]
    assert str(info.value) == message


@pytest.mark.parametrize("key", [1.0, True, None, [1], ""])
def test_bad_key_for_patch_soft_delete_and_get_is_invalid_input(
    db: driftdb.Database, table: driftdb.Table, key: object
) -> None:
    for call in (
        lambda: table.patch(key, {"x": 1}),  # type: ignore[arg-type]
        lambda: table.soft_delete(key),  # type: ignore[arg-type]
        lambda: table.get(key),  # type: ignore[arg-type]
        lambda: table.history(key),  # type: ignore[arg-type]
    ):
        with nothing_changes(db), pytest.raises(driftdb.InvalidInputError):
            call()


# -- batches -------------------------------------------------------------------------------------


def test_insert_many_with_a_duplicate_writes_none_of_its_rows(
    db: driftdb.Database, table: driftdb.Table
) -> None:
    with nothing_changes(db), pytest.raises(driftdb.DuplicateKeyError) as info:
        table.insert_many([{"id": 10}, {"id": 11}, {"id": 10}])
    assert str(info.value) == (
        'table "t" already has a live row with key 10; use PATCH to change it'
    )
    with nothing_changes(db), pytest.raises(driftdb.InvalidInputError):
        table.insert_many([{"id": 12}, {"id": 13.5}])
    assert table.get(10) is None
    assert table.get(12) is None


def test_exception_inside_a_batch_writes_nothing(
    db: driftdb.Database, table: driftdb.Table
) -> None:
    other = db.create_table("other")
    with (
        nothing_changes(db),
        pytest.raises(RuntimeError, match=r"^changed my mind$"),
        db.batch(),
    ):
        table.insert({"id": 20})
        table.patch(1, {"status": "batched"})
        other.insert({"id": 1})
        raise RuntimeError("changed my mind")
    assert table.get(20) is None
    assert table.get(1) == {"id": 1, "status": "new", "tags": ["a"]}
    assert other.count() == 0


def test_batch_sees_its_own_pending_writes_and_commits_them_in_order(
    db: driftdb.Database, table: driftdb.Table
) -> None:
    head = db.head()
    with db.batch():
        assert table.insert({"id": 30, "n": 1}) == head + 1
        assert table.patch(30, {"n": 2}) == head + 2
        with pytest.raises(driftdb.DuplicateKeyError):
            table.insert({"id": 30})  # the statement fails; the batch goes on
        assert table.soft_delete(30) == head + 3
        assert table.insert({"id": 30, "n": 3}) == head + 4
        # Reads through the writer see the batch (tests/api/test_transactions.py): the
        # pending row, not yet committed (the head has not moved).
        assert table.get(30) == {"id": 30, "n": 3}
        assert db.head() == head
    assert db.head() == head + 4
    assert [(e.seq, e.row) for e in table.history(30)] == [
        (head + 1, {"id": 30, "n": 1}),
        (head + 2, {"id": 30, "n": 2}),
        (head + 3, None),
        (head + 4, {"id": 30, "n": 3}),
    ]


def test_failed_insert_many_inside_a_batch_writes_none_of_its_rows(
    db: driftdb.Database, table: driftdb.Table
) -> None:
    with db.batch():
        with pytest.raises(driftdb.DuplicateKeyError):
            table.insert_many([{"id": 40}, {"id": 1}])
        table.insert({"id": 41})
    assert table.get(41) == {"id": 41}
    assert table.get(40) is None


def test_meta_that_is_not_json_is_invalid_input(db: driftdb.Database, table: driftdb.Table) -> None:
    with nothing_changes(db), pytest.raises(driftdb.InvalidInputError):
        table.insert({"id": 50}, meta={"who": object()})


def test_failed_cross_table_batch_leaves_no_frames_behind(
    db: driftdb.Database, db_path: Path, table: driftdb.Table
) -> None:
    other = db.create_table("other")
    other.insert({"id": 0})
    before = log_bytes(db_path)
    with pytest.raises((driftdb.InvalidInputError, TypeError)), db.batch():
        table.insert({"id": 60})
        other.insert({"id": 60}, meta={"who": object()})
    assert log_bytes(db_path) == before
    table.insert({"id": 61})
    db.close()
    for name in ("t", "other"):
        shutil.rmtree(db_path / "tables" / name / "indexes")
    with driftdb.open(db_path) as again:  # the indexes rebuild from the log
        assert again.table("t").get(60) is None
        assert again.table("t").get(61) == {"id": 61}


def test_document_over_the_frame_bound_is_invalid_input_and_the_writer_goes_on(
    db: driftdb.Database, table: driftdb.Table
) -> None:
    with nothing_changes(db), pytest.raises(driftdb.InvalidInputError):
        table.insert({"id": 70, "blob": "x" * (64 * 1024 * 1024)})
    table.insert({"id": 71})
