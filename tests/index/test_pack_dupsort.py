"""A packed copy (index/pack.py) keeps every sub-database's flags and every entry, the
duplicates of a sorted-duplicate one (`cnt:`) included."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import lmdb

from driftdb.index.pack import copy_packed


def _entries(env: Any, name: bytes) -> list[tuple[bytes, bytes]]:
    db = env.open_db(name, create=False)
    with env.begin(buffers=False) as txn:
        return [(bytes(k), bytes(v)) for k, v in txn.cursor(db=db)]


def test_a_packed_copy_keeps_sorted_duplicates_and_plain_entries(tmp_path: Path) -> None:
    rng = random.Random(7)
    source = lmdb.open(str(tmp_path / "src"), max_dbs=8, map_size=64 << 20)
    plain = source.open_db(b"plain")
    dups = source.open_db(b"cnt:x", dupsort=True, dupfixed=True)
    pairs = [(f"v{rng.randrange(300):03d}".encode(), rng.randbytes(14)) for _ in range(20_000)]
    with source.begin(write=True) as txn:
        for key, value in pairs:  # random order: half-full pages in the source
            txn.put(key, value, db=dups)
            txn.put(key + value[:4], value, db=plain)
    want_dups, want_plain = _entries(source, b"cnt:x"), _entries(source, b"plain")
    assert len(want_dups) == len(set(pairs))
    (tmp_path / "dst").mkdir()
    pages = copy_packed(source, str(tmp_path / "dst"), 8, lambda n: {b"meta": [(b"p", b"1")]})
    source.close()
    copy = lmdb.open(str(tmp_path / "dst"), readonly=True, lock=False, max_dbs=8)
    try:
        assert copy.open_db(b"cnt:x", create=False).flags()["dupfixed"]
        assert not copy.open_db(b"plain", create=False).flags()["dupsort"]
        assert _entries(copy, b"cnt:x") == want_dups
        assert _entries(copy, b"plain") == want_plain
        assert _entries(copy, b"meta") == [(b"p", b"1")]
        assert pages <= copy.info()["last_pgno"] + 1
    finally:
        copy.close()
