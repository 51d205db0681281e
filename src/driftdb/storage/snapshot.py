"""Snapshot files: a table's full state at one seq, zstd-compressed msgpack behind a checksummed
header (`tables/<t>/snapshots/<seq>.snap`, or `<seq>.base.snap` for a retention base; the
format in prose is in docs/format.md).

    snapshot := header body
    header   := "DRIFTSNP" u32 version(=1) u32 flags u64 seq u64 unix_ms u64 row_count
                u64 raw_bytes u64 body_bytes u64 horizon_seq u64 horizon_unix_ms
                u64 horizon_base_unix_ms u32 body_crc32 u32 header_crc32      (88 bytes)
    body     := zstd(msgpack([[key, row], ...]))   rows in primary-key order

Integers are little-endian. `header_crc32` covers every header byte before it, so the flags
and the retention horizon (which change what queries may answer) are never trusted unchecked.
`body_crc32` covers the compressed body. `raw_bytes` bounds decompression: a reader never
produces more than min(raw_bytes, MAX_RAW_BYTES) bytes, whatever the zstd frame claims.

Two kinds, told apart by flags:
- a plain snapshot (a cache: it can always be rebuilt from the log and deleted at will);
- a BASE snapshot (`<seq>.base.snap`), written by retention: the state at the horizon, and the
  only copy of what the discarded events had built. Its header is the durable record of the
  horizon; its name lets even a damaged one be recognised as the base, so it is never
  mistaken for a disposable cache.

A snapshot that fails a check is reported (`SnapshotError`); callers warn and ignore a plain
one, and refuse to guess without a base one.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import struct
import time
import warnings
import zlib
from collections.abc import Callable, Iterable
from typing import Any

import msgpack

from driftdb.errors import DriftError, DriftWarning
from driftdb.model.events import Document, Key, plain_json, plain_key
from driftdb.model.frozen import Frozen, set_field
from driftdb.model.retention import Horizon
from driftdb.model.untrusted import short
from driftdb.storage import fs, safe_path
from driftdb.storage.paths import TEMP_SUFFIX, list_bases, list_snapshots, snapshot_name

MAGIC = b"DRIFTSNP"
FORMAT_VERSION = 1
HEADER = struct.Struct("<8sIIQQQQQQQQII")
HEADER_SIZE = HEADER.size  # 88
FLAG_BASE = 1  # a retention base: the only copy of the state the discarded events built
FLAG_HORIZON = 2  # the horizon fields are set (the table had a horizon when it was taken)
KNOWN_FLAGS = FLAG_BASE | FLAG_HORIZON
MAX_RAW_BYTES = 4 * 1024 * 1024 * 1024  # a global cap on a decompressed body, whatever it says
# The most a zstd body can expand: every block holds at most 128 KiB and costs at least 4 bytes
# (a 3-byte block header and one RLE byte), so a header claiming more is not this body's.
MAX_ZSTD_RATIO = 128 * 1024 // 4
MIN_ROW_BYTES = 3  # the shortest msgpack [key, row] pair: fixarray, fixint, empty fixmap
ZSTD_LEVEL = 3
_CHUNK = 1 << 20


class SnapshotError(DriftError):
    """A snapshot file failed a check: `path`, and `reason`."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class SnapshotInfo(Frozen):
    """What a snapshot header says, and where the file is."""

    __slots__ = __match_args__ = (
        "path",
        "seq",
        "unix_ms",
        "row_count",
        "raw_bytes",
        "body_bytes",
        "flags",
        "horizon",
    )
    path: str
    seq: int
    unix_ms: int
    row_count: int
    raw_bytes: int
    body_bytes: int
    flags: int
    horizon: Horizon | None

    def __init__(
        self,
        path: str,
        seq: int,
        unix_ms: int,
        row_count: int,
        raw_bytes: int,
        body_bytes: int,
        flags: int,
        horizon: Horizon | None,
    ) -> None:
        set_field(self, "path", path)
        set_field(self, "seq", seq)
        set_field(self, "unix_ms", unix_ms)
        set_field(self, "row_count", row_count)
        set_field(self, "raw_bytes", raw_bytes)
        set_field(self, "body_bytes", body_bytes)
        set_field(self, "flags", flags)
        set_field(self, "horizon", horizon)

    @property
    def base(self) -> bool:
        return bool(self.flags & FLAG_BASE)

    @property
    def size_bytes(self) -> int:
        return HEADER_SIZE + self.body_bytes

    def __str__(self) -> str:
        kind = "base snapshot" if self.base else "snapshot"
        return (
            f"{kind} at @seq:{self.seq}: {self.row_count} rows, {self.size_bytes} bytes "
            f"({os.path.basename(self.path)})"
        )


