"""A table's read-path indexes in one LMDB environment (`tables/<t>/indexes/`).

Sub-databases (every stored value below ends with 4 more bytes, see "Checksums"):
- `keys`  key directory: enc(pk) + u64(seq) -> u8 type, u64 unix_ms, u32 segment, u64 offset
          (little-endian, fixed width), then msgpack(row after event) (nothing if deleted)
          (a full row image per version: a point read at any seq is one B+tree seek, and no read
          ever re-applies patches; the price is disk space, measured in the benchmark).
- `seqs`  u64(seq) -> i64 live row count after it, u32 segment, u64 offset, then enc(pk)
          (fixed-width heads: moving frames rewrites 12 bytes per entry; the key lets a
          full-table read start from a snapshot and re-read only the keys touched since)
- `time`  u64(unix_ms) + u64(seq) -> b"" (the time index: AS OF <time> is one seek)
- `ix:<column>` temporal secondary index: enc(value) + u64(valid_to) + enc(pk) -> u64(valid_from)
          for each run of versions in which the row held that value; open runs have
          valid_to = 2**64-1. Ordering by valid_to lets `value = v AS OF S` start its scan at
          valid_to > S, so runs that ended before S (other rows' older versions) cost nothing.
- `cnt:<column>` value counts: enc(value) -> one fixed-size duplicate per seq at which the
          number of live rows holding the value changed: u48 seq, u32 count (dupsort,
          dupfixed: the value is stored once; see "value counts" below).
- `meta`  b"covered" -> {seq, segment, offset, unix_ms, live, format}: the log position these
          entries cover, committed in the same transaction as the entries themselves;
          b"horizon" -> the retention horizon (a copy of the base snapshot's header, see
          model/retention.py); b"generation"; b"counts" (present while the value counts are exact).

Checksums: every entry, in every sub-database, is stored as value + u32 CRC-32 (zlib, IEEE)
over key and value (in `cnt:`, each duplicate over the key and its own 10 bytes), and every
read checks it (`_SealedTxn` is the only way in or out; the count functions below). CRC-32
rather than a keyed or cryptographic hash: the threat is a flipped bit or a stale byte, not an
adversary; CRC-32 detects every burst of up to 32 bits and every 1-3 bit error in entries of
this size, costs about a microsecond per row image in C, and is the checksum the log's frames
already use. A mismatch (or an entry that does not decode) is a CorruptionError naming the
table and the key; the index is flagged, the writer rebuilds it from the log before its next
read, and a reader answers from the log instead.

After retention, every key live at the horizon H has a synthetic version at seq H with
segment 0 (no frame: its row comes from the base snapshot), `seqs` has an entry for H and
`time` one for the base's time, so reads at or after H need nothing that was discarded.

Durability: LMDB commits are not fsynced (sync=False): the log is the source of truth and the
indexes are caught up from it on open, so durability of a write never waits for the index.
What makes that safe under power loss (not only process kills) is the `synced` mark beside
data.mdb: see `TableIndex`."""

from __future__ import annotations

import contextlib
import functools
import os
import struct
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, TypeVar, cast

import lmdb
import msgpack

from driftdb.errors import CorruptionError
from driftdb.index import scan
from driftdb.index.keycodec import (
    MAX_U64,
    decode_key,
    decode_value,
    encode_key,
    encode_value,
    encoded_length,
    is_long,
    long_range,
    read_u64,
    u64,
)
from driftdb.index.pack import copy_packed
from driftdb.model.events import EventType, Key
from driftdb.model.frozen import Frozen, set_field
from driftdb.model.replay import event_row_after
from driftdb.model.retention import Horizon
from driftdb.storage import fs, paths
from driftdb.storage.position import NO_SEGMENT as NO_SEGMENT  # re-exported: its old home
from driftdb.storage.position import Covered, Located
from driftdb.storage.safe_path import check_index_files

# 1-2: msgpack arrays in keys and seqs; 3: no value counts; 4: no long-value digests;
# 5: numbers as doubles only, lists and objects as JSON text; 6: no checksums, no sync mark;
# 7: a value count per key enc(value) + u64(seq) (now one key per value, fixed duplicates),
# and a u64 unix_ms first in each `seqs` value
INDEX_FORMAT = 8
_PAST_ALL = b"\xff" * 9


# Fixed-width heads, so that moving a frame (compaction) rewrites 12 bytes of an entry and
# never decodes its row.
_VERSION = struct.Struct("<BQIQ")  # keys: type, unix_ms, segment, offset; then msgpack(row)
# seqs: live, segment, offset; then enc(pk). No time: AS OF <time> goes through `time`, and
# no read asks a seq's time of `seqs` (format 7 kept a u64 unix_ms first: 8 MB at 1M events).
_SEQ = struct.Struct("<qIQ")
_LOCATION = struct.Struct("<IQ")  # segment, offset (at byte 9 of a version, 8 of a seq)


def _version_value(
    kind: int, unix_ms: int, segment: int, offset: int, row: dict[str, Any] | None
) -> bytes:
    return _VERSION.pack(kind, unix_ms, segment, offset) + (b"" if row is None else _pack(row))


def _version_row(value: bytes, key: bytes = b"") -> dict[str, Any] | None:
    """The row image of an (unsealed) version value."""
    return _unpack(value[_VERSION.size :], "keys", key) if len(value) > _VERSION.size else None


def _seq_value(live: int, segment: int, offset: int, pk: bytes) -> bytes:
    return _SEQ.pack(live, segment, offset) + pk


def _relocate(value: bytes, at: int, segment: int, offset: int) -> bytes:
    out = bytearray(value)
    _LOCATION.pack_into(out, at, segment, offset)
    return bytes(out)


_CRC = struct.Struct("<I")
_U64_BE = struct.Struct(">Q")  # keycodec.u64, for loops that read one per entry


def _seal(key: bytes, value: bytes) -> bytes:
    """The stored form of an entry: its value, then CRC-32 of key and value (4 bytes)."""
    return value + _CRC.pack(zlib.crc32(value, zlib.crc32(key)))


class EntryDamaged(Exception):
    """An index entry that fails its checksum or does not decode (reported by the public
    methods as a CorruptionError naming the table and the key)."""

    def __init__(self, db: str, key: bytes, why: str) -> None:
        super().__init__(why)
        self.db, self.key, self.why = db, bytes(key), why


def _unseal(db: str, key: bytes, stored: bytes) -> bytes:
    """The value of a stored entry, after checking its CRC-32 over key and value."""
    if len(stored) < _CRC.size:
        raise EntryDamaged(db, key, "is shorter than its checksum")
    value = stored[: -_CRC.size]
    if _CRC.unpack_from(stored, len(stored) - _CRC.size)[0] != zlib.crc32(value, zlib.crc32(key)):
        raise EntryDamaged(db, key, "fails its checksum")
    return bytes(value)


def _name_damage(keys: list[bytes], values: list[bytes]) -> None:
    """Raise for the first entry of a slice that fails its checksum or is shorter than a
    version head (index/scan.py found one)."""
    if len(keys) > len(values):  # (the two cursors of one transaction walk in step)
        raise EntryDamaged("keys", keys[len(values)], "has no value in the read")
    for key, stored in zip(keys, values, strict=False):  # (values may run short)
        if len(_unseal("keys", key, stored)) < _VERSION.size:
            raise EntryDamaged("keys", key, "is shorter than a version head")
    raise AssertionError("index/scan.py reported damage that _unseal does not find")


class _SealedTxn:
    """An LMDB transaction whose puts seal every value and whose reads check it, so no code
    path can store or read an entry without its checksum."""

    __slots__ = ("names", "txn")

    def __init__(self, txn: Any, names: dict[int, str]) -> None:
        self.txn = txn
        self.names = names

    def get(self, key: bytes, db: Any) -> bytes | None:
        stored = self.txn.get(key, db=db)
        return None if stored is None else _unseal(self.names[id(db)], key, stored)

    def put(self, key: bytes, value: bytes, db: Any) -> None:
        # (_seal inline: a call less per entry)
        self.txn.put(key, value + _CRC.pack(zlib.crc32(value, zlib.crc32(key))), db=db)

    def delete(self, key: bytes, db: Any) -> bool:
        return bool(self.txn.delete(key, db=db))

    def cursor(self, db: Any) -> _SealedCursor:
        return _SealedCursor(self.txn.cursor(db=db), self.names[id(db)])

    def drop(self, db: Any, delete: bool = False) -> None:
        self.txn.drop(db, delete=delete)

    def stat(self, db: Any) -> dict[str, int]:
        return dict(self.txn.stat(db))

    def abort(self) -> None:
        self.txn.abort()


class _SealedCursor:
    __slots__ = ("cursor", "name")

    def __init__(self, cursor: Any, name: str) -> None:
        self.cursor = cursor
        self.name = name

    def set_range(self, key: bytes) -> bool:
        return bool(self.cursor.set_range(key))

    def first(self) -> bool:
        return bool(self.cursor.first())

    def last(self) -> bool:
        return bool(self.cursor.last())

    def next(self) -> bool:
        return bool(self.cursor.next())

    def prev(self) -> bool:
        return bool(self.cursor.prev())

    def key(self) -> bytes:
        return bytes(self.cursor.key())

    def value(self) -> bytes:
        key = self.cursor.key()
        return _unseal(self.name, key, self.cursor.value())

    def put(self, key: bytes, value: bytes) -> None:
        # (_seal inline: a value count is put this way at every write)
        self.cursor.put(key, value + _CRC.pack(zlib.crc32(value, zlib.crc32(key))))

    def iternext(self, keys: bool = True, values: bool = True) -> Iterator[Any]:
        for key, stored in self.cursor.iternext(keys=True, values=True):
            value = _unseal(self.name, key, stored)  # a key with a flipped byte fails too
            if keys and values:
                yield key, value
            else:
                yield key if keys else value

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        return self.iternext(keys=True, values=True)


