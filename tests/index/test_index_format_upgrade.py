"""An index of format 7 (a value count per key enc(value) + u64(seq), no sorted duplicates)
is an index to rebuild: a reader answers from the log, the writer rebuilds it on open and its
`cnt:` sub-databases come back with sorted duplicates (LMDB keeps a sub-database's flags, so
they are dropped and created afresh; docs/format.md "meta")."""

from __future__ import annotations

import struct
from pathlib import Path

import lmdb
import msgpack

import driftdb
from driftdb.index import store
from driftdb.index.keycodec import encode_value, u64


def _make(path: Path) -> None:
    with driftdb.open(path, create=True) as db:
        t = db.create_table("t", indexes=["status"])
        for n in range(6):
            t.insert({"id": n, "status": "new"})
        t.patch(1, {"status": "paid"})
        t.patch(2, {"status": "paid"})
        t.soft_delete(3)


def _downgrade_to_format_7(path: Path) -> None:
    """Rewrite the index as format 7 left it: `cnt:status` a plain sub-database with one key
    per change, `covered` saying format 7, and a clean sync mark at the new transaction."""
    directory = str(path / "tables" / "t" / "indexes")
    env = lmdb.open(directory, max_dbs=store.MAX_DBS)
    try:
        with env.begin(write=True) as txn:
            cnt = env.open_db(b"cnt:status", txn=txn)
            old = [
                (bytes(k), store._read_count("cnt", bytes(k), bytes(v)))
                for k, v in txn.cursor(db=cnt)
            ]
            txn.drop(cnt, delete=True)
            plain = env.open_db(b"cnt:status", txn=txn, create=True)
            for value, (seq, count) in old:
                key = value + u64(seq)
                txn.put(key, store._seal(key, struct.pack(">Q", count)), db=plain)
            meta = env.open_db(b"meta", txn=txn)
            raw = txn.get(b"covered", db=meta)
            assert raw is not None
            covered = msgpack.unpackb(raw[:-4])
            covered["format"] = 7
            packed = msgpack.packb(covered)
            txn.put(b"covered", store._seal(b"covered", packed), db=meta)
        env.sync(True)
        txn_id = int(env.info()["last_txnid"])
    finally:
        env.close()
    store._write_mark(directory, store.SyncMark(txn_id, True, store.boot_id()))


def _counts(db: driftdb.Database) -> list[tuple[int, int]]:
    t = db.table("t")
    return [
        (t.count(where={"status": "new"}, as_of=s), t.count(where={"status": "paid"}, as_of=s))
        for s in range(0, 10)
    ]


WANT = [(0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (6, 0), (5, 1), (4, 2), (3, 2)]


def test_a_format_7_index_is_read_around_by_a_reader_and_rebuilt_by_the_writer(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db"
    _make(path)
    _downgrade_to_format_7(path)
    indexes = path / "tables" / "t" / "indexes"
    assert not _cnt_is_dupsort(indexes)
    with driftdb.open(path, readonly=True) as db:
        assert _counts(db) == WANT  # from the log: the index is in another format
    assert not _cnt_is_dupsort(indexes)
    with driftdb.open(path) as db:
        assert _counts(db) == WANT
        t = db.table("t")
        assert t.index is not None
        with t.index.read() as reader:
            assert reader.covered() is not None  # rebuilt in format 8
        t.patch(4, {"status": "paid"})
        assert t.count(where={"status": "paid"}) == 3
    assert _cnt_is_dupsort(indexes)
    with driftdb.open(path, readonly=True) as db:
        assert _counts(db) == WANT
        assert db.table("t").count(where={"status": "paid"}) == 3


def _cnt_is_dupsort(indexes: Path) -> bool:
    env = lmdb.open(str(indexes), readonly=True, lock=False, max_dbs=store.MAX_DBS)
    try:
        return bool(env.open_db(b"cnt:status", create=False).flags()["dupsort"])
    finally:
        env.close()


def test_a_reader_open_across_the_writers_rebuild_of_a_format_7_index_answers_exactly(
    tmp_path: Path,
) -> None:
    """The reader opened `cnt:status` while it had no sorted duplicates; the writer then
    drops it and creates it afresh (other flags): the reader's handle must not be used."""
    path = tmp_path / "db"
    _make(path)
    _downgrade_to_format_7(path)
    with driftdb.open(path, readonly=True) as reader:
        assert _counts(reader) == WANT
        with driftdb.open(path) as writer:
            assert _counts(writer) == WANT
            writer.table("t").patch(4, {"status": "paid"})
            writer.table("t").count()  # the index takes the patch
            index = reader.table("t").index
            assert index is not None
            with index.read() as direct:  # the counts of the old handle are not used
                assert direct.count_with_value("status", "paid", 9) in (None, 2)
                listed = [(encode_value("new"), 3), (encode_value("paid"), 2)]
                assert direct.value_counts("status", 9) in (None, listed)
            assert _counts(reader) == WANT
            assert reader.table("t").count(where={"status": "paid"}) == 3
            got = reader.execute("SELECT status, COUNT(*) AS n FROM t GROUP BY status").rows
            assert sorted(got, key=str) == [{"n": 2, "status": "new"}, {"n": 3, "status": "paid"}]