def encode_snapshot(
    rows: Iterable[tuple[Key, Document]],
    seq: int,
    unix_ms: int,
    horizon: Horizon | None,
    base: bool,
) -> tuple[bytes, int]:
    """The bytes of a snapshot file, and its row count."""
    head, body, count = _encode_in_parts(rows, seq, unix_ms, horizon, base)
    return head + b"".join(body), count


def _pack_rows(pairs: list[tuple[Key, Document]]) -> bytes:
    """(key, row) pairs as the items of a msgpack array of [key, row] arrays (no header)."""
    items = [[key, row] for key, row in pairs]
    return msgpack.packb(items, use_bin_type=True)[len(_array_header(len(items))) :]  # type: ignore[no-any-return]


_PAIR = b"\x92"  # msgpack: an array of 2 items


def _pack_images(pairs: list[tuple[Key, bytes]]) -> bytes:
    """(key, row already packed as msgpack) pairs, the same bytes as `_pack_rows` makes of
    the decoded rows."""
    return b"".join(_PAIR + msgpack.packb(key) + image for key, image in pairs)


def _encode_in_parts(
    rows: Iterable[Any],
    seq: int,
    unix_ms: int,
    horizon: Horizon | None,
    base: bool,
    pack_pairs: Callable[[list[Any]], bytes] = _pack_rows,
) -> tuple[bytes, list[bytes], int]:
    """A snapshot file as its header, the pieces of its compressed body, and its row count.

    A background snapshot must never hold the interpreter long while a commit waits to run
    (measured at 645k rows: building one list of every pair, joining the packed bytes,
    compressing them in one call and freeing the list each held it 45-400 ms). So the rows
    are packed in slices as they come (the same bytes as one msgpack array of every pair),
    then the packed slices are compressed one by one into one streamed zstd frame (after
    all are packed: the frame states its content size, which the reader bounds), and the
    bytes are never joined whole; with a pause between slices."""
    packed: list[bytes] = []
    count = 0
    raw_bytes = 0
    source = iter(rows)
    while True:
        piece = list(itertools.islice(source, _PACK_SLICE))
        if not piece:
            break
        count += len(piece)
        part = pack_pairs(piece)
        packed.append(part)
        raw_bytes += len(part)
        time.sleep(0)  # let a waiting thread (a commit) run
    import zstandard  # imported when used: `import driftdb` and point reads never need it

    array = _array_header(count)
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=True)
    stream = compressor.compressobj(size=len(array) + raw_bytes)
    body = [stream.compress(array)]
    crc = zlib.crc32(body[0])
    body_bytes = len(body[0])
    for index, part in enumerate(packed):
        chunk = stream.compress(part)
        packed[index] = b""  # freed as it goes, never all at once
        body.append(chunk)
        crc, body_bytes = zlib.crc32(chunk, crc), body_bytes + len(chunk)
        time.sleep(0)
    tail = stream.flush()
    body.append(tail)
    crc, body_bytes = zlib.crc32(tail, crc), body_bytes + len(tail)
    flags = (FLAG_BASE if base else 0) | (FLAG_HORIZON if horizon is not None else 0)
    h = horizon or Horizon(0, 0, 0)
    fields = (
        MAGIC,
        FORMAT_VERSION,
        flags,
        seq,
        unix_ms,
        count,
        len(array) + raw_bytes,
        body_bytes,
        h.seq,
        h.unix_ms,
        h.base_unix_ms,
        crc,
    )
    head = HEADER.pack(*fields, 0)
    head = head[:-4] + struct.pack("<I", zlib.crc32(head[:-4]))
    return head, body, count


_PACK_SLICE = 512


def _array_header(count: int) -> bytes:
    """msgpack's header of an array of `count` items."""
    if count < 16:
        return bytes([0x90 | count])
    if count < 1 << 16:
        return b"\xdc" + struct.pack(">H", count)
    return b"\xdd" + struct.pack(">I", count)


