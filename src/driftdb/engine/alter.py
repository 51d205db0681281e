"""ALTER TABLE ... ADD INDEX / DROP INDEX: indexes added to a table that already has history.

ADD INDEX, in order (the writer holds maintenance mode throughout):
1. check the columns (new, well formed, within the limit) against the schema;
2. build the temporal index and value counts from every version in the key directory, in one
   LMDB transaction, then sync it (`TableIndex.add_columns`): AS OF any covered seq can use them;
3. replace schema.yaml atomically (write-temp, fsync, rename, fsync the directory) with the
   columns and the change recorded at the head seq; only now do queries plan with the index.
A crash after 2 and before 3 leaves entries no schema names: unused, and rebuilt by the next
ADD INDEX. DROP INDEX replaces schema.yaml first, then empties the entries.
"""

from __future__ import annotations

from typing import Protocol

from driftdb.errors import InvalidInputError
from driftdb.index.store import TableIndex
from driftdb.model.progress import progress_reporter
from driftdb.model.schema import TableSchema
from driftdb.model.wording import plural
from driftdb.storage import fs, paths


class AlteredTable(Protocol):
    schema: TableSchema
    index: TableIndex | None

    @property
    def name(self) -> str: ...

    @property
    def directory(self) -> str: ...


def _write_schema(table: AlteredTable, schema: TableSchema) -> None:
    fs.write_file_atomically(paths.schema_path(table.directory), schema.to_yaml())
    table.schema = schema


def add_index(table: AlteredTable, columns: list[str], seq: int) -> str:
    """Build and record new indexed columns (see the module docstring)."""
    already = [c for c in columns if c in table.schema.indexes]
    if already:
        raise InvalidInputError(f'table "{table.name}" already indexes {already[0]!r}')
    schema = table.schema.with_index_change("add", columns, seq)  # checks names and limits
    assert table.index is not None
    report = progress_reporter.get()
    what = f"indexing {', '.join(columns)} (versions)"
    versions = table.index.add_columns(
        columns, (lambda done, total: report(what, done, total)) if report else None
    )
    _write_schema(table, schema)
    shown = ", ".join(columns)
    return (
        f'added index ({shown}) to table "{table.name}" at @seq:{seq} '
        f"({plural(versions, 'version')} indexed)"
    )


def drop_index(table: AlteredTable, columns: list[str], seq: int) -> str:
    """Forget indexed columns: schema.yaml first, then the entries."""
    missing = [c for c in columns if c not in table.schema.indexes]
    if missing:
        have = ", ".join(table.schema.indexes) or "none"
        raise InvalidInputError(
            f'table "{table.name}" has no index on {missing[0]!r} (indexed: {have})'
        )
    _write_schema(table, table.schema.with_index_change("drop", columns, seq))
    assert table.index is not None
    table.index.drop_columns(columns)
    return f'dropped index ({", ".join(columns)}) from table "{table.name}" at @seq:{seq}'
