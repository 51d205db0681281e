"""Reading a Delta export back as a user would: the portable AS OF query run by DuckDB over the
Parquet files the Delta log lists (DuckDB's delta extension would need a download)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
from deltalake import DeltaTable

import driftdb
from driftdb.model.timepoint import format_unix_ms

AS_OF_SEQ = (
    "SELECT key, max_by(doc, seq) AS doc FROM read_parquet($files) WHERE seq <= $n "
    "GROUP BY key HAVING max_by(op, seq) <> 'SOFT_DELETE'"
)
AS_OF_TIME = AS_OF_SEQ.replace("seq <= $n", "ts_ms <= $n")


def data_files(uri: Path | str, version: int | None = None) -> list[str]:
    """The Parquet files of the Delta table's current (or given) version."""
    table = DeltaTable(str(uri), version=version)
    return [f.removeprefix("file://") for f in table.file_uris()]


def duck_state(files: list[str], n: int, by_time: bool = False) -> dict[str, Any]:
    """The portable AS OF query over `files`, as {key JSON text: row}."""
    if not files:
        return {}
    query = AS_OF_TIME if by_time else AS_OF_SEQ
    with duckdb.connect() as con:
        found = con.execute(query, {"files": files, "n": n}).fetchall()
    return {key: json.loads(doc) if doc is not None else None for key, doc in found}


def drift_state(table: driftdb.Table, n: int, by_time: bool = False) -> dict[str, Any]:
    """DriftDB's own AS OF, keyed like the export (the key's JSON text)."""
    point = format_unix_ms(n) if by_time else f"@seq:{n}"
    return {
        json.dumps(row[table.primary_key], ensure_ascii=False): row
        for row in table.select(as_of=point)
    }


def delta_log(uri: Path) -> list[list[dict[str, Any]]]:
    """The actions of every JSON commit of `_delta_log`, in version order."""
    names = sorted((uri / "_delta_log").glob("*.json"))
    return [[json.loads(line) for line in p.read_text().splitlines() if line] for p in names]