def write_snapshot(
    directory: str,
    rows: Iterable[tuple[Key, Document]],
    seq: int,
    unix_ms: int,
    horizon: Horizon | None,
    base: bool,
) -> SnapshotInfo:
    """Write `<seq>.snap` durably (temp file, fsync, rename, directory fsync) and return its
    header. An existing file of that name is replaced atomically."""
    return _write_parts(directory, seq, base, _encode_in_parts(rows, seq, unix_ms, horizon, base))


def write_snapshot_images(
    directory: str,
    images: Iterable[tuple[Key, bytes]],
    seq: int,
    unix_ms: int,
    horizon: Horizon | None,
) -> SnapshotInfo:
    """`write_snapshot` of rows given as their msgpack bytes (as the index stores them,
    checksummed there), copied into the file without being decoded: a background snapshot."""
    parts = _encode_in_parts(images, seq, unix_ms, horizon, False, _pack_images)
    return _write_parts(directory, seq, False, parts, background=True)


def _write_parts(
    directory: str,
    seq: int,
    base: bool,
    parts: tuple[bytes, list[bytes], int],
    background: bool = False,
) -> SnapshotInfo:
    fs.make_dirs_durably(directory)
    head, body, _ = parts
    path = os.path.join(directory, snapshot_name(seq, base))
    step, pause = (_BACKGROUND_STEP_BYTES, _BACKGROUND_PAUSE_S) if background else (_STEP_BYTES, 0)
    _write_in_steps(path, [head, *body], step, pause)
    return parse_header(head, path, len(head) + sum(len(chunk) for chunk in body))


_STEP_BYTES = 512 * 1024

# A background snapshot (written while commits go on) is written in smaller steps, each
# followed by a short pause, so that a commit's fdatasync finds at most one step queued
# ahead of it on the device. Measured at 100k events (slowest of the commits crossing a
# snapshot / their median): 11.5 with 512 KiB steps and no pause, 9.4 with these. The cost
# is the snapshot's own time (2 ms per 64 KiB: about 1 s more for a 32 MB snapshot), which
# no commit waits for.
_BACKGROUND_STEP_BYTES = 64 * 1024
_BACKGROUND_PAUSE_S = 0.002


def _write_in_steps(path: str, pieces: list[bytes], step_bytes: int, pause_s: float) -> None:
    """fs.write_file_atomically of the concatenated `pieces`, with an fsync after every
    `step_bytes` (then a pause of `pause_s`): on a journaling file system (ext4,
    data=ordered) a commit's fsync also flushes other files' newly written blocks, and the
    device serves queued writes in turn, so a snapshot written whole would make the next
    commit pay for all of it."""
    fl = fs.layer()
    tmp = path + TEMP_SUFFIX
    with contextlib.suppress(FileNotFoundError):
        os.remove(tmp)
    fd = fl.open_append(tmp, create=True)
    try:
        unsynced = 0
        for piece in pieces:
            for start in range(0, len(piece), step_bytes):
                step = piece[start : start + step_bytes]
                fl.write(fd, step)
                unsynced += len(step)
                if unsynced >= step_bytes:
                    fl.fsync(fd)
                    unsynced = 0
                    if pause_s:
                        time.sleep(pause_s)
        fl.fsync(fd)
    finally:
        fl.close(fd)
    fl.rename(tmp, path)
    fl.fsync_dir(os.path.dirname(path) or ".")


