"""A table's read-path indexes in one LMDB environment (`tables/<t>/indexes/`).

Sub-databases:
- `keys`  key directory: enc(pk) + u64(seq) -> [type, unix_ms, segment, offset, row after event]
          (a full row image per version: a point read at any seq is one B+tree seek, and no read
          ever re-applies patches; the price is disk space, measured in the benchmark).
- `seqs`  u64(seq) -> [unix_ms, live row count after it, segment, offset]
- `time`  u64(unix_ms) + u64(seq) -> b"" (the time index: AS OF <time> is one seek)
- `ix:<column>` temporal secondary index: enc(value) + u64(valid_to) + enc(pk) -> u64(valid_from)
          for each run of versions in which the row held that value; open runs have
          valid_to = 2**64-1. Ordering by valid_to lets `value = v AS OF S` start its scan at
          valid_to > S, so runs that ended before S (other rows' older versions) cost nothing.
- `meta`  b"covered" -> {seq, segment, offset, unix_ms, live}: the log position these entries
          cover, committed in the same transaction as the entries themselves.

LMDB commits are not fsynced (sync=False): the log is the source of truth and the indexes are
caught up from it on open, so durability of a write never waits for the index.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import lmdb
import msgpack

from driftdb.index.keycodec import (
    MAX_U64,
    decode_key,
    encode_key,
    encode_value,
    encoded_length,
    key_length,
    read_u64,
    u64,
)
from driftdb.model.events import Event, EventType, Key
from driftdb.model.merge_patch import merge_patch

INDEX_FORMAT = 1
_PAST_ALL = b"\xff" * 9


def _pack(value: Any) -> bytes:
    return bytes(msgpack.packb(value, use_bin_type=True))


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def resolve(row: dict[str, Any], column: str) -> Any:
    """The value at a dotted path; a missing path is null (as the evaluator treats it)."""
    value: Any = row
    for part in column.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


@dataclass(frozen=True, slots=True)
class Version:
    """One entry of the key directory."""

    seq: int
    type: EventType
    unix_ms: int
    segment: int
    offset: int
    row: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Covered:
    """The log position an index covers: everything up to and including `seq`, which ends at
    (`segment`, `offset`)."""

    seq: int
    segment: int
    offset: int
    unix_ms: int
    live: int


@dataclass(frozen=True, slots=True)
class Located:
    """An event with the place its frame lies, as the index writer needs it."""

    event: Event
    segment: int
    offset: int
    end_offset: int


class TableIndex:
    """The LMDB environment of one table. Open read-write only in the writer process."""

    def __init__(self, directory: str, columns: tuple[str, ...], readonly: bool) -> None:
        self.directory = directory
        self.columns = columns
        self.readonly = readonly
        if not readonly:
            os.makedirs(directory, exist_ok=True)
        self.env = lmdb.open(
            directory,
            max_dbs=8 + len(columns),
            map_size=1 << 40,
            readonly=readonly,
            sync=False,
            metasync=False,
            readahead=False,
            max_readers=256,
            lock=True,
        )
        create = not readonly
        self.keys = self.env.open_db(b"keys", create=create)
        self.seqs = self.env.open_db(b"seqs", create=create)
        self.time = self.env.open_db(b"time", create=create)
        self.meta = self.env.open_db(b"meta", create=create)
        self.ix = {c: self.env.open_db(f"ix:{c}".encode(), create=create) for c in columns}

    def close(self) -> None:
        if not self.readonly:
            self.env.sync(True)
        self.env.close()

    def sync(self) -> None:
        self.env.sync(True)

    def read(self) -> IndexReader:
        return IndexReader(self, self.env.begin(buffers=False))

    def clear(self) -> None:
        """Drop every entry (before a rebuild from the log)."""
        with self.env.begin(write=True) as txn:
            for db in (self.keys, self.seqs, self.time, self.meta, *self.ix.values()):
                txn.drop(db, delete=False)

    def apply(self, located: list[Located], primary_key: str) -> None:
        """Add events (in seq order, after what is covered) in one transaction with the new
        covered position, so a reader sees all of them or none."""
        if not located:
            return
        with self.env.begin(write=True) as txn:
            raw = txn.get(b"covered", db=self.meta)
            live = int(_unpack(raw)["live"]) if raw else 0
            cursor = txn.cursor(db=self.keys)
            for item in located:
                event = item.event
                pk = encode_key(event.key)
                prev = _last_version(cursor, pk, MAX_U64)
                prev_row = prev.row if prev is not None else None
                row = _row_after(prev_row, event, primary_key)
                if prev_row is None and row is not None:
                    live += 1
                elif prev_row is not None and row is None:
                    live -= 1
                txn.put(
                    pk + u64(event.seq),
                    _pack([int(event.type), event.unix_ms, item.segment, item.offset, row]),
                    db=self.keys,
                )
                for column, db in self.ix.items():
                    _update_index(txn, db, pk, event.seq, prev_row, row, column)
                txn.put(
                    u64(event.seq),
                    _pack([event.unix_ms, live, item.segment, item.offset]),
                    db=self.seqs,
                )
                txn.put(u64(event.unix_ms) + u64(event.seq), b"", db=self.time)
            last = located[-1]
            txn.put(
                b"covered",
                _pack(
                    {
                        "seq": last.event.seq,
                        "segment": last.segment,
                        "offset": last.end_offset,
                        "unix_ms": last.event.unix_ms,
                        "live": live,
                        "format": INDEX_FORMAT,
                    }
                ),
                db=self.meta,
            )


def _row_after(
    prev: dict[str, Any] | None, event: Event, primary_key: str
) -> dict[str, Any] | None:
    if event.type is EventType.SOFT_DELETE or event.purged is not None:
        return None
    if event.type is EventType.INSERT:
        return dict(event.data or {})
    row = merge_patch(prev or {}, event.data or {})
    assert isinstance(row, dict)
    row[primary_key] = event.key
    return row


def _update_index(
    txn: Any,
    db: Any,
    pk: bytes,
    seq: int,
    prev: dict[str, Any] | None,
    row: dict[str, Any] | None,
    column: str,
) -> None:
    old = encode_value(resolve(prev, column)) if prev is not None else None
    new = encode_value(resolve(row, column)) if row is not None else None
    if old == new:
        return  # same value: the open run goes on
    if old is not None:
        open_key = old + u64(MAX_U64) + pk
        start = txn.get(open_key, db=db)
        if start is not None:
            txn.delete(open_key, db=db)
            txn.put(old + u64(seq) + pk, start, db=db)
    if new is not None:
        txn.put(new + u64(MAX_U64) + pk, u64(seq), db=db)


def _decode_version(key: bytes, value: bytes) -> Version:
    kind, unix_ms, segment, offset, row = _unpack(value)
    return Version(read_u64(key, len(key) - 8), EventType(kind), unix_ms, segment, offset, row)


def _last_version(cursor: Any, pk: bytes, at_most: int) -> Version | None:
    """The newest version of `pk` with seq <= at_most, by one seek."""
    target = pk + u64(at_most) + b"\x00" if at_most < MAX_U64 else pk + _PAST_ALL
    if cursor.set_range(target):
        if not cursor.prev():
            return None
    elif not cursor.last():
        return None
    key = cursor.key()
    if len(key) != len(pk) + 8 or not key.startswith(pk):
        return None
    return _decode_version(key, cursor.value())


class IndexReader:
    """A consistent read of one table's indexes (one LMDB read transaction)."""

    def __init__(self, index: TableIndex, txn: Any) -> None:
        self.index = index
        self.txn = txn

    def close(self) -> None:
        self.txn.abort()

    def __enter__(self) -> IndexReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def covered(self) -> Covered | None:
        raw = self.txn.get(b"covered", db=self.index.meta)
        if raw is None:
            return None
        c = _unpack(raw)
        return Covered(c["seq"], c["segment"], c["offset"], c["unix_ms"], c["live"])

    def version_at(self, key: Key, seq: int) -> Version | None:
        cursor = self.txn.cursor(db=self.index.keys)
        return _last_version(cursor, encode_key(key), seq)

    def versions(self, key: Key) -> list[Version]:
        pk = encode_key(key)
        out: list[Version] = []
        cursor = self.txn.cursor(db=self.index.keys)
        if not cursor.set_range(pk):
            return out
        for k, v in cursor:
            if len(k) != len(pk) + 8 or not k.startswith(pk):
                break
            out.append(_decode_version(k, v))
        return out

    def seq_at_time(self, unix_ms: int) -> int | None:
        """The last seq of this table whose timestamp is <= unix_ms."""
        cursor = self.txn.cursor(db=self.index.time)
        if cursor.set_range(u64(unix_ms + 1)) if unix_ms + 1 <= MAX_U64 else False:
            found = cursor.prev()
        else:
            found = cursor.last()
        return read_u64(cursor.key(), 8) if found else None

    def live_count_at(self, seq: int) -> int:
        cursor = self.txn.cursor(db=self.index.seqs)
        landed = seq < MAX_U64 and cursor.set_range(u64(seq + 1))
        found = cursor.prev() if landed else cursor.last()
        return int(_unpack(cursor.value())[1]) if found else 0

    def first_seq(self) -> int | None:
        cursor = self.txn.cursor(db=self.index.seqs)
        return read_u64(cursor.key()) if cursor.first() else None

    def rows_at(self, seq: int) -> Iterator[tuple[Key, dict[str, Any]]]:
        """Every row live at `seq`, in primary-key order: one pass over the key directory."""
        cursor = self.txn.cursor(db=self.index.keys)
        current_pk: bytes | None = None
        best: bytes | None = None
        for key, value in cursor:
            pk = key[:-8]
            if pk != current_pk:
                if best is not None and current_pk is not None:
                    row = _unpack(best)[4]
                    if row is not None:
                        yield decode_key(current_pk), row
                current_pk, best = pk, None
            if read_u64(key, len(key) - 8) <= seq:
                best = value
        if best is not None and current_pk is not None:
            row = _unpack(best)[4]
            if row is not None:
                yield decode_key(current_pk), row

    def keys_with_value(
        self,
        column: str,
        lower: Any,
        upper: Any,
        seq: int,
        include_lower: bool = True,
        include_upper: bool = True,
    ) -> Iterator[Key]:
        """Keys whose `column` value lay in [lower, upper] (bounds optional: pass the
        `UNBOUNDED` marker) at `seq`. Equality is lower == upper."""
        db = self.index.ix[column]
        cursor = self.txn.cursor(db=db)
        low = encode_value(lower) if lower is not UNBOUNDED else b""
        high = encode_value(upper) if upper is not UNBOUNDED else None
        after = u64(seq + 1) if seq < MAX_U64 else u64(MAX_U64)
        position = cursor.set_range(low + after if low else b"")
        while position:
            key = cursor.key()
            vlen = encoded_length(key)
            value_enc = key[:vlen]
            if high is not None and (value_enc > high or (value_enc == high and not include_upper)):
                return
            if value_enc == low and not include_lower:
                position = cursor.set_range(value_enc + _PAST_ALL)
                continue
            if key[vlen : vlen + 8] < after:
                # runs of this value that ended at or before seq: jump to the first that did not
                position = cursor.set_range(value_enc + after)
                continue
            pk_len = key_length(key, vlen + 8)
            if read_u64(cursor.value()) <= seq:
                yield decode_key(key, vlen + 8)
            del pk_len
            position = cursor.next()


class _Unbounded:
    def __repr__(self) -> str:
        return "UNBOUNDED"


UNBOUNDED: Any = _Unbounded()
