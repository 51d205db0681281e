"""A packed copy of an index environment: every sub-database rewritten in key order.

Why not LMDB's own compacting copy (`env.copy(compact=True)`): that copy drops the free
pages but keeps each page as it is, and pages built by inserts in the middle of a B+tree are
half to two thirds full (LMDB splits a full page in the middle, and the temporal indexes
grow at the end of each value's range, so the left halves are never filled again). Putting
the entries of each sub-database into an empty one in key order with MDB_APPEND fills every
page: the copy is the live entries and little else (docs/format.md, "Packing").

The copy writes the stored values byte for byte (their checksums cover key and value, so
they stay valid), and each sub-database keeps its flags: in a sorted-duplicate one (`cnt:`,
dupsort and dupfixed) the duplicates come in order too and are appended under their key
(MDB_APPENDDUP, which fills the pages of the duplicates as MDB_APPEND fills the others).
Nothing freed or overwritten in the source reaches the copy: PURGE's erasure holds for a
packed copy as for a compacted one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lmdb


def copy_packed(
    source: Any,
    destination: str,
    max_dbs: int,
    extra: Callable[[int], dict[bytes, list[tuple[bytes, bytes]]]],
) -> int:
    """Copy every sub-database of `source` into a new environment in `destination` (an
    empty directory), then put `extra(pages)` (sub-database name -> stored entries; `pages`:
    the copy's size) in a second transaction. Returns the copy's size in pages."""
    # The packed trees take no more pages than the source's; 1 MiB more for the second
    # transaction's few copied pages.
    map_size = int(source.info()["map_size"]) + (1 << 20)
    target = lmdb.open(
        destination,
        max_dbs=max_dbs,
        map_size=map_size,
        sync=False,
        metasync=False,
        readahead=False,
        lock=False,
        subdir=True,
        mode=0o600,
    )
    try:
        with source.begin(buffers=False) as read:
            names = [bytes(name) for name in read.cursor().iternext(keys=True, values=False)]
            with target.begin(write=True) as write:
                for name in names:
                    _copy_db(
                        read, source.open_db(name, txn=read, create=False), write, target, name
                    )
        pages = int(target.info()["last_pgno"]) + 1
        with target.begin(write=True) as write:
            for name, entries in extra(pages).items():
                db = target.open_db(name, txn=write, create=True)
                for key, value in entries:
                    write.put(key, value, db=db)
        target.sync(True)
        return pages
    finally:
        target.close()


def _copy_db(read: Any, source_db: Any, write: Any, target: Any, name: bytes) -> None:
    """One sub-database, streamed: putmulti consumes the source cursor's iterator in C
    (every duplicate of a dupsort one: its `entries` count them all)."""
    flags = source_db.flags()
    db = target.open_db(
        name,
        txn=write,
        create=True,
        dupsort=flags["dupsort"],
        dupfixed=flags["dupfixed"],
        integerkey=flags["integerkey"],
        integerdup=flags["integerdup"],
        reverse_key=flags["reverse_key"],
    )
    expected = int(read.stat(source_db)["entries"])
    entries = read.cursor(db=source_db).iternext(keys=True, values=True)
    consumed, added = write.cursor(db=db).putmulti(entries, append=True)
    if consumed != expected or added != expected:
        raise lmdb.Error(f"{name.decode()}: packed {added} of {expected} entries")
