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
    """Copy every table's indexes directory and meta.json (the witnesses of what was
    acknowledged; the database must be closed) to `into`."""
    root = Path(db_path)
    for index_dir in sorted(root.glob("tables/*/indexes")):
        table = index_dir.parent.name
        shutil.copytree(index_dir, Path(into) / table / "indexes")
        meta = index_dir.parent / "meta.json"
        if meta.exists():
            shutil.copy2(meta, Path(into) / table / "meta.json")


def restore_indexes(db_path: str | os.PathLike[str], saved: str | os.PathLike[str]) -> None:
    """Put back indexes and meta.json saved by `save_indexes`: the state a crash leaves when
    the log was appended but the index commit (and so the acknowledgement) never happened."""
    root = Path(db_path)
    for copy in sorted(Path(saved).iterdir()):
        target = root / "tables" / copy.name / "indexes"
        shutil.rmtree(target)
        shutil.copytree(copy / "indexes", target)
        meta = root / "tables" / copy.name / "meta.json"
        meta.unlink(missing_ok=True)
        if (copy / "meta.json").exists():
            shutil.copy2(copy / "meta.json", meta)


def forget_witnesses(db_path: str | os.PathLike[str], table: str) -> None:
    """Delete a table's indexes and meta.json: nothing then shows what was acknowledged (the
    state after an index loss in a database whose meta.json was never written)."""
    directory = Path(db_path) / "tables" / table
    shutil.rmtree(directory / "indexes", ignore_errors=True)
    (directory / "meta.json").unlink(missing_ok=True)
