"""A table's read-path indexes in one LMDB environment (`tables/<t>/indexes/`).

Sub-databases:
- `keys`  key directory: enc(pk) + u64(seq) -> u8 type, u64 unix_ms, u32 segment, u64 offset
          (little-endian, fixed width), then msgpack(row after event) (nothing if deleted)
          (a full row image per version: a point read at any seq is one B+tree seek, and no read
          ever re-applies patches; the price is disk space, measured in the benchmark).
- `seqs`  u64(seq) -> u64 unix_ms, i64 live row count after it, u32 segment, u64 offset,
          then enc(pk) (fixed-width heads: moving frames rewrites 12 bytes per entry; the key lets
          a full-table read start from a snapshot and re-read only the keys touched since)
- `time`  u64(unix_ms) + u64(seq) -> b"" (the time index: AS OF <time> is one seek)
- `ix:<column>` temporal secondary index: enc(value) + u64(valid_to) + enc(pk) -> u64(valid_from)
          for each run of versions in which the row held that value; open runs have
          valid_to = 2**64-1. Ordering by valid_to lets `value = v AS OF S` start its scan at
          valid_to > S, so runs that ended before S (other rows' older versions) cost nothing.
- `meta`  b"covered" -> {seq, segment, offset, unix_ms, live}: the log position these entries
          cover, committed in the same transaction as the entries themselves; b"horizon" ->
          the retention horizon (a copy of the base snapshot's header, see model/retention.py).

After retention, every key live at the horizon H has a synthetic version at seq H with
segment 0 (no frame: its row comes from the base snapshot), `seqs` has an entry for H and
`time` one for the base's time, so reads at or after H need nothing that was discarded.

LMDB commits are not fsynced (sync=False): the log is the source of truth and the indexes are
caught up from it on open, so durability of a write never waits for the index.
"""

from __future__ import annotations

import os
import struct
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
    read_u64,
    u64,
)
from driftdb.model.events import EventType, Key
from driftdb.model.replay import event_row_after
from driftdb.model.retention import Horizon
from driftdb.storage import paths
from driftdb.storage.position import Covered, Located

INDEX_FORMAT = (
    5  # 1-2: msgpack arrays in keys and seqs; 3: no value counts; 4: no long-value digests
)
NO_SEGMENT = 0  # the segment number of a synthetic (base snapshot) version: no frame
_PAST_ALL = b"\xff" * 9


# Fixed-width heads, so that moving a frame (compaction) rewrites 12 bytes of an entry and
# never decodes its row.
_VERSION = struct.Struct("<BQIQ")  # keys: type, unix_ms, segment, offset; then msgpack(row)
_SEQ = struct.Struct("<QqIQ")  # seqs: unix_ms, live, segment, offset; then enc(pk)
_LOCATION = struct.Struct("<IQ")  # segment, offset (at byte 9 of a version, 16 of a seq)


def _version_value(
    kind: int, unix_ms: int, segment: int, offset: int, row: dict[str, Any] | None
) -> bytes:
    return _VERSION.pack(kind, unix_ms, segment, offset) + (b"" if row is None else _pack(row))


def _version_row(value: bytes) -> dict[str, Any] | None:
    return _unpack(value[_VERSION.size :]) if len(value) > _VERSION.size else None


def _seq_value(unix_ms: int, live: int, segment: int, offset: int, pk: bytes) -> bytes:
    return _SEQ.pack(unix_ms, live, segment, offset) + pk


