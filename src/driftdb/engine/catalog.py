"""The catalog: a database's tables on disk, loaded, created and closed.

A table exists once its schema.yaml is durable (docs/format.md, "schema.yaml and
meta.json"); its indexes are a cache, opened here and rebuilt from the log when damaged.
"""

from __future__ import annotations

import contextlib
import json
import os

from driftdb.engine.tablestore import TableStore
from driftdb.errors import DriftIOError, InvalidInputError, UnsafeFileError
from driftdb.index.store import TableIndex
from driftdb.model.schema import TableSchema
from driftdb.model.untrusted import MAX_SCHEMA_BYTES
from driftdb.storage import fs, paths, safe_path
from driftdb.storage.appender import SegmentAppender
from driftdb.storage.paths import list_segments
from driftdb.storage.witness import identity_mismatch, read_witness, table_id


def read_schema(tables_dir: str, name: str) -> TableSchema:
    """The schema of table `name`; InvalidInputError if it names another table."""
    with safe_path.open_read(paths.schema_path(os.path.join(tables_dir, name))) as handle:
        text = handle.read(MAX_SCHEMA_BYTES + 1)  # bounded before parsing: untrusted input
    schema = TableSchema.from_yaml(text, f"tables/{name}/schema.yaml")
    if schema.name != name:
        raise InvalidInputError(f"tables/{name}/schema.yaml names table {schema.name!r}")
    return schema


def open_index(table: TableStore, readonly: bool, notes: list[str]) -> None:
    """Open the table's LMDB environment: the writer rebuilds a damaged one (noting it); a
    reader without a usable one reads the log instead (`table.index` stays None)."""
    schema = table.schema
    if not readonly:
        try:
            table.index = TableIndex(table.index_dir, schema.indexes, readonly=False)
            if table.index.rebuilt_reason is not None:
                notes.append(
                    f'table "{table.name}": {table.index.rebuilt_reason}; rebuilt from the log'
                )
        except UnsafeFileError:
            raise  # a link or special file: never removed or rebuilt over, only reported
        except Exception as exc:  # lmdb.Error and friends: a damaged index file
            # The indexes are a cache of the log: drop the damaged files, rebuild.
            notes.append(
                f'table "{table.name}": the index files were damaged ({exc}); rebuilt from the log'
            )
            import shutil  # imported when used: a cold read never needs it

            shutil.rmtree(table.index_dir, ignore_errors=True)
            table.index = TableIndex(table.index_dir, schema.indexes, readonly=False)
        _check_identity(table, notes)
    elif os.path.exists(paths.index_data_path(table.directory)):
        try:
            table.index = TableIndex(table.index_dir, schema.indexes, readonly=True)
            with table.index.read() as reader:
                foreign = identity_mismatch(table.name, table.directory, reader.identity())
            if foreign is not None:
                table.index.close()
                table.index = None  # another table's (or log's) index: read the log instead
        except Exception:  # a damaged or foreign index: read the log instead
            table.index = None


def _check_identity(table: TableStore, notes: list[str]) -> None:
    """The writer's index must be this table's, for this log: one copied in from another
    table or database is dropped (it witnesses nothing here) and rebuilt from the log; one
    without an identity is stamped (docs/format.md, "Index identity")."""
    assert table.index is not None
    with table.index.read() as reader:
        identity = reader.identity()
    foreign = identity_mismatch(table.name, table.directory, identity)
    if foreign is not None:
        notes.append(f'table "{table.name}": {foreign}; rebuilt from the log')
        table.index.clear()
    if identity is None or foreign is not None:
        table.index.set_identity(
            {"table": table.name, "id": table_id(table.directory) or _new_id()}
        )


def _new_id() -> str:
    import secrets  # only when an index gets its identity: a cold start saves ~5 ms

    return secrets.token_hex(8)


def create_table_files(tables_dir: str, schema: TableSchema) -> str:
    """Create the table's directory and its durable schema.yaml; returns the directory."""
    name = schema.name
    directory = os.path.join(tables_dir, name)
    if os.path.exists(directory) and not is_unfinished_create(directory):
        raise InvalidInputError(
            f'tables/{name} exists but has no schema.yaml; move it away or run "driftdb doctor"'
        )
    try:
        fs.make_dirs_durably(paths.segments_dir(directory))
        fs.write_file_atomically(paths.schema_path(directory), schema.to_yaml())
    except OSError as exc:
        # Without a durable schema.yaml the table does not exist: take away the empty
        # directories (never anything with data in it) so a retry starts clean.
        if is_unfinished_create(directory):
            import shutil

            shutil.rmtree(directory, ignore_errors=True)
        raise DriftIOError(f"CREATE TABLE {name} failed ({exc}); nothing was created") from exc
    return directory


def start_writing(table: TableStore) -> None:
    """Open a new table's indexes and its first segment, as its writer. DriftIOError when the
    index cannot be created: the table exists (its schema.yaml is durable), and the caller
    stops the writer so that the next open builds the index."""
    try:
        table.index = TableIndex(table.index_dir, table.schema.indexes, readonly=False)
        table.index.set_identity({"table": table.name, "id": _new_id()})
    except OSError as exc:
        raise DriftIOError(
            f"CREATE TABLE {table.name}: the table was created but creating its index failed "
            f"({exc}); the writer is stopped: reopen the database (it builds the index)"
        ) from exc
    table.appender = SegmentAppender(table.segments_dir, table.schema.option("segment_size_bytes"))


def close_table(table: TableStore, write_meta: bool) -> None:
    """Close the active segment (trimming the zeros written ahead of its frames, unless the
    writer stopped after a failure) and the indexes; the writer first rewrites meta.json."""
    if table.appender is not None:
        # A failed trim leaves unwritten space, which the next writer open trims: closing
        # goes on (the indexes, the lock), as it must.
        with contextlib.suppress(OSError):
            table.appender.close(trim=write_meta)
    if table.index is not None:
        with contextlib.suppress(Exception):  # the log is the truth; index is a cache
            if write_meta:
                _write_meta(table)
        table.index.close()
        table.index = None


def _write_meta(table: TableStore) -> None:
    """meta.json: a cache of counters for people and tools, rebuilt from the log anytime."""
    assert table.index is not None
    with table.index.read() as reader:
        covered = reader.covered()
        horizon = reader.horizon()
    body = {
        "table": table.name,
        "last_seq": covered.seq if covered else 0,
        "live_rows": covered.live if covered else 0,
        "horizon": horizon.to_wire() if horizon else None,
        "segments": list_segments(table.segments_dir),
    }
    with table.index.read() as reader:
        identity = reader.identity()
    if identity is not None and identity.get("table") == table.name:
        body["id"] = identity.get("id")  # the index carries it too: see _check_identity
    floor = read_witness(table.directory).floor
    if floor > 0:
        body["retired_seq"] = floor  # seqs doctor --repair gave up: never handed out again
    fs.write_file_atomically(paths.meta_path(table.directory), json.dumps(body, indent=2).encode())


def is_unfinished_create(directory: str) -> bool:
    """A table directory left by a CREATE TABLE that failed before its schema.yaml was
    durable: nothing in it but empty directories and a schema temp file."""
    for root, _dirs, files in os.walk(directory):
        if any(not f.endswith(paths.TEMP_SUFFIX) for f in files):
            return False
        del root
    return True