def parse_header(head: bytes, path: str, file_bytes: int) -> SnapshotInfo:
    """Check a header (magic, version, header CRC, flags, lengths); raise SnapshotError."""
    if len(head) < HEADER_SIZE:
        raise SnapshotError(path, f"header is {len(head)} bytes, expected {HEADER_SIZE}")
    (
        magic,
        version,
        flags,
        seq,
        unix_ms,
        rows,
        raw_bytes,
        body_bytes,
        h_seq,
        h_ms,
        h_base_ms,
        _body_crc,
        head_crc,
    ) = HEADER.unpack_from(head)
    if magic != MAGIC:
        raise SnapshotError(path, f"bad magic {magic!r}, expected {MAGIC!r}")
    if zlib.crc32(head[: HEADER_SIZE - 4]) != head_crc:
        # Nothing in the header is trusted, not even the version: it might be damage.
        raise SnapshotError(path, "header CRC mismatch")
    if version != FORMAT_VERSION:
        raise SnapshotError(path, f"unsupported snapshot format version {version}")
    if flags & ~KNOWN_FLAGS:
        raise SnapshotError(path, f"unknown flags {flags:#x}")
    if raw_bytes > MAX_RAW_BYTES:
        raise SnapshotError(
            path, f"claims {raw_bytes} decompressed bytes, over the {MAX_RAW_BYTES}-byte bound"
        )
    if raw_bytes > body_bytes * MAX_ZSTD_RATIO or rows > raw_bytes // MIN_ROW_BYTES:
        # More than any zstd body of this size can hold, or more rows than its bytes can hold.
        raise SnapshotError(
            path,
            f"claims {raw_bytes} decompressed bytes and {rows} rows from a {body_bytes}-byte "
            "body: more than it can hold",
        )
    if HEADER_SIZE + body_bytes != file_bytes:
        # A short file is a torn or truncated write; a long one has foreign bytes appended.
        raise SnapshotError(
            path, f"file is {file_bytes} bytes, header says {HEADER_SIZE + body_bytes}"
        )
    horizon = Horizon(h_seq, h_ms, h_base_ms) if flags & FLAG_HORIZON else None
    return SnapshotInfo(path, seq, unix_ms, rows, raw_bytes, body_bytes, flags, horizon)


def read_info(path: str) -> SnapshotInfo:
    """The checked header of a snapshot file (the body is not read)."""
    try:
        with safe_path.open_read(path) as handle:
            head = handle.read(HEADER_SIZE)
            size = os.fstat(handle.fileno()).st_size
    except OSError as exc:
        raise SnapshotError(path, f"cannot read ({exc.strerror or exc})") from None
    return parse_header(head, path, size)


def read_snapshot(path: str) -> tuple[SnapshotInfo, list[tuple[Key, Document]]]:
    """The header and rows of a snapshot, every check passed; raises SnapshotError.

    Decompression is bounded and streamed: the header's raw_bytes must be what the body's size
    makes possible (`MAX_ZSTD_RATIO`), at most min(raw_bytes, MAX_RAW_BYTES) + 1 bytes are ever
    produced, and they are decoded row by row as they come, each checked as it is read, so a
    hostile body fails at its first bad row instead of after allocating what it claims.
    """
    try:
        with safe_path.open_read(path) as handle:
            data = handle.read()
    except OSError as exc:
        raise SnapshotError(path, f"cannot read ({exc.strerror or exc})") from None
    info = parse_header(data[:HEADER_SIZE], path, len(data))
    body = data[HEADER_SIZE:]
    (body_crc,) = struct.unpack_from("<I", data, HEADER_SIZE - 8)
    if zlib.crc32(body) != body_crc:
        raise SnapshotError(path, "body CRC mismatch")
    return info, _decode_rows(body, info, path)


def _decode_rows(body: bytes, info: SnapshotInfo, path: str) -> list[tuple[Key, Document]]:
    limit = min(info.raw_bytes, MAX_RAW_BYTES)
    rows: list[tuple[Key, Document]] = []
    seen: set[Key] = set()
    stream = _BoundedStream(body, limit, info.raw_bytes, path)
    unpacker = msgpack.Unpacker(
        raw=False, strict_map_key=False, max_buffer_size=max(limit, _CHUNK), ext_hook=_no_ext
    )
    try:
        count = stream.next_item(unpacker, unpacker.read_array_header)
        if count != info.row_count:
            raise SnapshotError(path, "body does not hold the row count its header states")
        for _ in range(count):
            pair: Any = stream.next_item(unpacker, unpacker.unpack)
            if (
                not isinstance(pair, list)
                or len(pair) != 2
                or not isinstance(pair[1], dict)
                or isinstance(pair[0], bool)
                or not isinstance(pair[0], str | int)
            ):
                raise SnapshotError(path, "body holds an entry that is not a [key, row] pair")
            if not plain_key(pair[0]) or not plain_json(pair[1]):
                raise SnapshotError(
                    path, f"body holds a row that is not a document (key {short(pair[0])})"
                )
            if pair[0] in seen:
                raise SnapshotError(path, f"body holds key {short(pair[0])} twice")
            seen.add(pair[0])
            rows.append((pair[0], pair[1]))
        stream.finish(unpacker)
    except SnapshotError:
        raise
    except Exception as exc:  # msgpack raises several unrelated types
        raise SnapshotError(path, f"body is not valid msgpack ({short(str(exc))})") from None
    return rows