def _relocate(value: bytes, at: int, segment: int, offset: int) -> bytes:
    out = bytearray(value)
    _LOCATION.pack_into(out, at, segment, offset)
    return bytes(out)


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
            max_dbs=8 + 2 * len(columns),
            map_size=1 << 40,
            readonly=readonly,
            sync=False,
            metasync=False,
            readahead=False,
            max_readers=256,
            lock=True,
        )
        # A data.mdb cut shorter than its own last page would fault (SIGBUS) on the first read
        # of a missing page: refuse it here, and the caller rebuilds from the log.
        data_path = os.path.join(directory, paths.INDEX_DATA)
        needed = (self.env.info()["last_pgno"] + 1) * self.env.stat()["psize"]
        if os.path.getsize(data_path) < needed:
            self.env.close()
            raise lmdb.CorruptedError(f"{data_path} is shorter than its last page")
        create = not readonly
        self.keys = self.env.open_db(b"keys", create=create)
        self.seqs = self.env.open_db(b"seqs", create=create)
        self.time = self.env.open_db(b"time", create=create)
        self.meta = self.env.open_db(b"meta", create=create)
        self.ix = {c: self.env.open_db(f"ix:{c}".encode(), create=create) for c in columns}
        self.cnt = {c: self.env.open_db(f"cnt:{c}".encode(), create=create) for c in columns}
        if not readonly:
            with self.env.begin(write=True) as txn:
                if txn.get(b"covered", db=self.meta) is None:
                    txn.put(b"counts", b"1", db=self.meta)  # empty: counts trivially exact

    def close(self) -> None:
        if not self.readonly:
            self.env.sync(True)
        self.env.close()

    def sync(self) -> None:
        self.env.sync(True)

    def read(self) -> IndexReader:
        return IndexReader(self, self.env.begin(buffers=False))

    def clear(self) -> None:
        """Drop every entry (before a rebuild from the log); the generation moves on."""
        with self.env.begin(write=True) as txn:
            self._drop_all(txn)

    def _drop_all(self, txn: Any) -> None:
        raw = txn.get(b"generation", db=self.meta)
        generation = int(_unpack(raw)) if raw is not None else 0
        for db in (
            self.keys,
            self.seqs,
            self.time,
            self.meta,
            *self.ix.values(),
            *self.cnt.values(),
        ):
            txn.drop(db, delete=False)
        txn.put(b"generation", _pack(generation + 1), db=self.meta)
        txn.put(b"counts", b"1", db=self.meta)  # value counts are exact from an empty start

    def generation(self) -> int:
        """A counter bumped whenever frame locations change (remap, rebuild, clear): a read
        that straddles a change sees two different values and retries."""
        with self.env.begin() as txn:
            raw = txn.get(b"generation", db=self.meta)
        return int(_unpack(raw)) if raw is not None else 0

    def apply(self, located: list[Located], primary_key: str) -> None:
        """Add events (in seq order, after what is covered) in one transaction with the new
        covered position, so a reader sees all of them or none."""
        if not located:
            return
        with self.env.begin(write=True) as txn:
            self._apply_in(txn, located, primary_key)

    def rebuild(
        self,
        located: list[Located],
        primary_key: str,
        base: tuple[Horizon, list[tuple[Key, dict[str, Any]]]] | None,
    ) -> None:
        """Replace every entry by those of `base` (the horizon and the rows of the base
        snapshot) followed by `located`, in ONE transaction: a reader sees the old index or
        the new one, never an empty or half-built one."""
        with self.env.begin(write=True) as txn:
            self._drop_all(txn)
            rows: dict[bytes, dict[str, Any]] = {}
            if base is not None:
                self._seed_in(txn, base[0], base[1])
                rows = {encode_key(key): row for key, row in base[1]}
            self._apply_in(txn, located, primary_key, rows)

    def remap(self, moves: dict[int, tuple[int, int]], covered_end: tuple[int, int] | None) -> None:
        """Point the versions of the seqs in `moves` at their frames' new (segment, offset),
        in one transaction, after compaction moved the frames (the rows do not change).
        `covered_end` is the new end of the covered seq's frame when it moved."""
        with self.env.begin(write=True) as txn:
            self._remap_in(txn, moves, covered_end)

    def purge_key(  # noqa: C901 (one LMDB write transaction over every sub-database a key touches)
        self, key: Key, moves: dict[int, tuple[int, int]], covered_end: tuple[int, int] | None
    ) -> None:
        """Erase `key` from the entries (as a rebuild from the redacted log would leave them)
        and remap the frames a purge moved, in one transaction:
        - every version of the key keeps its seq, type and time but no row; its synthetic
          base version (if any) goes, as the purged base snapshot no longer holds it;
        - its runs in the secondary indexes go;
        - the live count after every seq at which the key was live drops by one."""
        pk = encode_key(key)
        with self.env.begin(write=True) as txn:
            # The value counts would need every seq since the key's first version adjusted:
            # stop trusting them until the next rebuild (counts then come from index runs).
            txn.delete(b"counts", db=self.meta)
            versions: list[Version] = []
            cursor = txn.cursor(db=self.keys)
            if cursor.set_range(pk):
                for k, v in cursor:
                    if len(k) != len(pk) + 8 or not k.startswith(pk):
                        break
                    versions.append(_decode_version(k, v))
            previous: dict[str, bytes | None] = dict.fromkeys(self.ix)
            live_from: int | None = None
            intervals: list[tuple[int, int]] = []
            for version in versions:
                for column, db in self.ix.items():
                    value = (
                        encode_value(resolve(version.row, column))
                        if version.row is not None
                        else None
                    )
                    old = previous[column]
                    if value != old:
                        if old is not None:
                            txn.delete(old + u64(version.seq) + pk, db=db)
                        previous[column] = value
                if version.row is not None and live_from is None:
                    live_from = version.seq
                elif version.row is None and live_from is not None:
                    intervals.append((live_from, version.seq))
                    live_from = None
                if version.segment == NO_SEGMENT:
                    txn.delete(pk + u64(version.seq), db=self.keys)
                else:
                    txn.put(
                        pk + u64(version.seq),
                        _version_value(
                            int(version.type),
                            version.unix_ms,
                            version.segment,
                            version.offset,
                            None,
                        ),
                        db=self.keys,
                    )
            for column, db in self.ix.items():
                old = previous[column]
                if old is not None:
                    txn.delete(old + u64(MAX_U64) + pk, db=db)
            if live_from is not None:
                intervals.append((live_from, MAX_U64))
            seqs = txn.cursor(db=self.seqs)
            for start, end in intervals:
                if not seqs.set_range(u64(start)):
                    continue
                for k, v in seqs:
                    if read_u64(k) >= end:
                        break
                    entry = bytearray(v)
                    (live,) = struct.unpack_from("<q", entry, 8)
                    struct.pack_into("<q", entry, 8, live - 1)
                    seqs.put(k, bytes(entry))
            if live_from is not None:
                raw = txn.get(b"covered", db=self.meta)
                if raw is not None:
                    covered = _unpack(raw)
                    covered["live"] -= 1
                    txn.put(b"covered", _pack(covered), db=self.meta)
            self._remap_in(txn, moves, covered_end)

    def _remap_in(
        self, txn: Any, moves: dict[int, tuple[int, int]], covered_end: tuple[int, int] | None
    ) -> None:
        raw = txn.get(b"generation", db=self.meta)
        txn.put(b"generation", _pack((int(_unpack(raw)) if raw else 0) + 1), db=self.meta)
        for seq, (segment, offset) in moves.items():
            raw = txn.get(u64(seq), db=self.seqs)
            if raw is None:
                raise KeyError(f"seq {seq} is not in the key directory")
            pk = bytes(raw[_SEQ.size :])
            txn.put(u64(seq), _relocate(raw, 16, segment, offset), db=self.seqs)
            version_key = pk + u64(seq)
            value = txn.get(version_key, db=self.keys)
            if value is None:
                raise KeyError(f"seq {seq} has no version in the key directory")
            txn.put(version_key, _relocate(value, 9, segment, offset), db=self.keys)
        if covered_end is not None:
            raw = txn.get(b"covered", db=self.meta)
            if raw is not None:
                covered = _unpack(raw)
                covered["segment"], covered["offset"] = covered_end
                txn.put(b"covered", _pack(covered), db=self.meta)

    def _seed_in(self, txn: Any, horizon: Horizon, rows: list[tuple[Key, dict[str, Any]]]) -> None:
        """Entries for the base state at the horizon: one synthetic version per live row."""
        seq = horizon.seq
        counts = {c: txn.cursor(db=db) for c, db in self.cnt.items()}
        for key, row in rows:
            pk = encode_key(key)
            txn.put(
                pk + u64(seq),
                _version_value(int(EventType.INSERT), horizon.base_unix_ms, NO_SEGMENT, 0, row),
                db=self.keys,
            )
            for column, db in self.ix.items():
                _update_index(txn, db, pk, seq, None, row, column, counts[column])
        txn.put(
            u64(seq), _seq_value(horizon.base_unix_ms, len(rows), NO_SEGMENT, 0, b""), db=self.seqs
        )
        txn.put(u64(horizon.base_unix_ms) + u64(seq), b"", db=self.time)
        txn.put(b"horizon", _pack(horizon.to_wire()), db=self.meta)
        # The log after the base starts at its first segment: segment NO_SEGMENT sorts first.
        txn.put(
            b"covered",
            _pack(
                {
                    "seq": seq,
                    "segment": NO_SEGMENT,
                    "offset": 0,
                    "unix_ms": horizon.base_unix_ms,
                    "live": len(rows),
                    "format": INDEX_FORMAT,
                }
            ),
            db=self.meta,
        )

    def _apply_in(
        self,
        txn: Any,
        located: list[Located],
        primary_key: str,
        rows: dict[bytes, dict[str, Any]] | None = None,
    ) -> None:
        """`rows`: when rebuilding, the current row of every key (saves a seek per event)."""
        if not located:
            return
        raw = txn.get(b"covered", db=self.meta)
        live = int(_unpack(raw)["live"]) if raw else 0
        cursor = txn.cursor(db=self.keys)
        counts = {c: txn.cursor(db=db) for c, db in self.cnt.items()}
        for position, item in enumerate(located):
            event = item.event
            pk = encode_key(event.key)
            if rows is None:
                prev = _last_version(cursor, pk, MAX_U64)
                prev_row = prev.row if prev is not None else None
            else:
                prev_row = rows.get(pk)
            row = event_row_after(prev_row, event, primary_key)
            if rows is not None:
                if row is None:
                    rows.pop(pk, None)
                else:
                    rows[pk] = row
            if prev_row is None and row is not None:
                live += 1
            elif prev_row is not None and row is None:
                live -= 1
            txn.put(
                pk + u64(event.seq),
                _version_value(int(event.type), event.unix_ms, item.segment, item.offset, row),
                db=self.keys,
            )
            for column, db in self.ix.items():
                _update_index(txn, db, pk, event.seq, prev_row, row, column, counts[column])
            txn.put(
                u64(event.seq),
                _seq_value(event.unix_ms, live, item.segment, item.offset, pk),
                db=self.seqs,
            )
            following = located[position + 1].event.unix_ms if position + 1 < len(located) else -1
            if following != event.unix_ms:
                # The time index needs only the last seq of each millisecond (a batch shares
                # one timestamp): AS OF <time> seeks the last entry at or before it.
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