def _pack(value: Any) -> bytes:
    return bytes(msgpack.packb(value, use_bin_type=True))


def _unpack(data: bytes, db: str = "meta", key: bytes = b"") -> Any:
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=False)
    except (ValueError, TypeError) as exc:  # UnicodeDecodeError, ExtraData, FormatError...
        raise EntryDamaged(db, key, f"does not decode ({exc})") from None


def resolve(row: dict[str, Any], column: str) -> Any:
    """The value at a dotted path; a missing path is null (as the evaluator treats it)."""
    value: Any = row
    for part in column.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


class Version(Frozen):
    """One entry of the key directory."""

    __slots__ = __match_args__ = ("seq", "type", "unix_ms", "segment", "offset", "row")
    seq: int
    type: EventType
    unix_ms: int
    segment: int
    offset: int
    row: dict[str, Any] | None

    def __init__(
        self,
        seq: int,
        type: EventType,
        unix_ms: int,
        segment: int,
        offset: int,
        row: dict[str, Any] | None,
    ) -> None:
        set_field(self, "seq", seq)
        set_field(self, "type", type)
        set_field(self, "unix_ms", unix_ms)
        set_field(self, "segment", segment)
        set_field(self, "offset", offset)
        set_field(self, "row", row)


VersionTuple = tuple[int, EventType, int, int, int, dict[str, Any] | None]
"""A Version's fields in order, for loops that build none (IndexReader.version_tuples)."""


# -- open environments, map size, and the durable marker ------------------------------------

MAX_DBS = 8 + 2 * 64  # keys, seqs, time, meta, and ix:/cnt: for up to 64 indexed columns
MAX_OPEN_ENVS = 256  # per process: each open environment holds 3 descriptors and 2 mappings
FIRST_MAP_BYTES = 8 << 20
OPEN_ATTEMPTS = 5  # opens of a reader that the writer's map growth interrupted (`_open`)
GROW_WAIT_S = 10.0  # how long a write that must grow the map waits for this process's reads
PACK_MIN_PAGES = 4096  # 16 MiB: below it, what packing reclaims is not worth a rewrite
SYNC_MARK_NAME = "synced"  # beside data.mdb: the last transaction known durable
_MARK = struct.Struct("<8sQB16sI")  # magic, txn id, clean (1) or dirty (0), boot id, crc32
_MARK_MAGIC = b"DRIFTIDX"
_open_envs: OrderedDict[TableIndex, None] = OrderedDict()  # least recently used first
_open_lock = threading.RLock()
_F = TypeVar("_F", bound=Callable[..., Any])
_CO_GENERATOR = 0x20  # inspect.CO_GENERATOR


def boot_id() -> bytes:
    """This boot of the machine (16 bytes): the page cache survives a process kill but not a
    power cut, so unsynced LMDB pages are trustworthy exactly within the boot that wrote them.
    `DRIFTDB_BOOT_ID` overrides it (tests simulate a reboot); without /proc it is unknown
    (all zeros) and every unsynced index is rebuilt after a crash."""
    forced = os.environ.get("DRIFTDB_BOOT_ID")
    if forced is not None:
        return zlib.crc32(forced.encode()).to_bytes(4, "little") * 4
    try:
        with open("/proc/sys/kernel/random/boot_id", "rb") as handle:
            text = handle.read().strip().replace(b"-", b"")
        return bytes.fromhex(text.decode())[:16].ljust(16, b"\0")
    except (OSError, ValueError):
        return bytes(16)


class SyncMark(Frozen):
    """The content of `indexes/synced` (docs/format.md, "Indexes")."""

    __slots__ = __match_args__ = ("txn_id", "clean", "boot")
    txn_id: int
    clean: bool
    boot: bytes

    def __init__(self, txn_id: int, clean: bool, boot: bytes) -> None:
        set_field(self, "txn_id", txn_id)
        set_field(self, "clean", clean)
        set_field(self, "boot", boot)


