"""Helpers for the issue 16 gap tests (batches across an index loss, two damage sites,
retention alignment, purge counts, snapshots at a damaged seq): the log as events, the
reference answers at every seq by replay, and the same answers asked of the public API.

The reference is `driftdb.model.replay.state_at` over the events read straight from the
segments; nothing here goes through the indexes, snapshots or recovery under test.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import driftdb
from driftdb.model.events import Event, unpack_event
from driftdb.model.replay import state_at
from driftdb.storage.segment import iter_frames


def log_events(db_path: str | os.PathLike[str], table: str) -> list[Event]:
    """Every event in the table's segments, in order; the log must read clean."""
    out = []
    for result in iter_frames(os.path.join(db_path, "tables", table, "segments")):
        assert result.problem is None, result.problem
        for record in result.frames:
            body = record.body
            out.append(unpack_event(body.seq, body.unix_ms, body.event_type, body.payload))
    return out


def keys_of(events: Iterable[Event]) -> list[Any]:
    """Every key the events name, in order of first appearance."""
    return list(dict.fromkeys(e.key for e in events))


def expected_at(
    events: list[Event], seq: int, keys: list[Any], primary_key: str = "id"
) -> dict[str, Any]:
    """The reference answers at `seq`: every live row, the count, and each key's row."""
    state = state_at(events, seq, primary_key)
    return {
        "rows": sorted(state.values(), key=repr),
        "count": len(state),
        "get": {k: state.get(k) for k in keys},
    }


def answers_at(table: driftdb.Table, seq: int, keys: list[Any]) -> dict[str, Any]:
    """What the public read API says at `seq` (a full-table select, count, point reads)."""
    return {
        "rows": sorted(table.select(as_of=seq), key=repr),
        "count": table.count(as_of=seq),
        "get": {k: table.get(k, as_of=seq) for k in keys},
    }


def mismatches(
    table: driftdb.Table, events: list[Event], seqs: Iterable[int], keys: list[Any]
) -> list[str]:
    """The seqs at which the table's answers differ from the replay of `events`, with the
    first difference spelled out (an empty list when every answer agrees)."""
    out = []
    for seq in seqs:
        got = answers_at(table, seq, keys)
        want = expected_at(events, seq, keys, table.primary_key)
        if got != want:
            for part in ("rows", "count", "get"):
                if got[part] != want[part]:
                    out.append(f"@seq:{seq} {part}: got {got[part]!r}, replay {want[part]!r}")
                    break
    return out


def open_recording_warnings(path: str | os.PathLike[str]) -> tuple[driftdb.Database, list[str]]:
    """Open as the writer and return the database with the DriftWarnings its recovery gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        db = driftdb.open(path)
    return db, [str(w.message) for w in caught if issubclass(w.category, driftdb.DriftWarning)]


def delete_indexes(db_path: str | os.PathLike[str], table: str) -> None:
    """Remove a table's index directory (the database must be closed)."""
    shutil.rmtree(Path(db_path) / "tables" / table / "indexes")


def damage_index(db_path: str | os.PathLike[str], table: str) -> None:
    """Zero the LMDB meta pages of a table's index (the database must be closed): LMDB no
    longer recognizes the file, so the writer must drop it and rebuild from the log."""
    data = Path(db_path) / "tables" / table / "indexes" / "data.mdb"
    raw = bytearray(data.read_bytes())
    raw[: min(len(raw), 8192)] = bytes(min(len(raw), 8192))
    data.write_bytes(bytes(raw))