def _update_index(
    txn: Any,
    db: Any,
    pk: bytes,
    seq: int,
    prev: dict[str, Any] | None,
    row: dict[str, Any] | None,
    column: str,
    counts: Any = None,
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
            if counts is not None:
                _bump_count(counts, old, seq, -1)
    if new is not None:
        txn.put(new + u64(MAX_U64) + pk, u64(seq), db=db)
        if counts is not None:
            _bump_count(counts, new, seq, +1)


def _bump_count(cursor: Any, value: bytes, seq: int, delta: int) -> None:
    """The temporal count index: enc(value) + u64(seq) -> how many live rows held the value
    after `seq`, so `COUNT(*) WHERE col = v AS OF S` is one seek instead of a scan."""
    current = _count_at(cursor, value, MAX_U64)
    cursor.put(value + u64(seq), u64(current + delta))


def _count_at(cursor: Any, value: bytes, seq: int) -> int:
    landed = (
        cursor.set_range(value + u64(seq + 1))
        if seq < MAX_U64
        else cursor.set_range(value + _PAST_ALL)
    )
    found = cursor.prev() if landed else cursor.last()
    if not found:
        return 0
    key = cursor.key()
    if len(key) != len(value) + 8 or not key.startswith(value):
        return 0
    return read_u64(cursor.value())


def _decode_version(key: bytes, value: bytes) -> Version:
    kind, unix_ms, segment, offset = _VERSION.unpack_from(value)
    row = _version_row(value)
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


_UNREAD = object()


class IndexReader:
    """A consistent read of one table's indexes (one LMDB read transaction)."""

    def __init__(self, index: TableIndex, txn: Any) -> None:
        self.index = index
        self.txn = txn
        self._keys_cursor: Any = None
        self._covered: Any = _UNREAD

    def close(self) -> None:
        self.txn.abort()

    def __enter__(self) -> IndexReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def covered(self) -> Covered | None:
        """The log position these entries cover; None for an empty index, or one in an
        older format (the writer rebuilds it on open). Read once per transaction."""
        if self._covered is not _UNREAD:
            return self._covered  # type: ignore[no-any-return]
        raw = self.txn.get(b"covered", db=self.index.meta)
        found = None
        if raw is not None:
            c = _unpack(raw)
            if c.get("format") == INDEX_FORMAT:
                found = Covered(c["seq"], c["segment"], c["offset"], c["unix_ms"], c["live"])
        self._covered = found
        return found

    def generation(self) -> int:
        raw = self.txn.get(b"generation", db=self.index.meta)
        return int(_unpack(raw)) if raw is not None else 0

    def horizon(self) -> Horizon | None:
        """The retention horizon these entries were built with (None: the full history)."""
        raw = self.txn.get(b"horizon", db=self.index.meta)
        return Horizon.from_wire(_unpack(raw)) if raw is not None else None

    def version_count(self) -> int:
        """How many versions the key directory holds (O(1): a B+tree statistic)."""
        return int(self.txn.stat(self.index.keys)["entries"])

    def count_after(self, seq: int, budget: int) -> tuple[int, tuple[int, int] | None]:
        """How many events have a seq > `seq` (counting stops at `budget`), and the
        (segment, offset) of the first of them."""
        cursor = self.txn.cursor(db=self.index.seqs)
        if not cursor.set_range(u64(seq + 1) if seq >= 0 else u64(0)):
            return 0, None
        _, _, segment, offset = _SEQ.unpack_from(cursor.value())
        where = (int(segment), int(offset))
        count = 0
        for _ in cursor.iternext(keys=True, values=False):
            count += 1
            if count >= budget:
                break
        return count, where

    def distinct_keys(self) -> Iterator[Key]:
        """Every key the key directory has versions for, in key order."""
        cursor = self.txn.cursor(db=self.index.keys)
        previous: bytes | None = None
        for key in cursor.iternext(keys=True, values=False):
            pk = bytes(key[:-8])
            if pk != previous:
                previous = pk
                yield decode_key(pk)

    def keys_touched(self, after: int, upto: int, budget: int) -> list[Key] | None:
        """Keys of the events with after < seq <= upto, or None if there are more than
        `budget` such events (the caller then takes another path)."""
        cursor = self.txn.cursor(db=self.index.seqs)
        out: list[Key] = []
        if not cursor.set_range(u64(after + 1)):
            return out
        for key, value in cursor:
            if read_u64(key) > upto:
                break
            if len(out) >= budget:
                return None
            pk = bytes(value[_SEQ.size :])
            if pk:
                out.append(decode_key(pk))
        return out

    def version_at(self, key: Key, seq: int) -> Version | None:
        cursor = self._keys_cursor
        if cursor is None:
            cursor = self._keys_cursor = self.txn.cursor(db=self.index.keys)
        return _last_version(cursor, encode_key(key), seq)

    def count_with_value(self, column: str, value: Any, seq: int) -> int | None:
        """How many live rows held `value` in `column` at `seq`, from the temporal count
        index; None when the counts cannot be trusted (after a purge, until a rebuild)."""
        if column not in self.index.cnt or self.txn.get(b"counts", db=self.index.meta) is None:
            return None
        cursor = self.txn.cursor(db=self.index.cnt[column])
        return _count_at(cursor, encode_value(value), seq)

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
        return int(_SEQ.unpack_from(cursor.value())[1]) if found else 0

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
                    row = _version_row(best)
                    if row is not None:
                        yield decode_key(current_pk), row
                current_pk, best = pk, None
            if read_u64(key, len(key) - 8) <= seq:
                best = value
        if best is not None and current_pk is not None:
            row = _version_row(best)
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
            if read_u64(cursor.value()) <= seq:
                yield decode_key(key, vlen + 8)
            position = cursor.next()


class _Unbounded:
    def __repr__(self) -> str:
        return "UNBOUNDED"


UNBOUNDED: Any = _Unbounded()