def _no_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack extension type {code} is not a JSON value")


class _BoundedStream:
    """Feeds an unpacker from a zstd body, never producing more than `limit` bytes."""

    def __init__(self, body: bytes, limit: int, raw_bytes: int, path: str) -> None:
        import zstandard  # imported when used (see encode_snapshot)

        self.error = zstandard.ZstdError
        self.reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body))
        self.limit = limit
        self.raw_bytes = raw_bytes
        self.path = path
        self.produced = 0

    def feed(self, unpacker: msgpack.Unpacker) -> bool:
        """Decompress the next chunk into `unpacker`; False at the end of the body."""
        try:
            chunk = self.reader.read(min(_CHUNK, self.limit + 1 - self.produced))
        except self.error as exc:
            raise SnapshotError(self.path, f"body does not decompress ({exc})") from None
        self.produced += len(chunk)
        if self.produced > self.limit:
            raise SnapshotError(
                self.path,
                f"body decompresses to more than {self.limit} bytes, header says {self.raw_bytes}",
            )
        if chunk:
            unpacker.feed(chunk)
        return bool(chunk)

    def next_item(self, unpacker: msgpack.Unpacker, read: Any) -> Any:
        while True:
            try:
                return read()
            except msgpack.OutOfData:
                if not self.feed(unpacker):
                    raise SnapshotError(
                        self.path, "body ends inside its rows (header says more)"
                    ) from None

    def finish(self, unpacker: msgpack.Unpacker) -> None:
        """Check that nothing follows the rows and the body's size is what the header says."""
        while self.feed(unpacker):
            pass
        try:
            unpacker.unpack()
        except msgpack.OutOfData:
            pass
        else:
            raise SnapshotError(self.path, "body holds data after its rows")
        if self.produced != self.raw_bytes:
            raise SnapshotError(
                self.path,
                f"body decompresses to {self.produced} bytes, header says {self.raw_bytes}",
            )


def newest_snapshots(directory: str, at_most: int | None = None) -> list[str]:
    """Paths of the snapshots with seq <= at_most (all by default), newest first."""
    seqs = list_snapshots(directory)
    return [
        os.path.join(directory, snapshot_name(s))
        for s in reversed(seqs)
        if at_most is None or s <= at_most
    ]


def prune_snapshots(directory: str, keep: int) -> list[int]:
    """Remove all but the newest `keep` plain snapshots (durably; never a base snapshot);
    returns the seqs removed. A reader that chose a removed one moves on to the next."""
    seqs = list_snapshots(directory)
    stale = seqs[: max(len(seqs) - keep, 0)]
    fs.remove_durably([os.path.join(directory, snapshot_name(s)) for s in stale])
    return stale


def find_base(directory: str) -> SnapshotInfo | None:
    """The newest base snapshot's checked header, or None when the table keeps its full
    history. Raises SnapshotError if it fails its check: a damaged base is never skipped
    (the horizon and the state before it would silently vanish with it)."""
    bases = list_bases(directory)
    if not bases:
        return None
    path = os.path.join(directory, snapshot_name(bases[-1], base=True))
    info = read_info(path)
    if not info.base or info.horizon is None or info.horizon.seq != info.seq:
        raise SnapshotError(path, "named as a base snapshot but its header is not one")
    return info


def load_plain(
    directory: str, at_most: int
) -> tuple[SnapshotInfo, list[tuple[Key, Document]]] | None:
    """The newest readable snapshot with seq <= at_most, skipping damaged ones with a
    DriftWarning (a damaged snapshot is never used)."""
    for path in newest_snapshots(directory, at_most):
        try:
            return read_snapshot(path)
        except SnapshotError as exc:
            if not os.path.exists(path):
                continue  # pruned since it was listed: an older one (or the log) serves
            warnings.warn(DriftWarning(f"ignoring damaged snapshot {exc}"), stacklevel=2)
    return None
