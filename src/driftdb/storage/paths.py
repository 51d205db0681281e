"""Every file name and path of a database, in one place (as LevelDB's filename.cc).

The layout (docs/format.md, "Files of a database"):

    <db>/LOCK                                  the writer's flock
    <db>/tables/<table>/schema.yaml            name, primary key, indexed columns, options
    <db>/tables/<table>/meta.json              a cache of counters, rebuildable
    <db>/tables/<table>/segments/NNNNNNNN.seg  the event log (8-digit number, from 1)
    <db>/tables/<table>/snapshots/<seq>.snap   state at <seq>; <seq>.base.snap: retention base
    <db>/tables/<table>/indexes/               the LMDB environment (rebuildable)
    <db>/tables/<table>/quarantine/            damaged bytes doctor --repair moved aside
    <db>/tables/<table>/COMPACTING             the manifest of a rewrite in progress

No other module spells these names; they ask here.
"""

from __future__ import annotations

import os
import re

from driftdb.errors import FileSystemError

LOCK = "LOCK"
TABLES = "tables"
SCHEMA = "schema.yaml"
META = "meta.json"
SEGMENTS = "segments"
SNAPSHOTS = "snapshots"
INDEXES = "indexes"
QUARANTINE = "quarantine"
MANIFEST = "COMPACTING"  # storage/rewrite.py: a log rewrite (compaction, retention, purge)
REWRITE_TEMP_SUFFIX = ".rewrite.tmp"  # a file staged by a rewrite, not yet installed
TEMP_SUFFIX = ".tmp"  # a small file being replaced atomically (storage/fs.py)
INDEX_DATA = "data.mdb"  # LMDB's names for its files in indexes/
INDEX_LOCK = "lock.mdb"
SNAPSHOT_SUFFIX = ".snap"
BASE_SNAPSHOT_SUFFIX = ".base.snap"

_SEGMENT_NAME = re.compile(r"(\d{8})\.seg\Z")
_SNAPSHOT_NAME = re.compile(r"(\d+)\.snap\Z")
_BASE_NAME = re.compile(r"(\d+)\.base\.snap\Z")


# -- the database ---------------------------------------------------------------------------


def lock_path(root: str) -> str:
    return os.path.join(root, LOCK)


def tables_dir(root: str) -> str:
    return os.path.join(root, TABLES)


def table_dir(root: str, name: str) -> str:
    return os.path.join(root, TABLES, name)


# -- one table ------------------------------------------------------------------------------


def schema_path(table: str) -> str:
    return os.path.join(table, SCHEMA)


def meta_path(table: str) -> str:
    return os.path.join(table, META)


def segments_dir(table: str) -> str:
    return os.path.join(table, SEGMENTS)


def snapshots_dir(table: str) -> str:
    return os.path.join(table, SNAPSHOTS)


def index_dir(table: str) -> str:
    return os.path.join(table, INDEXES)


def quarantine_dir(table: str) -> str:
    return os.path.join(table, QUARANTINE)


def manifest_path(table: str) -> str:
    return os.path.join(table, MANIFEST)


def index_data_path(table: str) -> str:
    return os.path.join(table, INDEXES, INDEX_DATA)


# -- segments -------------------------------------------------------------------------------


def segment_name(number: int) -> str:
    return f"{number:08d}.seg"


def segment_path(directory: str, number: int) -> str:
    """The path of segment `number` in a table's segments directory."""
    return os.path.join(directory, segment_name(number))


def segment_number(path: str) -> int:
    """The number of the segment at `path` (which must be a segment name)."""
    found = _SEGMENT_NAME.match(os.path.basename(path))
    assert found is not None, path
    return int(found.group(1))


def list_segments(directory: str) -> list[int]:
    """Segment numbers present in `directory`, ascending."""
    return _numbers(directory, _SEGMENT_NAME)


# -- snapshots ------------------------------------------------------------------------------


def snapshot_name(seq: int, base: bool = False) -> str:
    return f"{seq}{BASE_SNAPSHOT_SUFFIX}" if base else f"{seq}{SNAPSHOT_SUFFIX}"


def snapshot_rel(name: str) -> str:
    """A snapshot file's path relative to its table's directory (as rewrites name files)."""
    return os.path.join(SNAPSHOTS, name)


def is_snapshot_file(name: str) -> bool:
    """A plain or base snapshot file name (what rewrites and doctor look at)."""
    return name.endswith(SNAPSHOT_SUFFIX)


def is_base_snapshot(name: str) -> bool:
    return name.endswith(BASE_SNAPSHOT_SUFFIX)


def list_snapshots(directory: str) -> list[int]:
    """Seqs of the plain snapshot files in `directory`, ascending (unchecked)."""
    return _numbers(directory, _SNAPSHOT_NAME)


def list_bases(directory: str) -> list[int]:
    """Seqs of the base snapshot files in `directory`, ascending (unchecked)."""
    return _numbers(directory, _BASE_NAME)


# -- quarantine -----------------------------------------------------------------------------


def quarantine_name(segment: int, offset: int) -> str:
    """The file doctor --repair copies the damaged bytes at (segment, offset) to."""
    return f"{segment:08d}-{offset}.bin"


def quarantined_snapshot_name(name: str) -> str:
    return f"snapshot-{name}"


QUARANTINED_INDEX = "indexes-data.mdb"


def _numbers(directory: str, pattern: re.Pattern[str]) -> list[int]:
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise FileSystemError.wrap(exc, "cannot list", directory) from exc
    return sorted(int(m.group(1)) for n in names if (m := pattern.match(n)))