def read_mark(directory: str) -> SyncMark | None:
    try:
        with open(os.path.join(directory, SYNC_MARK_NAME), "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None
    if len(data) != _MARK.size:
        return None
    magic, txn_id, clean, boot, crc = _MARK.unpack(data)
    if magic != _MARK_MAGIC or crc != zlib.crc32(data[:-4]):
        return None
    return SyncMark(txn_id, bool(clean), boot)


def _write_mark(directory: str, mark: SyncMark) -> None:
    body = _MARK.pack(_MARK_MAGIC, mark.txn_id, int(mark.clean), mark.boot, 0)[:-4]
    fs.write_file_atomically(
        os.path.join(directory, SYNC_MARK_NAME), body + _CRC.pack(zlib.crc32(body))
    )


def _evict_idle(keep: int) -> None:
    """Close least recently used environments with no open reader until `keep` are open."""
    for index in list(_open_envs):
        if len(_open_envs) <= keep:
            return
        if index._readers == 0:
            # Not this caller's index: a failed sync only leaves its mark dirty (the next
            # open after a reboot rebuilds it), and must not fail an unrelated open.
            with contextlib.suppress(Exception):
                index._release()


def _reports(method: _F) -> _F:
    """Turn a damaged entry met by `method` into a CorruptionError naming the table and the
    key, and flag the index so that the writer rebuilds it (and a reader reads the log)."""
    if method.__code__.co_flags & _CO_GENERATOR:  # (not `inspect`: a cold start skips it)

        @functools.wraps(method)
        def generator(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                yield from method(self, *args, **kwargs)
            except EntryDamaged as exc:
                raise _corruption(self, exc) from None

        return cast(_F, generator)

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except EntryDamaged as exc:
            raise _corruption(self, exc) from None

    return cast(_F, call)


def _corruption(owner: Any, exc: EntryDamaged) -> CorruptionError:
    index: TableIndex = owner.index if isinstance(owner, IndexReader) else owner
    index.damaged = True
    return CorruptionError(
        os.path.join("tables", index.table, "indexes", "data.mdb"),
        None,
        f'an entry of table "{index.table}" ({index.describe(exc.db, exc.key)}) {exc.why}: '
        "the index is not used until it is rebuilt from the log (the writer rebuilds it "
        "on its next read or open)",
    )


class TableIndex:
    """The LMDB environment of one table. Open read-write only in the writer process.

    Why there is no limit on tables (the choice, among one environment per database, a
    growing map, or bounded open environments: this takes the last two, as they keep the
    per-table layout and its one-transaction rebuilds):
    - the map starts at FIRST_MAP_BYTES (not 1 TiB of address space per table), or twice
      the data when the writer opens it, and doubles when the data fills half of it; LMDB
      allows that only when this process has no transaction on the environment, so it is
      done before a write transaction starts, never under a reader (`_grow`: a write that
      needs the room waits for the reads of other threads; a reader that finds the map grown
      by the writer remaps the same way);
    - at most MAX_OPEN_ENVS environments are open in a process: the least recently used one
      with no open reader is closed (synced, marked clean) and reopened on its next use, so
      descriptors and mappings stay bounded however many tables and databases are open.

    Durability under power loss: commits are not fsynced (sync=False, metasync=False; the log
    is the truth). The `synced` file beside data.mdb (CRC-checked, replaced atomically)
    records the last transaction known durable and whether the environment was written after
    it: marked dirty (with the boot id) before the first write of a session, clean after
    `sync()` (on close, rebuild, purge, compaction). On open the environment is trusted when
    it is clean at the marked transaction, or dirty within the same boot (a killed process
    leaves its pages in the page cache). Otherwise (a power cut, a reboot after a crash, a
    data.mdb restored or copied in) its pages may mix before and after: the writer deletes
    it and rebuilds from the log (`rebuilt_reason` says why), a reader does not use it.
    """

    def __init__(
        self, directory: str, columns: tuple[str, ...], readonly: bool, table: str | None = None
    ) -> None:
        self.directory = directory
        self.columns = columns
        self.readonly = readonly
        self.table = table or os.path.basename(os.path.dirname(os.path.abspath(directory)))
        self.damaged = False  # an entry failed its checksum: rebuild before trusting it again
        self.rebuilt_reason: str | None = None  # the files were discarded on open (untrusted)
        self.was_missing = False  # a writer found no data.mdb here: built from the log
        self._env: Any = None
        # One item per read open in this process: list append and pop are atomic, so counting
        # takes no lock. Growing the map needs a moment with none (see `_grow`).
        self._open_reads: list[None] = []
        self._no_readers = threading.Condition(threading.Lock())
        self._grow_waiting = False
        self._held = threading.local()  # .reads: [the reads this thread opened and holds]
        self._marked_dirty = False
        self._compact_pending = False  # a purge's rewrite waits for the readers to close
        self._packed_pages: int | None = None  # data.mdb's size when last packed (0: never)
        self._page_bytes = 4096
        self.names: dict[int, str] = {}
        self.txn_meta: _TxnMeta | None = None  # the meta entries of the newest txn read
        if not readonly:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        self._open(first=True)

    # -- the environment -------------------------------------------------------------------

    @property
    def _readers(self) -> int:
        """Reads open on the environment in this process."""
        return len(self._open_reads)

    @property
    def env(self) -> Any:
        if self._env is None:
            self._open(first=False)
        elif len(_open_envs) > MAX_OPEN_ENVS // 2:
            # Recency matters only near the limit (it picks what to close): a point read
            # far from it skips the lock.
            with _open_lock:
                _open_envs.move_to_end(self)
        return self._env

    def _open(self, first: bool) -> None:
        """Open the environment. A reader process may see the writer grow the map between
        LMDB's open and its first transaction (MapResizedError): it opens again, which maps
        the new size (later transactions adopt a new size in `read`)."""
        for attempt in range(OPEN_ATTEMPTS):
            try:
                self._open_once(first)
                return
            except lmdb.MapResizedError:
                if self._env is not None:
                    with contextlib.suppress(lmdb.Error):
                        self._env.close()
                    self._env = None
                    _open_envs.pop(self, None)
                if attempt == OPEN_ATTEMPTS - 1:
                    raise

    def _open_once(self, first: bool) -> None:
        with _open_lock:
            _evict_idle(MAX_OPEN_ENVS - 1)
            data_path = os.path.join(self.directory, "data.mdb")
            fresh = not os.path.exists(data_path)
            if fresh and first and not self.readonly:
                self.was_missing = True
            env = self._open_env()
            self._env = env  # (closed by `_open` if the map is resized under this open)
            if not fresh:
                why = self._distrust(env)
                if why is not None and first and not self.readonly:
                    env.close()
                    self._env = None
                    for name in ("data.mdb", "lock.mdb"):
                        with contextlib.suppress(FileNotFoundError):
                            os.remove(os.path.join(self.directory, name))
                    self.rebuilt_reason = why
                    fresh = True
                    env = self._env = self._open_env()
                elif why is not None:
                    env.close()
                    self._env = None
                    raise CorruptionError(
                        os.path.join("tables", self.table, "indexes", "data.mdb"), None, why
                    )
            self._env = env
            self._packed_pages = None  # read from meta when `close` asks
            self._page_bytes = int(env.stat()["psize"])
            if not self.readonly:
                # No transaction is open yet: the one moment the map surely can grow. A packed
                # data.mdb fills its map exactly, so without this its first write would grow
                # it, perhaps with reads open.
                used = (int(env.info()["last_pgno"]) + 1) * self._page_bytes
                if used * 2 > int(env.info()["map_size"]):
                    env.set_mapsize(used * 2)
            create = not self.readonly
            self.keys = env.open_db(b"keys", create=create)
            self.seqs = env.open_db(b"seqs", create=create)
            self.time = env.open_db(b"time", create=create)
            self.meta = env.open_db(b"meta", create=create)
            self.ix = {c: env.open_db(f"ix:{c}".encode(), create=create) for c in self.columns}
            self.cnt = {}
            for c in self.columns:
                counts = _open_counts(env, c, create)
                if counts is not None:
                    self.cnt[c] = counts
            self.names = {id(self.keys): "keys", id(self.seqs): "seqs", id(self.time): "time"}
            self.names[id(self.meta)] = "meta"
            for c in self.columns:
                self.names[id(self.ix[c])] = f"ix:{c}"
            for c, counts in self.cnt.items():
                self.names[id(counts)] = f"cnt:{c}"
            _open_envs[self] = None
            if fresh and not self.readonly:
                with env.begin(write=True) as txn:
                    _SealedTxn(txn, self.names).put(b"counts", b"1", db=self.meta)
                self.sync(force=True)

    def _open_env(self) -> Any:
        # LMDB opens data.mdb and lock.mdb itself (readers write lock.mdb too): only when they
        # are regular files or absent, never through a link or into a FIFO. Checked at every
        # open, reopens after an idle environment was closed included.
        check_index_files(self.directory)
        env = lmdb.open(
            self.directory,
            max_dbs=MAX_DBS,  # room for ALTER TABLE ADD INDEX without reopening
            map_size=FIRST_MAP_BYTES,
            readonly=self.readonly,
            sync=False,
            metasync=False,
            readahead=False,
            max_readers=256,
            lock=True,
            mode=0o600,
        )
        # A data.mdb cut shorter than its own last page would fault (SIGBUS) on the first read
        # of a missing page: refuse it here, and the caller rebuilds from the log.
        data_path = os.path.join(self.directory, paths.INDEX_DATA)
        needed = (env.info()["last_pgno"] + 1) * env.stat()["psize"]
        if os.path.getsize(data_path) < needed:
            env.close()
            raise lmdb.CorruptedError(f"{data_path} is shorter than its last page")
        return env

    def _distrust(self, env: Any) -> str | None:
        """Why the environment's pages may not all be from one durable state (None: trust)."""
        mark = read_mark(self.directory)
        txn_id = int(env.info()["last_txnid"])
        if mark is None:
            return "the index has no valid sync mark (an older format, or a copied file)"
        if mark.clean and mark.txn_id == txn_id:
            return None
        if not mark.clean and mark.boot == boot_id():
            self._marked_dirty = True  # the next sync marks it clean
            return None  # written in this boot: the page cache holds every page
        if mark.clean:
            return (
                f"data.mdb is at transaction {txn_id} but was synced at {mark.txn_id} "
                "(a file restored or copied in)"
            )
        return "the index was written after its last sync and the machine restarted since"

    def _release(self) -> None:
        """Close the environment (it reopens on next use); a writer's is synced first."""
        if self._env is None:
            return
        try:
            if not self.readonly:
                self.sync()
        finally:
            self._env.close()
            self._env = None
            _open_envs.pop(self, None)

    def close(self) -> None:
        """Close the environment, syncing it first. A failed sync loses nothing that was
        acknowledged (the log is durable): it only leaves the mark dirty, so the index is
        rebuilt if the machine restarts before the next clean close.
        Before closing, data.mdb is rewritten packed when a purge asked for it or it has
        grown by half since it was last packed (`_wants_packing`). A rewrite that fails (a
        full disk) leaves data.mdb as it was, which is correct, only bigger: the close goes
        on, and the next one tries again."""
        with _open_lock:
            if (self._compact_pending and self._readers == 0) or self._wants_packing():
                with contextlib.suppress(OSError, lmdb.Error):
                    self.rewrite_compacted()
            with contextlib.suppress(OSError):
                self._release()

    def sync(self, force: bool = False) -> None:
        """Make every committed transaction durable and mark the environment clean (nothing
        to do when the mark on disk is clean already, unless `force`)."""
        env = self._env
        if env is None or self.readonly or not (self._marked_dirty or force):
            return
        env.sync(True)
        _write_mark(self.directory, SyncMark(int(env.info()["last_txnid"]), True, boot_id()))
        self._marked_dirty = False

    @staticmethod
    def _packed_record(pages: int) -> dict[bytes, list[tuple[bytes, bytes]]]:
        """The meta entry a packed copy carries: its size, so `close` can tell how far the
        file has grown since."""
        return {b"meta": [(b"packed", _seal(b"packed", _pack({"pages": pages})))]}

    def _wants_packing(self) -> bool:
        """Whether `close` should rewrite data.mdb packed: it is big enough to matter and
        has grown by half since it was last packed (so packing costs O(1) per byte written,
        amortised), or was never packed. See docs/format.md, "Packing"."""
        env = self._env
        if env is None or self.readonly or self._readers:
            return False
        pages = int(env.info()["last_pgno"]) + 1
        if pages < PACK_MIN_PAGES:
            return False
        if self._packed_pages is None:
            with env.begin(buffers=False) as txn:
                raw = _SealedTxn(txn, self.names).get(b"packed", db=self.meta)
            self._packed_pages = int(_unpack(raw)["pages"]) if raw is not None else 0
        return pages * 2 >= self._packed_pages * 3

    def rewrite_compacted(self) -> None:
        """Replace data.mdb by a packed copy of itself (`index/pack.py`: the live entries
        only, every page filled), so pages freed by earlier transactions, and whatever bytes
        they held, are gone from the file: PURGE's erasure, and the space `close` reclaims.
        Needs no open reader in this process.
        1. copy to indexes/.compact/data.mdb (packed), fsync it;
        2. mark the copy's transaction as the synced one, then rename it over data.mdb and
           fsync the directory (a crash between the two leaves a mark that does not match:
           the next writer rebuilds from the log, which holds no purged byte either);
        3. reopen.
        With a read open in this process the environment cannot be closed: the rewrite then
        waits for `close()`."""
        if self.readonly:
            return
        if self._readers:
            self._compact_pending = True
            return
        self._compact_pending = False
        import shutil  # imported when used: reads never need it

        staging = os.path.join(self.directory, ".compact")
        shutil.rmtree(staging, ignore_errors=True)
        os.makedirs(staging)
        try:
            pages = copy_packed(self.env, staging, MAX_DBS, self._packed_record)
            copied = os.path.join(staging, "data.mdb")
            fd = os.open(copied, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            self._packed_pages = pages
            probe = lmdb.open(staging, readonly=True, lock=False, max_dbs=MAX_DBS)
            try:
                txn_id = int(probe.info()["last_txnid"])
            finally:
                probe.close()
            with _open_lock:
                self._release()
                _write_mark(self.directory, SyncMark(txn_id, True, boot_id()))
                fs.layer().rename(copied, os.path.join(self.directory, "data.mdb"))
                fs.layer().fsync_dir(self.directory)
                self._open(first=False)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def read(self) -> IndexReader:
        open_reads = self._open_reads
        open_reads.append(None)  # counted first, then the flag: see `_grow`
        try:
            held = self._held.reads
        except AttributeError:
            held = self._held.reads = [0]
        if self._grow_waiting and not held[0]:
            # A grow waits for the open reads to close: a new read waits for it (else a
            # stream of overlapping reads could hold the map at its size for ever); a thread
            # that already holds a read goes on (the grow waits for that one).
            open_reads.pop()
            with self._no_readers:
                self._no_readers.notify_all()
                self._no_readers.wait_for(lambda: not self._grow_waiting, GROW_WAIT_S)
                open_reads.append(None)
        try:
            env = self.env
            try:
                txn = env.begin(buffers=False)
            except lmdb.MapResizedError:
                env.set_mapsize(0)  # the writer grew the map: adopt its size (no txn open here)
                txn = env.begin(buffers=False)
        except BaseException:
            open_reads.pop()
            raise
        held[0] += 1
        return IndexReader(self, _SealedTxn(txn, self.names), held)

    def reader_closed(self, held: list[int]) -> None:
        """A read is closed (`held`: the count of its opening thread, whichever closes it)."""
        self._open_reads.pop()
        held[0] -= 1
        if self._grow_waiting:
            with self._no_readers:
                self._no_readers.notify_all()

    def _grow(self, map_size: int, used: int) -> None:
        """(Before a write transaction, when the data fills half the map.) Double the map.
        LMDB allows a resize only with no transaction open on the environment in this
        process: with reads open it is left for a later write until the data fills three
        quarters; then this write waits (up to GROW_WAIT_S, new reads held back) for the
        reads of other threads to close. A thread that holds a read itself, or a read held
        past the wait, leaves the map as it is: the write still has the last quarter, and
        only a write that does not fit fails (MDB_MAP_FULL).
        No lock on the read path: a read counts itself, then looks at `_grow_waiting`; this
        sets the flag, then looks at the count. Whichever comes second sees the other, so no
        read begins while the map is resized."""
        with self._no_readers:
            self._grow_waiting = True
            try:
                own = getattr(self._held, "reads", (0,))[0]
                if self._open_reads and used * 4 > map_size * 3 and not own:
                    self._no_readers.wait_for(lambda: not self._open_reads, GROW_WAIT_S)
                if not self._open_reads:
                    self.env.set_mapsize(max(map_size, used) * 2)
            finally:
                self._grow_waiting = False
                self._no_readers.notify_all()

    def _write(self, body: Callable[[_SealedTxn], None]) -> None:
        """Run `body` in one write transaction: mark the environment dirty first (durably,
        once per session), grow the map first when it is half full, and again (then retry)
        if the transaction fills it."""
        env = self.env
        if not self._marked_dirty:
            _write_mark(self.directory, SyncMark(int(env.info()["last_txnid"]), False, boot_id()))
            self._marked_dirty = True
        for _attempt in range(40):
            info = env.info()
            used = (info["last_pgno"] + 1) * self._page_bytes
            if used * 2 > info["map_size"]:
                self._grow(int(info["map_size"]), used)
            try:
                with env.begin(write=True) as txn:
                    body(_SealedTxn(txn, self.names))
                return
            except lmdb.MapFullError:
                if self._readers:
                    raise lmdb.MapFullError(
                        "the index map is full, and reads held open in this process keep it "
                        "from growing"
                    ) from None
                self._grow(int(env.info()["map_size"]), int(env.info()["map_size"]))
        raise lmdb.MapFullError("the index map could not grow")

    def describe(self, db: str, key: bytes) -> str:
        """A damaged entry's place, in words: which structure and which key."""
        try:
            if db == "keys":
                return f"key directory, key {decode_key(key[:-8])!r}"
            if db == "seqs":
                return f"seq {read_u64(key)}"
            if db.startswith("ix:"):
                length = encoded_length(key)
                return f"index on {db[3:]}, key {decode_key(key, length + 8)!r}"
            if db.startswith("cnt:"):
                return f"value counts of {db[4:]}, value {decode_value(bytes(key))[1]!r}"
        except (ValueError, IndexError, UnicodeDecodeError):
            pass
        return f"{db} entry {bytes(key)[:40].hex()}"

    def clear(self) -> None:
        """Drop every entry (before a rebuild from the log); the generation moves on."""
        self._write(self._drop_all)

    def _drop_all(self, txn: Any) -> None:
        raw = txn.get(b"generation", db=self.meta)
        generation = int(_unpack(raw)) if raw is not None else 0
        self._packed_pages = None  # a rebuilt index has never been packed
        identity = txn.get(b"identity", db=self.meta)  # whose index this is outlives a rebuild
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
        if identity is not None:
            txn.put(b"identity", identity, db=self.meta)

    def set_identity(self, identity: dict[str, str]) -> None:
        """Record which table and which log this index belongs to (docs/format.md, "Index
        identity")."""
        self._write(lambda txn: txn.put(b"identity", _pack(identity), db=self.meta))

    def generation(self) -> int:
        """A counter bumped whenever frame locations change (remap, rebuild, clear): a read
        that straddles a change sees two different values and retries."""
        with self.read() as reader:
            return int(reader.generation())

    @_reports
    def apply(
        self,
        located: list[Located],
        primary_key: str,
        known: list[tuple[dict[str, Any] | None, dict[str, Any] | None]] | None = None,
    ) -> None:
        """Add events (in seq order, after what is covered) in one transaction with the new
        covered position, so a reader sees all of them or none. `known`: the row before and
        after each event, as the batch that wrote them computed (saves a seek, a row decode
        and a patch per event); without it they are read from the key directory."""
        if not located:
            return
        self._write(lambda txn: self._apply_in(txn, located, primary_key, known=known))

    @_reports
    def rebuild(
        self,
        located: list[Located],
        primary_key: str,
        base: tuple[Horizon, list[tuple[Key, dict[str, Any]]]] | None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Replace every entry by those of `base` (the horizon and the rows of the base
        snapshot) followed by `located`, in ONE transaction: a reader sees the old index or
        the new one, never an empty or half-built one. `progress(done, total)`: events
        applied so far."""

        def body(txn: _SealedTxn) -> None:
            self._drop_all(txn)
            rows: dict[bytes, dict[str, Any]] = {}
            if base is not None:
                self._seed_in(txn, base[0], base[1])
                rows = {encode_key(key): row for key, row in base[1]}
            self._apply_in(txn, located, primary_key, rows, progress=progress)

        self._write(body)
        self.damaged = False
        self.sync(force=True)

    @_reports
    def add_columns(
        self, columns: list[str], progress: Callable[[int, int], None] | None = None
    ) -> int:
        """Build the temporal index and value counts of new indexed `columns` from every
        version in the key directory (so reads AS OF any covered seq can use them), in one
        write transaction: readers see no index on them, or the whole of it. Returns how
        many versions were read. The entries equal what maintaining them from the first
        event would have left (`_Runs.change`, then `_recount` per value)."""
        env = self.env
        for column in columns:
            self.ix[column] = env.open_db(f"ix:{column}".encode(), create=True)
            self.cnt[column] = _open_counts(env, column, True)
            self.names[id(self.ix[column])] = f"ix:{column}"
            self.names[id(self.cnt[column])] = f"cnt:{column}"
        read = [0]

        def body(txn: _SealedTxn) -> None:
            for column in columns:
                txn.drop(self.ix[column], delete=False)
                txn.drop(self.cnt[column], delete=False)
            total = int(txn.stat(self.keys)["entries"])
            runs = [_Runs(txn, column, self.ix[column]) for column in columns]
            done = _runs_of_versions(txn.cursor(db=self.keys), runs, total, progress)
            for column in columns:
                values: list[bytes] = []
                cursor = txn.cursor(db=self.ix[column])
                position = cursor.first()
                while position:
                    value = bytes(cursor.key()[: encoded_length(cursor.key())])
                    values.append(value)
                    position = cursor.set_range(value + _PAST_ALL)
                for value in values:
                    _recount(txn, self.ix[column], self.cnt[column], value)
            if progress is not None:
                progress(total, total)
            read[0] = done

        self._write(body)
        self.columns = (*self.columns, *columns)
        self.sync(force=True)
        return read[0]

    @_reports
    def drop_columns(self, columns: list[str]) -> None:
        """Empty and forget the entries of indexed `columns` (the named sub-databases stay,
        empty, so that a reader that still has them open reads nothing stale)."""

        def body(txn: _SealedTxn) -> None:
            for column in columns:
                if column in self.ix:
                    txn.drop(self.ix[column], delete=False)
                    txn.drop(self.cnt[column], delete=False)

        self._write(body)
        for column in columns:
            self.ix.pop(column, None)
            self.cnt.pop(column, None)
        self.columns = tuple(c for c in self.columns if c not in columns)
        self.sync(force=True)

    def snapshot_images(self, seq: int, chunk_keys: int = 4096) -> Iterator[tuple[Key, bytes]]:
        """Every row live at `seq` as (key, its msgpack bytes as stored), in primary-key order:
        what a snapshot file holds, without decoding a row (a background snapshot of a large
        table then makes no Python object per row, so it neither holds the interpreter nor
        sets off the garbage collector while commits run)."""
        for pk, image in self._newest_images(seq, chunk_keys):
            yield decode_key(pk), image

    def _newest_images(self, seq: int, chunk_keys: int) -> Iterator[tuple[bytes, bytes]]:
        """(enc(pk), row image) of every key whose newest version <= `seq` has a row, in key
        order, each entry's checksum checked, read in short read transactions of `chunk_keys`
        keys each: a background snapshot's consistent read (the key directory only gains
        versions after `seq`, and maintenance waits for the snapshot), which never holds one
        transaction open long enough to stop the writer growing the map. Yielded a chunk at a
        time, so what the caller makes of them is freed as it goes."""
        head = _VERSION.size
        start = b""
        while True:
            chunk: list[tuple[bytes, bytes]] = []
            finished = True
            with self.read() as reader:
                cursor = reader.txn.cursor(db=self.keys)
                if not cursor.set_range(start):
                    return
                current_pk: bytes | None = None
                best: bytes | None = None
                seen = 0
                for key, value in cursor:
                    pk = key[:-8]
                    if pk != current_pk:
                        if best is not None and current_pk is not None and len(best) > head:
                            chunk.append((current_pk, best[head:]))
                        current_pk, best = pk, None
                        seen += 1
                        if seen % 128 == 0:
                            time.sleep(0)  # let a waiting thread (a commit) run
                        if seen > chunk_keys:
                            start = pk  # this key starts the next chunk
                            finished = False
                            break
                    if read_u64(key, len(key) - 8) <= seq:
                        best = value
                else:
                    if best is not None and current_pk is not None and len(best) > head:
                        chunk.append((current_pk, best[head:]))
            yield from chunk
            if finished:
                return

    @_reports
    def remap(self, moves: dict[int, tuple[int, int]], covered_end: tuple[int, int] | None) -> None:
        """Point the versions of the seqs in `moves` at their frames' new (segment, offset),
        in one transaction, after compaction moved the frames (the rows do not change).
        `covered_end` is the new end of the covered seq's frame when it moved."""
        self._write(lambda txn: self._remap_in(txn, moves, covered_end))

    @_reports
    def purge_key(  # noqa: C901 (one LMDB write transaction over every sub-database a key touches)
        self, key: Key, moves: dict[int, tuple[int, int]], covered_end: tuple[int, int] | None
    ) -> None:
        """Erase `key` from the entries (as a rebuild from the redacted log would leave them)
        and remap the frames a purge moved, in one transaction:
        - every version of the key keeps its seq, type and time but no row; its synthetic
          base version (if any) goes, as the purged base snapshot no longer holds it;
        - its runs in the secondary indexes go;
        - the live count after every seq at which the key was live drops by one;
        - the value counts of every value the key held are recounted from the runs that
          remain (a value only the key held loses its count entries: no trace of it stays)."""
        pk = encode_key(key)

        def body(txn: _SealedTxn) -> None:  # noqa: C901 (see purge_key)
            held: dict[str, set[bytes]] = {column: set() for column in self.ix}
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
                    if value is not None:
                        held[column].add(value)
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
                    (live,) = struct.unpack_from("<q", entry, 0)
                    struct.pack_into("<q", entry, 0, live - 1)
                    seqs.put(k, bytes(entry))
            if live_from is not None:
                raw = txn.get(b"covered", db=self.meta)
                if raw is not None:
                    covered = _unpack(raw)
                    covered["live"] -= 1
                    txn.put(b"covered", _pack(covered), db=self.meta)
            for column, values in held.items():
                for value in values:
                    _recount(txn, self.ix[column], self.cnt[column], value)
            self._remap_in(txn, moves, covered_end)

        self._write(body)

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
            txn.put(u64(seq), _relocate(raw, 8, segment, offset), db=self.seqs)
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
        runs = [_Runs(txn, c, db, txn.cursor(db=self.cnt[c])) for c, db in self.ix.items()]
        seq_key = u64(seq)
        for key, row in rows:
            pk = encode_key(key)
            txn.put(
                pk + seq_key,
                _version_value(int(EventType.INSERT), horizon.base_unix_ms, NO_SEGMENT, 0, row),
                db=self.keys,
            )
            for column_runs in runs:
                column_runs.change(pk, seq, seq_key, None, column_runs.encoded(row))
        for column_runs in runs:
            column_runs.flush()
        txn.put(u64(seq), _seq_value(len(rows), NO_SEGMENT, 0, b""), db=self.seqs)
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
        txn: _SealedTxn,
        located: list[Located],
        primary_key: str,
        rows: dict[bytes, dict[str, Any]] | None = None,
        known: list[tuple[dict[str, Any] | None, dict[str, Any] | None]] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """`rows`: when rebuilding, the current row of every key (saves a seek per event);
        `known`: the row before and after each event (see `apply`); `progress(done, total)`
        is told of the events applied at each flush and at the end."""
        if not located:
            return
        changes = known if known is not None else self._replayed(txn, located, primary_key, rows)
        raw = txn.get(b"covered", db=self.meta)
        runs = [
            # the tally: each value's live count after the last event seen (one seek per
            # value per apply)
            _Runs(txn, column, db, txn.cursor(db=self.cnt[column]), {})
            for column, db in self.ix.items()
        ]
        entries = _Entries(txn, self, runs, int(_unpack(raw)["live"]) if raw else 0)
        last = len(located) - 1
        for position, (prev_row, row) in enumerate(changes):
            item = located[position]
            # The time index needs only the last seq of each millisecond (a batch shares one
            # timestamp): AS OF <time> seeks the last entry at or before it.
            last_of_ms = (
                position == last or located[position + 1].event.unix_ms != item.event.unix_ms
            )
            entries.add(item, prev_row, row, last_of_ms)
            if position % _FLUSH_EVENTS == _FLUSH_EVENTS - 1:
                entries.flush()
                if progress is not None:
                    progress(position + 1, len(located))
        entries.flush()
        if progress is not None:
            progress(len(located), len(located))
        end = located[-1]
        txn.put(
            b"covered",
            _pack(
                {
                    "seq": end.event.seq,
                    "segment": end.segment,
                    "offset": end.end_offset,
                    "unix_ms": end.event.unix_ms,
                    "live": entries.live,
                    "format": INDEX_FORMAT,
                }
            ),
            db=self.meta,
        )

    def _replayed(
        self,
        txn: _SealedTxn,
        located: list[Located],
        primary_key: str,
        rows: dict[bytes, dict[str, Any]] | None,
    ) -> Iterator[tuple[dict[str, Any] | None, dict[str, Any] | None]]:
        """The row before and after each event, replayed on `rows` (a rebuild's current rows,
        kept up to date here), else on the key directory as it stood before these events (one
        seek per key: `_Entries` writes the versions only when it flushes). Yielded one at a
        time, so a rebuild holds no more rows than the live ones."""
        cursor = txn.cursor(db=self.keys)
        latest: dict[bytes, dict[str, Any] | None] = {}  # the rows these events left
        for item in located:
            event = item.event
            pk = encode_key(event.key)
            if rows is not None:
                prev_row = rows.get(pk)
            elif pk in latest:
                prev_row = latest[pk]
            else:
                prev = _last_version(cursor, pk, MAX_U64)
                prev_row = prev.row if prev is not None else None
            row = event_row_after(prev_row, event, primary_key)
            if rows is None:
                latest[pk] = row
            elif row is None:
                rows.pop(pk, None)
            else:
                rows[pk] = row
            yield prev_row, row


def _open_counts(env: Any, column: str, create: bool) -> Any:
    """The `cnt:` sub-database of `column` (dupsort, dupfixed: docs/format.md). LMDB keeps
    the flags a sub-database was created with, whatever `open_db` asks: one left by an
    index of format 7 or older (a key per change) is dropped and created afresh by a
    writer, empty (such an index is rebuilt from the log: its `covered` names its format).
    A reader gets None for it: its handle keeps the old flags even after a writer has
    rebuilt the index in place (LMDB then refuses it, MDB_INCOMPATIBLE), so its counts are
    not used until the environment is reopened; the planner counts rows instead."""
    name = f"cnt:{column}".encode()
    db = env.open_db(name, create=create, **_COUNT_DB_FLAGS)
    if not create and not db.flags()["dupsort"]:
        return None
    if create and not db.flags()["dupsort"]:
        with env.begin(write=True) as txn:
            txn.drop(db, delete=True)
            db = env.open_db(name, txn=txn, create=True, **_COUNT_DB_FLAGS)
    return db


_OPEN_RUN = u64(MAX_U64)  # the valid_to of an open run
_FLUSH_EVENTS = 8192  # a long apply (a rebuild) writes its entries every this many events


def _put_sorted(raw_txn: Any, db: Any, entries: list[tuple[bytes, bytes]], ascending: bool) -> None:
    """Put sealed entries (distinct keys) in one `putmulti`, in key order (`ascending`: they
    are already), so neighbouring keys are written together. When every key sorts after the
    last key stored (a commit's seqs and times; the versions of keys that ascend) they are
    appended: LMDB skips the search and fills each page instead of splitting it half-empty."""
    if not entries:
        return
    if not ascending:
        entries.sort()
    cursor = raw_txn.cursor(db=db)
    append = not cursor.last() or cursor.key() < entries[0][0]
    _consumed, added = cursor.putmulti(entries, append=append)
    if added != len(entries):
        raise lmdb.Error(f"put {added} of {len(entries)} entries")


class _Runs:
    """The temporal index of one column (`ix:<column>`) as one write transaction changes it.
    The entries it puts are held here until `flush` writes them in key order with one
    `putmulti` (a later event of the same transaction finds them here: a run opened and
    closed in one batch); an open run that ends is taken out of LMDB at once (`pop`: one
    search). The value counts are bumped as each run opens or closes (`counts`: None when
    the caller recounts afterwards)."""

    __slots__ = ("counts", "db", "field", "name", "path", "pending", "raw", "tally")

    def __init__(
        self,
        txn: _SealedTxn,
        column: str,
        db: Any,
        counts: Any = None,
        tally: dict[bytes, int] | None = None,
    ) -> None:
        self.raw = txn.txn
        self.db = db
        self.name = f"ix:{column}"
        self.path = column
        self.field = None if "." in column else column  # a top-level field: one dict lookup
        # key -> value (unsealed) to put; None: deleted (already out of LMDB)
        self.pending: dict[bytes, bytes | None] = {}
        self.counts = counts
        self.tally = tally

    def encoded(self, row: dict[str, Any] | None) -> bytes | None:
        """The encoding of the column's value in `row` (None: no row)."""
        if row is None:
            return None
        field = self.field
        return encode_value(row.get(field) if field is not None else resolve(row, self.path))

    def change(
        self, pk: bytes, seq: int, seq_key: bytes, old: bytes | None, new: bytes | None
    ) -> None:
        """`pk`'s value went from `old` to `new` (encodings, unequal; None: no row) at `seq`
        (`seq_key` = u64(seq)): the open run of `old` ends at `seq`, one of `new` begins."""
        pending = self.pending
        if old is not None:
            open_key = old + _OPEN_RUN + pk
            if open_key in pending:
                start = pending[open_key]
            else:
                # taken out of LMDB now (one search for the read and the delete)
                stored = self.raw.pop(open_key, db=self.db)
                start = None if stored is None else _unseal(self.name, open_key, stored)
            if start is not None:
                pending[open_key] = None
                pending[old + seq_key + pk] = start
                if self.counts is not None:
                    _bump_count(self.counts, old, seq, -1, self.tally)
        if new is not None:
            pending[new + _OPEN_RUN + pk] = seq_key
            if self.counts is not None:
                _bump_count(self.counts, new, seq, +1, self.tally)

    def flush(self) -> None:
        """Write the entries held (a deleted one, None, was taken out of LMDB by `change`)."""
        puts = [
            (key, _seal(key, value)) for key, value in self.pending.items() if value is not None
        ]
        self.pending.clear()
        _put_sorted(self.raw, self.db, puts, ascending=False)


class _Entries:
    """The entries of the events one write transaction adds (versions, seqs, times, runs),
    sealed as they come and written by `flush` with one `putmulti` per sub-database."""

    __slots__ = ("index", "live", "packer", "raw", "runs", "seqs", "times", "versions")

    def __init__(self, txn: _SealedTxn, index: TableIndex, runs: list[_Runs], live: int) -> None:
        self.raw = txn.txn
        self.index = index
        self.runs = runs
        self.live = live  # live rows after the last event added
        self.packer = msgpack.Packer(use_bin_type=True)  # (this transaction's own: not shared)
        self.versions: list[tuple[bytes, bytes]] = []
        self.seqs: list[tuple[bytes, bytes]] = []
        self.times: list[tuple[bytes, bytes]] = []

    def add(
        self,
        item: Located,
        prev_row: dict[str, Any] | None,
        row: dict[str, Any] | None,
        last_of_ms: bool,
    ) -> None:
        """One event, its row before and after (`last_of_ms`: the last event of its
        millisecond in this transaction, which the time index records)."""
        event = item.event
        seq = event.seq
        seq_key = _U64_BE.pack(seq)
        pk = encode_key(event.key)
        if prev_row is None:
            if row is not None:
                self.live += 1
        elif row is None:
            self.live -= 1
        key = pk + seq_key
        value = _VERSION.pack(event.type, event.unix_ms, item.segment, item.offset)
        if row is not None:
            value += self.packer.pack(row)
        self.versions.append((key, _seal(key, value)))
        old: bytes | None
        new: bytes | None
        for runs in self.runs:
            field = runs.field
            if field is None:
                old, new = runs.encoded(prev_row), runs.encoded(row)
            elif prev_row is None:  # (an insert: no run ends)
                if row is None:
                    continue
                old, new = None, encode_value(row.get(field))
            elif row is None:  # (a delete: no run begins)
                old, new = encode_value(prev_row.get(field)), None
            else:
                before, after = prev_row.get(field), row.get(field)
                if before is after:
                    continue  # (a patch that left the field alone) the open run goes on
                old, new = encode_value(before), encode_value(after)
            if old != new:
                runs.change(pk, seq, seq_key, old, new)
        value = _SEQ.pack(self.live, item.segment, item.offset) + pk
        self.seqs.append((seq_key, _seal(seq_key, value)))
        if last_of_ms:
            key = _U64_BE.pack(event.unix_ms) + seq_key
            self.times.append((key, _seal(key, b"")))

    def flush(self) -> None:
        raw, index = self.raw, self.index
        _put_sorted(raw, index.keys, self.versions, ascending=False)
        for runs in self.runs:
            runs.flush()
        _put_sorted(raw, index.seqs, self.seqs, ascending=True)
        _put_sorted(raw, index.time, self.times, ascending=True)
        self.versions, self.seqs, self.times = [], [], []


def _runs_of_versions(
    versions: _SealedCursor,
    runs: list[_Runs],
    total: int,
    progress: Callable[[int, int], None] | None,
) -> int:
    """Write the runs of every version in the key directory (`versions`, a cursor on it) to
    `runs` (no counts: the caller recounts); returns how many versions were read."""
    previous_pk: bytes | None = None
    previous_row: dict[str, Any] | None = None
    done = 0
    for key, value in versions:
        pk = bytes(key[:-8])
        if pk != previous_pk:
            previous_pk, previous_row = pk, None
        row = _version_row(value, key)
        seq_key = key[-8:]
        for column_runs in runs:
            old, new = column_runs.encoded(previous_row), column_runs.encoded(row)
            if old != new:
                column_runs.change(pk, read_u64(seq_key), seq_key, old, new)
        previous_row = row
        done += 1
        if done % _FLUSH_EVENTS == 0:
            for column_runs in runs:
                column_runs.flush()
        if progress is not None and done % 10_000 == 0:
            progress(done, total)
    for column_runs in runs:
        column_runs.flush()
    return done


# -- value counts (`cnt:<column>`, docs/format.md "Value counts") ---------------------------
#
# One key per value, enc(value); under it one fixed-size duplicate per seq at which the
# number of live rows holding the value changed, in seq order (LMDB dupsort + dupfixed):
# u48 seq, u32 count (big-endian, so byte order is seq order), then the CRC-32 of the key
# and those 10 bytes. The value is stored once per column, not once per change, and a change
# costs its 14 bytes (it cost about 40 as a key of its own).

_COUNT = struct.Struct(">HII")  # seq >> 32, seq & 0xFFFFFFFF, count
COUNT_SEQ_LIMIT = (1 << 48) - 1  # 281 trillion events: a million a second for 8.9 years
COUNT_LIMIT = (1 << 32) - 1  # live rows holding one value
COUNT_ENTRY_BYTES = _COUNT.size + _CRC.size  # 14
_COUNT_DB_FLAGS = {"dupsort": True, "dupfixed": True}


def _count_entry(value: bytes, seq: int, count: int) -> bytes:
    """The stored duplicate for `value` having `count` live rows after `seq`. Beyond the
    widths of the format a write fails here, loudly, rather than wrap."""
    if not 0 <= seq <= COUNT_SEQ_LIMIT:
        raise OverflowError(f"seq {seq} is beyond what a value count entry holds (2^48 - 1)")
    if not 0 <= count <= COUNT_LIMIT:
        raise OverflowError(
            f"a value count of {count} is outside what a count entry holds (0 .. 2^32 - 1)"
        )
    return _seal(value, _COUNT.pack(seq >> 32, seq & 0xFFFFFFFF, count))


def _read_count(name: str, value: bytes, stored: bytes) -> tuple[int, int]:
    """(seq, count) of a stored duplicate of `value`, after checking its CRC-32."""
    unsealed = _unseal(name, value, stored)
    if len(unsealed) != _COUNT.size:
        raise EntryDamaged(name, value, "is not a count entry")
    high, low, count = _COUNT.unpack(unsealed)
    return (high << 32) | low, count


def _first_after(seq: int) -> bytes:
    """The least duplicate with a seq after `seq` (< COUNT_SEQ_LIMIT): its seq, count 0."""
    after = seq + 1
    return _COUNT.pack(after >> 32, after & 0xFFFFFFFF, 0) + b"\x00" * _CRC.size


def _count_at(cursor: Any, value: bytes, seq: int, newest: bool = False) -> int:
    """How many live rows held `value` after `seq`: one seek (the first change after `seq`,
    then one step back to the change in force at `seq`). `newest`: `seq` is at or after the
    last change the index holds, so the value's last duplicate answers (one seek too).
    `cursor`: a sealed cursor on a `cnt:` sub-database."""
    raw = cursor.cursor
    if seq < 0:
        return 0
    if newest or seq >= COUNT_SEQ_LIMIT:
        if not raw.set_key(value):
            return 0
        raw.last_dup()
    elif raw.set_range_dup(value, _first_after(seq)):
        if not raw.prev_dup():
            return 0  # the value's first change is after `seq`
    elif raw.set_key(value):
        raw.last_dup()  # every change of the value is at or before `seq`
    else:
        return 0
    return _read_count(cursor.name, value, raw.value())[1]


def _bump_count(
    cursor: Any, value: bytes, seq: int, delta: int, tally: dict[bytes, int] | None = None
) -> None:
    """Record that `delta` rows began (+1) or stopped (-1) holding `value` at `seq`, so that
    `COUNT(*) WHERE col = v AS OF S` is one seek instead of a scan. The duplicate is
    appended (MDB_APPENDDUP: seqs only grow, and pages fill). `tally`: the counts this
    transaction already wrote (saves the seek); with it, each call is for a later seq than
    the value's last (one event per seq). Without it, a value bumped again at the same seq
    (the rows of a retention base, all at the horizon) has its entry replaced."""
    raw = cursor.cursor
    current = tally.get(value) if tally is not None else None
    if current is None:
        current = 0
        if raw.set_key(value) and raw.last_dup():
            last, current = _read_count(cursor.name, value, raw.value())
            if last == seq:
                raw.delete()  # this seq's entry: replaced below
    if tally is not None:
        tally[value] = current + delta
    if not raw.put(value, _count_entry(value, seq, current + delta), append=True):
        raise lmdb.Error(f"{cursor.name}: a count entry at seq {seq} is not after the last one")


def _recount(txn: _SealedTxn, ix: Any, cnt: Any, value: bytes) -> None:
    """Rewrite the count entries of `value` from its runs in the temporal index (all of
    them go first: a value no run holds any more leaves no entry)."""
    changes: dict[int, int] = {}
    runs = txn.cursor(db=ix)
    if runs.set_range(value):
        for key, start in runs:
            if encoded_length(key) != len(value) or not key.startswith(value):
                break
            valid_from, valid_to = read_u64(start), read_u64(key, len(value))
            changes[valid_from] = changes.get(valid_from, 0) + 1
            if valid_to != MAX_U64:
                changes[valid_to] = changes.get(valid_to, 0) - 1
    txn.delete(value, db=cnt)  # every duplicate of the key
    entries = []
    total = 0
    for seq in sorted(changes):
        total += changes[seq]
        entries.append((value, _count_entry(value, seq, total)))
    if entries:
        _consumed, added = txn.txn.cursor(db=cnt).putmulti(entries, append=True)
        if added != len(entries):
            raise lmdb.Error(f"recounted {added} of {len(entries)} count entries in seq order")


def _counts_at(cursor: Any, seq: int, newest: bool) -> list[tuple[bytes, int]]:
    """(value, count at `seq`) for every value of a `cnt:` sub-database with a non-zero
    count: the keys in order (one step each), then one seek per key."""
    values = [bytes(k) for k in cursor.cursor.iternext_nodup(keys=True, values=False)]
    out: list[tuple[bytes, int]] = []
    for value in values:
        count = _count_at(cursor, value, seq, newest)
        if count:
            out.append((value, count))
    return out


def _decode_version(key: bytes, value: bytes) -> Version:
    kind, unix_ms, segment, offset = _VERSION.unpack_from(value)
    row = _version_row(value, key)
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


class _TxnMeta:
    """The meta entries (covered, horizon, generation) as one committed transaction holds
    them, decoded once: a committed LMDB transaction never changes, so every later read
    transaction of the same environment at the same transaction id shares them (a point read
    then costs a `begin` and one seek, not three gets and three decodes). Keyed by the
    environment object too: a rebuilt or compacted file may reuse transaction ids."""

    __slots__ = ("covered", "env", "generation", "horizon", "txn_id")

    def __init__(self, env: Any, txn_id: int) -> None:
        self.env = env
        self.txn_id = txn_id
        self.covered: Any = _UNREAD
        self.horizon: Any = _UNREAD
        self.generation: Any = _UNREAD


class IndexReader:
    """A consistent read of one table's indexes (one LMDB read transaction)."""

    def __init__(self, index: TableIndex, txn: Any, held: list[int]) -> None:
        self.index = index
        self.txn = txn
        self.held = held  # its opening thread's count of open reads (TableIndex.read)
        self._keys_cursor: Any = None
        self._raw_keys: Any = None  # row_at's cursor (checksums checked inline)
        self._env = index._env  # the environment this transaction belongs to
        self._txn_meta: _TxnMeta | None = None  # found when first asked for (`_meta`)

    @property
    def _meta(self) -> _TxnMeta:
        """The meta entries of this transaction, shared by every reader of the same
        committed transaction (a point read or a history asks for none of them)."""
        meta = self._txn_meta
        if meta is None:
            index = self.index
            env, txn_id = self._env, self.txn.txn.id()
            meta = index.txn_meta
            if meta is None or meta.env is not env or meta.txn_id != txn_id:
                meta = index.txn_meta = _TxnMeta(env, txn_id)
            self._txn_meta = meta
        return meta

    def close(self) -> None:
        txn = self.txn
        if txn is not None:
            txn.txn.abort()  # (the LMDB transaction itself: once per point read)
            self.txn = None
            self.index.reader_closed(self.held)

    def __enter__(self) -> IndexReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def covered(self) -> Covered | None:
        """The log position these entries cover; None for an empty index, or one in an
        older format (the writer rebuilds it on open). Read once per committed txn."""
        found = self._meta.covered
        return self._read_covered() if found is _UNREAD else found

    @_reports
    def _read_covered(self) -> Covered | None:
        raw = self.txn.get(b"covered", db=self.index.meta)
        found = None
        if raw is not None:
            c = _unpack(raw)
            if c.get("format") == INDEX_FORMAT:
                found = Covered(c["seq"], c["segment"], c["offset"], c["unix_ms"], c["live"])
        self._meta.covered = found
        return found

    @_reports
    def generation(self) -> int:
        if self._meta.generation is _UNREAD:
            raw = self.txn.get(b"generation", db=self.index.meta)
            self._meta.generation = int(_unpack(raw)) if raw is not None else 0
        return int(self._meta.generation)

    def horizon(self) -> Horizon | None:
        """The retention horizon these entries were built with (None: the full history)."""
        found = self._meta.horizon
        return self._read_horizon() if found is _UNREAD else found

    @_reports
    def _read_horizon(self) -> Horizon | None:
        raw = self.txn.get(b"horizon", db=self.index.meta)
        self._meta.horizon = Horizon.from_wire(_unpack(raw)) if raw is not None else None
        return self._meta.horizon  # type: ignore[no-any-return]

    def version_count(self) -> int:
        """How many versions the key directory holds (O(1): a B+tree statistic)."""
        return int(self.txn.stat(self.index.keys)["entries"])

    @_reports
    def count_after(self, seq: int, budget: int) -> tuple[int, tuple[int, int] | None]:
        """How many events have a seq > `seq` (counting stops at `budget`), and the
        (segment, offset) of the first of them."""
        cursor = self.txn.cursor(db=self.index.seqs)
        if not cursor.set_range(u64(seq + 1) if seq >= 0 else u64(0)):
            return 0, None
        _, segment, offset = _SEQ.unpack_from(cursor.value())
        where = (int(segment), int(offset))
        count = 0
        for _ in cursor.iternext(keys=True, values=False):
            count += 1
            if count >= budget:
                break
        return count, where

    @_reports
    def distinct_keys(self) -> Iterator[Key]:
        """Every key the key directory has versions for, in key order."""
        cursor = self.txn.cursor(db=self.index.keys)
        previous: bytes | None = None
        for key in cursor.iternext(keys=True, values=False):
            pk = bytes(key[:-8])
            if pk != previous:
                previous = pk
                yield decode_key(pk)

    @_reports
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

    @_reports
    def version_at(self, key: Key, seq: int) -> Version | None:
        cursor = self._keys_cursor
        if cursor is None:
            cursor = self._keys_cursor = self.txn.cursor(db=self.index.keys)
        return _last_version(cursor, encode_key(key), seq)

    def row_at(self, key: Key, seq: int) -> dict[str, Any] | None:
        """The row of `key` as it stood at `seq` (None: absent or deleted): `version_at`
        without building a Version. (Not wrapped by _reports: the whole of a point read, it
        reports its own damage.)"""
        cursor = self._raw_keys
        if cursor is None:
            cursor = self._raw_keys = self.txn.txn.cursor(db=self.index.keys)
        pk = encode_key(key)
        if cursor.set_range(pk + u64(seq) + b"\x00" if seq < MAX_U64 else pk + _PAST_ALL):
            if not cursor.prev():
                return None
        elif not cursor.last():
            return None
        found, stored = cursor.item()
        if len(found) != len(pk) + 8 or not found.startswith(pk):
            return None
        # (_unseal and _version_row inlined)
        end = len(stored) - 4
        if end < _VERSION.size or _CRC.unpack_from(stored, end)[0] != zlib.crc32(
            stored[:end], zlib.crc32(found)
        ):
            try:
                _unseal("keys", found, stored)  # raises, naming the entry
                raise EntryDamaged("keys", found, "is shorter than a version head")
            except EntryDamaged as exc:
                raise _corruption(self, exc) from None
        if end == _VERSION.size:
            return None  # deleted
        try:
            row: dict[str, Any] = msgpack.unpackb(
                stored[_VERSION.size : end], raw=False, strict_map_key=False
            )
        except (ValueError, TypeError) as exc:
            damage = EntryDamaged("keys", found, f"does not decode ({exc})")
            raise _corruption(self, damage) from None
        return row

    @_reports
    def count_with_value(self, column: str, value: Any, seq: int) -> int | None:
        """How many live rows held `value` in `column` at `seq`, from the temporal count
        index (one seek); None when the counts cannot be trusted (after a purge, until a
        rebuild)."""
        if column not in self.index.cnt or self.txn.get(b"counts", db=self.index.meta) is None:
            return None
        cursor = self.txn.cursor(db=self.index.cnt[column])
        return _count_at(cursor, encode_value(value), seq, self._at_newest(seq))

    @_reports
    def value_counts(self, column: str, seq: int) -> list[tuple[bytes, int]] | None:
        """(encoded value, live rows holding it) for every value `column` has at
        `seq`: one seek per value the column ever held, no row read. None when the counts
        cannot be trusted (as `count_with_value`)."""
        if column not in self.index.cnt or self.txn.get(b"counts", db=self.index.meta) is None:
            return None
        cursor = self.txn.cursor(db=self.index.cnt[column])
        return _counts_at(cursor, seq, self._at_newest(seq))

    def _at_newest(self, seq: int) -> bool:
        """Whether `seq` is at or after every change the count entries hold (those of the
        covered events): then each value's last entry answers."""
        covered = self.covered()
        return covered is not None and seq >= covered.seq

    def versions(self, key: Key) -> list[Version]:
        """Every version of `key` in seq order."""
        return [Version(*v) for v in self.version_tuples(key)]

    _KINDS: ClassVar[dict[int, EventType]] = {int(kind): kind for kind in EventType}

    def version_tuples(self, key: Key) -> list[VersionTuple]:
        """Every version of `key` in seq order as (seq, type, unix_ms, segment, offset, row)
        tuples: a history, one seek then one step per version (no frozen dataclass to build,
        the cost of each step of q6). Reports its own damage (no _reports wrapper)."""
        pk = encode_key(key)
        out: list[VersionTuple] = []
        cursor = self._raw_keys
        if cursor is None:
            cursor = self._raw_keys = self.txn.txn.cursor(db=self.index.keys)
        if not cursor.set_range(pk):
            return out
        width = len(pk) + 8
        head = _VERSION.size
        kinds = self._KINDS
        # (globals and methods bound to locals: this loop is the whole cost of a history)
        crc32, crc_at, version_head = zlib.crc32, _CRC.unpack_from, _VERSION.unpack_from
        unpackb, seq_at, append = msgpack.unpackb, _U64_BE.unpack_from, out.append
        try:
            for found, stored in cursor.iternext():
                if len(found) != width or not found.startswith(pk):
                    break
                # (_unseal, _decode_version and _version_row inlined, as in row_at)
                end = len(stored) - 4
                if end < head or crc_at(stored, end)[0] != crc32(stored[:end], crc32(found)):
                    _unseal("keys", found, stored)  # raises, naming the entry
                    raise EntryDamaged("keys", found, "is shorter than a version head")
                kind, unix_ms, segment, offset = version_head(stored)
                event_type = kinds[kind]  # (a KeyError: below)
                row = None
                if end > head:
                    try:
                        row = unpackb(stored[head:end], raw=False, strict_map_key=False)
                    except (ValueError, TypeError) as exc:
                        raise EntryDamaged("keys", found, f"does not decode ({exc})") from None
                append((seq_at(found, width - 8)[0], event_type, unix_ms, segment, offset, row))
        except EntryDamaged as exc:
            raise _corruption(self, exc) from None
        except KeyError:
            why = f"has an unknown event type {kind}"
            raise _corruption(self, EntryDamaged("keys", found, why)) from None
        return out

    @_reports
    def seq_at_time(self, unix_ms: int) -> int | None:
        """The last seq of this table whose timestamp is <= unix_ms."""
        cursor = self.txn.cursor(db=self.index.time)
        if cursor.set_range(u64(unix_ms + 1)) if unix_ms + 1 <= MAX_U64 else False:
            found = cursor.prev()
        else:
            found = cursor.last()
        return read_u64(cursor.key(), 8) if found else None

    @_reports
    def live_count_at(self, seq: int) -> int:
        cursor = self.txn.cursor(db=self.index.seqs)
        landed = seq < MAX_U64 and cursor.set_range(u64(seq + 1))
        found = cursor.prev() if landed else cursor.last()
        return int(_SEQ.unpack_from(cursor.value())[0]) if found else 0

    @_reports
    def first_seq(self) -> int | None:
        cursor = self.txn.cursor(db=self.index.seqs)
        return read_u64(cursor.key()) if cursor.first() else None

    @_reports
    def identity(self) -> dict[str, str] | None:
        """{"table", "id"}: the table and log this index was built for (None: not recorded)."""
        raw = self.txn.get(b"identity", db=self.index.meta)
        found = _unpack(raw) if raw is not None else None
        return found if isinstance(found, dict) else None

    @_reports
    def frame_of(self, seq: int) -> tuple[int, int] | None:
        """(segment, offset) of the frame of event `seq` (None if not indexed): where the
        covered frame starts, so an open can CRC-check it (docs/format.md, "Witnesses")."""
        raw = self.txn.get(u64(seq), db=self.index.seqs)
        if raw is None:
            return None
        _, segment, offset = _SEQ.unpack_from(raw)
        return int(segment), int(offset)

    @_reports
    def rows_at(self, seq: int) -> Iterator[tuple[Key, dict[str, Any]]]:
        """Every row live at `seq`, in primary-key order: one pass over the key directory
        (index/scan.py), every entry's checksum checked."""
        for keys, stored in self._newest_at(seq):
            rows = self._decode_rows(keys, stored)
            yield from zip([decode_key(key[:-8]) for key in keys], rows, strict=True)

    @_reports
    def row_list_at(self, seq: int) -> list[dict[str, Any]]:
        """The rows of `rows_at` without their keys, as one list (no key is decoded)."""
        out: list[dict[str, Any]] = []
        for keys, stored in self._newest_at(seq):
            out.extend(self._decode_rows(keys, stored))
        return out

    def _newest_at(self, seq: int) -> Iterator[tuple[list[bytes], list[bytes]]]:
        # Two cursors of this transaction walk the directory in step: one yields the keys,
        # the other the values (no (key, value) tuple per entry, and no pass to split them).
        txn, keys = self.txn.txn, self.index.keys
        return scan.newest_at(
            txn.cursor(db=keys).iternext(keys=True, values=False),
            txn.cursor(db=keys).iternext(keys=False, values=True),
            seq,
            _VERSION.size,
            _name_damage,
        )

    @staticmethod
    def _decode_rows(keys: list[bytes], stored: list[bytes]) -> list[dict[str, Any]]:
        rows = scan.decode_rows(stored, _VERSION.size)
        if rows is None:  # find and name the entry that does not decode
            rows = [
                _unpack(v[_VERSION.size : -4], "keys", k) for k, v in zip(keys, stored, strict=True)
            ]
        return rows

    @_reports
    def rows_with_value(self, column: str, value: Any, seq: int) -> Iterator[dict[str, Any]]:
        """The rows holding exactly `value` (an exactly encoded scalar) in `column` at `seq`,
        read in the temporal index's order and fetched from the key directory in the same
        loop (every entry's checksum checked). At `seq` = MAX_U64 (now) the open runs come in
        primary-key order, so `ORDER BY pk LIMIT n` stops after n rows."""
        enc = encode_value(value)
        vlen = len(enc)
        ix_name = f"ix:{column}"
        runs = self.txn.txn.cursor(db=self.index.ix[column])
        keys = self.txn.txn.cursor(db=self.index.keys)
        now = seq >= MAX_U64
        after = u64(MAX_U64) if now else u64(seq + 1)
        if not runs.set_range(enc + after):
            return
        crc32, crc_at, head = zlib.crc32, _CRC.unpack_from, _VERSION.size
        for key, stored in runs.iternext(keys=True, values=True):
            if key[:vlen] != enc:
                return  # prefix-free encodings: the next value begins here
            # (_unseal inlined: this loop is the whole cost of an indexed read)
            if len(stored) != 12 or crc_at(stored, 8)[0] != crc32(stored[:8], crc32(key)):
                _unseal(ix_name, key, stored)  # raises, naming the entry
                raise EntryDamaged(ix_name, key, "has a valid-from of the wrong size")
            if read_u64(stored) > seq:
                continue  # a run that began after `seq`
            pk = key[vlen + 8 :]
            if keys.set_range(pk + _PAST_ALL if now else pk + after):
                found = keys.prev()
            else:
                found = keys.last()
            version = keys.key() if found else b""
            if len(version) != len(pk) + 8 or not version.startswith(pk):
                continue  # as `get` would answer: no row
            image = keys.value()
            end = len(image) - 4
            if end < head or crc_at(image, end)[0] != crc32(image[:end], crc32(version)):
                _unseal("keys", version, image)  # raises, naming the entry
                raise EntryDamaged("keys", version, "is shorter than a version head")
            if end > head:
                try:
                    row = msgpack.unpackb(image[head:end], raw=False, strict_map_key=False)
                except (ValueError, TypeError) as exc:
                    raise EntryDamaged("keys", version, f"does not decode ({exc})") from None
                yield row

    @_reports
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
        `UNBOUNDED` marker) at `seq`. Equality is lower == upper. (At one seq a key holds one
        value, so each key comes once.)"""
        return self.keys_with_value_during(
            column, lower, upper, seq, seq, include_lower, include_upper
        )

    # -- versions over seq ranges (FOR SYSTEM_TIME, DIFF, RESTORE: engine/versions.py) ------

    @_reports
    def versions_around(self, key: Key, lo: int, hi: int) -> list[Version]:
        """The versions of `key` that bear on the range [lo, hi]: the last with seq <= lo, every
        one in (lo, hi], and the first after hi (it ends the last one in range). One seek and
        a walk over those entries only."""
        pk = encode_key(key)
        cursor = self.txn.cursor(db=self.index.keys)
        out: list[Version] = []
        start = _last_version(cursor, pk, lo) if lo >= 0 else None
        if start is not None:
            out.append(start)
        if not cursor.set_range(pk + u64(lo + 1 if lo >= 0 else 0)):
            return out
        for k, v in cursor:
            if len(k) != len(pk) + 8 or not k.startswith(pk):
                break
            version = _decode_version(k, v)
            out.append(version)
            if version.seq > hi:
                break
        return out

    @_reports
    def keys_live_at(self, seq: int) -> Iterator[Key]:
        """Every key with a live row at `seq`, in key order: one seek per key ever written
        (never a walk over the versions of a key)."""
        cursor = self.txn.cursor(db=self.index.keys)
        position = cursor.first()
        while position:
            key = cursor.key()
            pk = key[:-8]
            found = _last_version(cursor, pk, seq)
            if found is not None and found.row is not None:
                yield decode_key(pk)
            position = cursor.set_range(pk + _PAST_ALL)

    @_reports
    def keys_with_value_during(
        self,
        column: str,
        lower: Any,
        upper: Any,
        lo: int,
        hi: int,
        include_lower: bool = True,
        include_upper: bool = True,
    ) -> Iterator[Key]:
        """Keys whose `column` held a value in [lower, upper] at some seq in [lo, hi] (runs
        with valid_to > lo and valid_from <= hi); a key may come more than once."""
        db = self.index.ix[column]
        cursor = self.txn.cursor(db=db)
        low = encode_value(lower) if lower is not UNBOUNDED else b""
        high = encode_value(upper) if upper is not UNBOUNDED else None
        after = u64(min(max(lo + 1, 0), MAX_U64))  # runs that ended by lo are skipped
        start = low + after if low else b""
        if low != high:
            # A long bound's place among long values that share its prefix is unknown (they
            # sort by digest): take them all; the caller re-checks ranges against the row.
            if low and is_long(low):
                low, include_lower = long_range(low)[0], True
                start = low
            if high is not None and is_long(high):
                high, include_upper = long_range(high)[1], True
        position = cursor.set_range(start)
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
                # runs of this value that ended by lo: jump to the first that did not
                position = cursor.set_range(value_enc + after)
                continue
            if read_u64(cursor.value()) <= hi:
                yield decode_key(key, vlen + 8)
            position = cursor.next()


class _Unbounded:
    def __repr__(self) -> str:
        return "UNBOUNDED"


UNBOUNDED: Any = _Unbounded()
