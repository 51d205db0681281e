"""The index's size on disk: `close` rewrites data.mdb packed (index/pack.py) when it has
grown by half since it was last packed, and the packed file holds exactly the entries of the
one it replaces, in full pages, trusted on the next open without a rebuild."""

from __future__ import annotations

import os
import random
import shutil
import warnings
from pathlib import Path
from typing import Any

import lmdb
import pytest

import driftdb
from driftdb.index import store
from driftdb.model.replay import state_at
from driftdb.storage.tail import read_tail


def _entries(index_dir: Path, scratch: Path) -> dict[bytes, list[tuple[bytes, bytes]]]:
    """Every entry of every sub-database, read from a copy of data.mdb (an environment is
    opened once per process, and the writer holds this one)."""
    scratch.mkdir()
    shutil.copyfile(index_dir / "data.mdb", scratch / "data.mdb")
    env = lmdb.open(str(scratch), readonly=True, lock=False, max_dbs=store.MAX_DBS)
    try:
        out: dict[bytes, list[tuple[bytes, bytes]]] = {}
        with env.begin() as txn:
            names = [bytes(k) for k, _ in txn.cursor()]
            for name in names:
                db = env.open_db(name, txn=txn, create=False)
                out[name] = [(bytes(k), bytes(v)) for k, v in txn.cursor(db=db)]
        return out
    finally:
        env.close()


def _pages(index_dir: Path) -> int:
    return os.path.getsize(index_dir / "data.mdb") // 4096


def _write_random(db: Any, rng: random.Random, batches: int) -> None:
    """Batches of inserts of new keys, then patches of random keys (random-order puts)."""
    t = db.table("t")
    start = t.count()
    for batch in range(batches):
        first = start + batch * 100
        t.insert_many(
            [{"id": k, "v": "a", "n": 0, "s": "x" * 40} for k in range(first, first + 100)]
        )
        with db.batch():
            for k in rng.sample(range(first + 100), 100):
                t.patch(k, {"v": rng.choice("abcdef"), "n": rng.random()})


@pytest.fixture
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "PACK_MIN_PAGES", 1)


def test_close_packs_the_index_keeping_every_entry(tmp_path: Path, small_threshold: None) -> None:
    rng = random.Random(7)
    path = tmp_path / "db"
    index_dir = path / "tables" / "t" / "indexes"
    db = driftdb.open(str(path), create=True)
    db.create_table("t", primary_key="id", indexes=["v"])
    _write_random(db, rng, 30)
    before = _entries(index_dir, tmp_path / "before")
    pages_before = _pages(index_dir)
    db.close()
    after = _entries(index_dir, tmp_path / "after")
    packed = after.pop(b"meta")
    unpacked = before.pop(b"meta")
    assert after == before
    assert [e for e in packed if e[0] != b"packed"] == unpacked
    assert _pages(index_dir) * 10 < pages_before * 8  # random-order writes leave slack


def test_packed_index_is_trusted_and_answers_like_the_log(
    tmp_path: Path, small_threshold: None
) -> None:
    rng = random.Random(11)
    path = tmp_path / "db"
    with driftdb.open(str(path), create=True) as db:
        db.create_table("t", primary_key="id", indexes=["v"])
        _write_random(db, rng, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a distrusted index is rebuilt with a DriftWarning
        db = driftdb.open(str(path))
    with db:
        _write_random(db, rng, 5)
    events = [
        item.event for item in read_tail(str(path / "tables" / "t" / "segments"), None).located
    ]
    with driftdb.open(str(path), readonly=True) as db:
        t = db.table("t")
        for seq in range(0, events[-1].seq + 1, 97):
            state = state_at(events, seq, "id")
            assert {r["id"]: r for r in t.select(as_of=seq)} == state
            want = sorted(k for k, r in state.items() if r.get("v") == "a")
            assert sorted(r["id"] for r in t.select(where={"v": "a"}, as_of=seq)) == want
            assert t.count(where={"v": "a"}, as_of=seq) == len(want)


def test_close_does_not_repack_an_index_that_has_not_grown(
    tmp_path: Path, small_threshold: None
) -> None:
    rng = random.Random(3)
    path = tmp_path / "db"
    data = path / "tables" / "t" / "indexes" / "data.mdb"
    with driftdb.open(str(path), create=True) as db:
        db.create_table("t", primary_key="id", indexes=["v"])
        _write_random(db, rng, 10)
    packed = os.stat(data).st_ino
    with driftdb.open(str(path)) as db:
        db.table("t").patch(1, {"v": "z"})
    assert os.stat(data).st_ino == packed  # one small write: not rewritten
    with driftdb.open(str(path)) as db:
        _write_random(db, rng, 20)
    assert os.stat(data).st_ino != packed  # grown by half since: packed again
