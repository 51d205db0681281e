"""Every index entry that carries data is checksummed (CRC-32 over key and value) and checked
on read: a changed byte in data.mdb is a CorruptionError naming the table and the key, never an
answer; the writer then rebuilds the index from the log, and a reader answers from the log."""

from __future__ import annotations

from pathlib import Path

import pytest

import driftdb

ROW = {"id": 1, "note": "balance-0000100", "city": "Lyon"}


def _replace_in_index(db_path: Path, old: bytes, new: bytes) -> int:
    data = db_path / "tables" / "t" / "indexes" / "data.mdb"
    raw = data.read_bytes()
    data.write_bytes(raw.replace(old, new))
    return raw.count(old)


def _make(path: Path) -> None:
    with driftdb.open(path, create=True) as db:
        table = db.create_table("t", indexes=["city"])
        table.insert(ROW)
        table.insert({"id": 2, "note": "other", "city": "Oslo"})


def test_a_changed_byte_in_a_row_image_is_a_corruption_error_naming_table_and_key(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db"
    _make(path)
    assert _replace_in_index(path, b"balance-0000100", b"balance-9000100") > 0
    with driftdb.open(path) as db, pytest.raises(driftdb.CorruptionError) as caught:
        db.table("t").get(1)
    message = str(caught.value)
    assert 'table "t"' in message and "key 1" in message and "indexes" in message, message


def test_an_undecodable_row_image_is_a_corruption_error_not_a_unicode_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db"
    _make(path)
    assert _replace_in_index(path, b"balance-0000100", b"\xffalance-0000100") > 0
    with driftdb.open(path) as db, pytest.raises(driftdb.CorruptionError):
        db.table("t").get(1)


def test_the_writer_rebuilds_the_index_from_the_log_after_meeting_a_damaged_entry(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db"
    _make(path)
    _replace_in_index(path, b"balance-0000100", b"balance-9000100")
    with driftdb.open(path) as db:
        table = db.table("t")
        with pytest.raises(driftdb.CorruptionError):
            table.get(1)
        with pytest.warns(driftdb.DriftWarning, match="rebuilt"):
            assert table.get(1) == ROW
        assert list(table.select(where={"city": "Lyon"})) == [ROW]
        table.patch(1, {"city": "Nice"})
    with driftdb.open(path, readonly=True) as db:
        assert db.table("t").get(1) == {**ROW, "city": "Nice"}


def test_a_reader_answers_from_the_log_after_meeting_a_damaged_entry(tmp_path: Path) -> None:
    path = tmp_path / "db"
    _make(path)
    _replace_in_index(path, b"balance-0000100", b"balance-9000100")
    with driftdb.open(path, readonly=True) as db:
        table = db.table("t")
        with pytest.raises(driftdb.CorruptionError):
            table.get(1)
        assert table.get(1) == ROW
        assert table.count(where={"city": "Lyon"}) == 1


def test_a_changed_byte_in_a_secondary_index_key_is_never_answered(tmp_path: Path) -> None:
    path = tmp_path / "db"
    _make(path)
    # "Oslo" appears in row images and in the temporal index and value-count keys.
    assert _replace_in_index(path, b"Oslo", b"Osla") > 0
    with driftdb.open(path) as db:
        table = db.table("t")
        for read in (
            lambda: list(table.select(where={"city": "Osla"})),
            lambda: table.count(where={"city": "Osla"}),
            lambda: list(table.select(where={"city": "Oslo"})),
        ):
            try:
                answer = read()
            except driftdb.CorruptionError:
                continue
            assert answer in ([], 0, [{"id": 2, "note": "other", "city": "Oslo"}]), answer


def test_a_damaged_row_image_met_through_the_value_index_names_its_key(tmp_path: Path) -> None:
    """`col = v` reads runs of the temporal index and then the key directory, a chunk at a
    time with one checksum run per chunk: the damaged image is still named."""
    for as_of in (None, 2):  # now (open runs in key order), and AS OF a seq
        path = tmp_path / f"db{as_of}"
        _make(path)
        assert _replace_in_index(path, b"balance-0000100", b"balance-9000100") > 0
        with driftdb.open(path, readonly=True) as db:
            table = db.table("t")
            with pytest.raises(driftdb.CorruptionError, match=r'table "t".*key 1'):
                list(table.select(where={"city": "Lyon"}, as_of=as_of))


def test_a_damaged_run_of_the_value_index_is_named(tmp_path: Path) -> None:
    """A changed valid-from (the value of a temporal index entry) fails its checksum."""
    import lmdb

    from driftdb.index.keycodec import encode_value

    path = tmp_path / "db"
    _make(path)
    indexes = path / "tables" / "t" / "indexes"
    env = lmdb.open(str(indexes), readonly=True, lock=False, max_dbs=16)
    try:
        with env.begin() as txn:
            cursor = txn.cursor(db=env.open_db(b"ix:city", txn=txn, create=False))
            assert cursor.set_range(encode_value("Lyon"))
            key, stored = bytes(cursor.key()), bytes(cursor.value())
    finally:
        env.close()
    damaged = bytes([stored[0] ^ 0x01]) + stored[1:]
    assert _replace_in_index(path, key + stored, key + damaged) == 1
    with (
        driftdb.open(path, readonly=True) as db,
        pytest.raises(driftdb.CorruptionError, match=r"index on city, key 1"),
    ):
        list(db.table("t").select(where={"city": "Lyon"}))


def test_a_changed_byte_in_a_value_count_is_a_corruption_error_naming_table_and_value(
    tmp_path: Path,
) -> None:
    """A count entry is a 14-byte duplicate under its value (seq, count, CRC-32 over the
    value and both): a changed count is never answered."""
    import struct
    import zlib

    from driftdb.index.keycodec import encode_value

    path = tmp_path / "db"
    _make(path)  # "Oslo" became live at seq 2: count 1
    body = struct.pack(">HII", 0, 2, 1)
    entry = body + struct.pack("<I", zlib.crc32(body, zlib.crc32(encode_value("Oslo"))))
    damaged = struct.pack(">HII", 0, 2, 7) + entry[-4:]
    assert _replace_in_index(path, entry, damaged) == 1
    reads = [
        lambda db: db.table("t").count(where={"city": "Oslo"}),
        lambda db: db.execute("SELECT city, COUNT(*) FROM t GROUP BY city").rows,
    ]
    for read in reads:
        with driftdb.open(path, readonly=True) as db:
            with pytest.raises(driftdb.CorruptionError) as caught:
                read(db)
            message = str(caught.value)
            assert 'table "t"' in message and "value counts of city, value 'Oslo'" in message
            assert db.table("t").count(where={"city": "Oslo"}) == 1  # then from the log
    with driftdb.open(path) as db, pytest.raises(driftdb.CorruptionError):
        db.table("t").count(where={"city": "Oslo"})
