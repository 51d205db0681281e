"""A byte-editing vocabulary for recovery tests: damage a file in one line, compare it after.

Offsets are file offsets. Every function rewrites the file in place and fsyncs nothing (tests
run in one process; the page cache is the disk).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
from pathlib import Path


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)


def flip_byte(path: str | os.PathLike[str], offset: int, mask: int = 0xFF) -> None:
    """XOR the byte at `offset` with `mask` (every bit by default)."""
    data = bytearray(read_bytes(path))
    data[offset] ^= mask
    write_bytes(path, bytes(data))


def truncate_tail(path: str | os.PathLike[str], size_bytes: int) -> None:
    """Cut the file to its first `size_bytes` bytes (a write that never finished)."""
    with open(path, "r+b") as handle:
        handle.truncate(size_bytes)


def set_length_field(path: str | os.PathLike[str], frame_offset: int, value: int) -> None:
    """Overwrite the u32 length field of the frame starting at `frame_offset`."""
    data = bytearray(read_bytes(path))
    struct.pack_into("<I", data, frame_offset, value)
    write_bytes(path, bytes(data))


def segment_paths(db_path: str | os.PathLike[str], table: str) -> list[Path]:
    """The segment files of `table`, in order."""
    return sorted((Path(db_path) / "tables" / table / "segments").glob("*.seg"))


def last_segment(db_path: str | os.PathLike[str], table: str) -> Path:
    return segment_paths(db_path, table)[-1]


def log_bytes(db_path: str | os.PathLike[str]) -> dict[str, bytes]:
    """Every segment file of every table, by path relative to the database."""
    root = Path(db_path)
    return {
        str(p.relative_to(root)): read_bytes(p)
        for p in sorted(root.glob("tables/*/segments/*.seg"))
    }


def tree_digest(db_path: str | os.PathLike[str]) -> dict[str, str]:
    """A hash of every file under the database directory except LMDB's reader lock table
    (which LMDB updates for readers by design), for "this did not change anything" checks."""
    root = Path(db_path)
    out: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != "lock.mdb":
            out[str(p.relative_to(root))] = hashlib.sha256(read_bytes(p)).hexdigest()
    return out


def save_indexes(db_path: str | os.PathLike[str], into: str | os.PathLike[str]) -> None:
    """Copy every table's indexes directory (the database must be closed) to `into`."""
    root = Path(db_path)
    for index_dir in sorted(root.glob("tables/*/indexes")):
        table = index_dir.parent.name
        shutil.copytree(index_dir, Path(into) / table)


def restore_indexes(db_path: str | os.PathLike[str], saved: str | os.PathLike[str]) -> None:
    """Put back indexes saved by `save_indexes`: the state a crash leaves when the log was
    appended but the index commit never happened."""
    root = Path(db_path)
    for copy in sorted(Path(saved).iterdir()):
        target = root / "tables" / copy.name / "indexes"
        shutil.rmtree(target)
        shutil.copytree(copy, target)
