"""Check a Delta export against the database, with code that shares nothing with the writer.

The Delta side is read here from scratch: the `_delta_log/*.json` commits as JSON (protocol,
schema, the files added and removed, the `txn` watermark), the data files with pyarrow's
Parquet reader, AS OF by the max_by rule written out in Python. The DriftDB side is the
database's own answers: the seqs in its log and `Table.select(as_of=...)`.

Checked, per table: protocol reader 1 / writer 2 with no table features; the columns; no
(seq, key) twice; the exported seqs equal the table's seqs from the export's first kept seq
to its watermark (no gap, nothing extra); the watermark equals the highest exported seq; the
state at a sample of seqs equals DriftDB's `AS OF @seq:N`. Local paths only.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

from driftdb.errors import HistoryUnavailableError
from driftdb.export.delta import COLUMNS, ExportError, Source, app_id, require_packages, table_uri
from driftdb.model.events import MAX_SEQ
from driftdb.storage.segment import iter_frames
from driftdb.table import Table

SAMPLE_SEQS = 10


@dataclass
class Verification:
    """What `verify_delta` found for one table; `problems` is empty when the export is exact."""

    table: str
    uri: str
    rows: int = 0
    watermark: int | None = None
    head: int = 0
    checked: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        verdict = "ok" if not self.problems else f"{len(self.problems)} problem(s)"
        behind = f"; the table's head is @seq:{self.head}" if self.head != self.watermark else ""
        text = (
            f'table "{self.table}": {verdict}: {self.rows} rows up to @seq:{self.watermark}'
            f"{behind}; states at {len(self.checked)} seqs checked ({self.uri})"
        )
        return "\n".join([text, *(f"  {p}" for p in self.problems)])


@dataclass
class DeltaLog:
    """What the JSON commits of `_delta_log` say, replayed in version order."""

    protocol: dict[str, Any] = field(default_factory=dict)
    schema: list[str] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)  # live data files -> version added
    txns: dict[str, int] = field(default_factory=dict)  # appId -> version (the watermark)
    versions: int = 0


def read_log(root: str) -> DeltaLog:
    """Replay `root/_delta_log/<version>.json` from version 0 (ExportError if it is gone)."""
    log_dir = os.path.join(root, "_delta_log")
    names = sorted(n for n in os.listdir(log_dir) if n.endswith(".json") and n[:-5].isdigit())
    if not names or int(names[0][:-5]) != 0:
        raise ExportError(
            f"{log_dir} does not start at version 0 (a checkpoint replaced older commits); "
            "the checker reads JSON commits only"
        )
    log = DeltaLog()
    for version, name in enumerate(names):
        if int(name[:-5]) != version:
            raise ExportError(f"{log_dir}: commit {version} is missing")
        with open(os.path.join(log_dir, name), encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    _apply_action(log, json.loads(line), version)
        log.versions = version + 1
    return log


def _apply_action(log: DeltaLog, action: dict[str, Any], version: int) -> None:
    if "protocol" in action:
        log.protocol = action["protocol"]
    elif "metaData" in action:
        schema = json.loads(action["metaData"]["schemaString"])
        log.schema = [f"{f['name']}:{f['type']}" for f in schema["fields"]]
    elif "add" in action:
        log.files[unquote(action["add"]["path"])] = version
    elif "remove" in action:
        log.files.pop(unquote(action["remove"]["path"]), None)
    elif "txn" in action:
        log.txns[action["txn"]["appId"]] = int(action["txn"]["version"])


def read_rows(root: str, log: DeltaLog) -> list[dict[str, Any]]:
    """Every row of the live data files, read with pyarrow's Parquet reader."""
    require_packages()
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for name in sorted(log.files):
        table = pq.read_table(
            os.path.join(root, name), columns=["seq", "ts_ms", "op", "key", "doc"]
        )
        rows += table.to_pylist()
    return rows


class Replay:
    """AS OF by the export's query, for seqs asked in ascending order: per key, the row of
    its highest seq <= N; keys whose last event is a SOFT_DELETE (or carries no row: purged)
    are absent. One pass over the rows, sorted by seq, for all the seqs asked."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = sorted(rows, key=lambda r: r["seq"])
        self.next = 0
        self.last: dict[str, dict[str, Any]] = {}

    def state_at(self, seq: int) -> dict[str, Any]:
        while self.next < len(self.rows) and self.rows[self.next]["seq"] <= seq:
            row = self.rows[self.next]
            self.last[row["key"]] = row
            self.next += 1
        return {
            key: json.loads(row["doc"])
            for key, row in self.last.items()
            if row["op"] != "SOFT_DELETE" and row["doc"] is not None
        }


def table_seqs(db: Source, table: Table) -> list[int]:
    """The seqs of the table's events now in its log, through one read view."""
    with db.view_of(table) as view:
        newest = view.last_seq()
        covered = view.covered_seq if view.reader is not None else -1
        seqs: list[int] = []
        for result in iter_frames(view.segments_dir):
            seqs += [r.body.seq for r in result.frames if r.body.seq <= covered]
        seqs += [e.seq for e in view.tail if covered < e.seq <= newest]
    return sorted(set(seqs))


def verify_delta(
    db: Source, uri: str, tables: Sequence[str] | None = None, samples: int = SAMPLE_SEQS
) -> list[Verification]:
    """Check the export at `uri` of each table (every table with an export by default)."""
    root = urlparse(uri).path if uri.startswith("file://") else uri
    if "://" in root:
        raise ExportError(f"--verify reads local paths only, not {uri}")
    names = list(tables) if tables else db.tables()
    chosen = [db.table(name) for name in names]
    out = []
    for table in chosen:
        path = table_uri(root, table.name)
        if tables or os.path.isdir(os.path.join(path, "_delta_log")):
            out.append(verify_table(db, table, path, samples))
    if not out:
        raise ExportError(f"{uri} holds no export of any table of this database")
    return out


def verify_table(db: Source, table: Table, root: str, samples: int) -> Verification:
    """Every check of the module docstring, for one table."""
    found = Verification(table.name, root)
    if not os.path.isdir(os.path.join(root, "_delta_log")):
        found.problems.append(f"{root} is not a Delta table (no _delta_log)")
        return found
    log = read_log(root)
    problems = found.problems
    protocol = {k: v for k, v in log.protocol.items() if v is not None}
    if protocol != {"minReaderVersion": 1, "minWriterVersion": 2}:
        problems.append(f"protocol is {protocol}, not reader 1 / writer 2 without features")
    wanted = [f"{name}:{kind}" for name, kind in COLUMNS]
    if log.schema != wanted:
        problems.append(f"columns are {log.schema}, not {wanted}")
    found.watermark = log.txns.get(app_id(db.path, table.name))
    rows = read_rows(root, log)
    found.rows = len(rows)
    pairs = [(r["seq"], r["key"]) for r in rows]
    if len(set(pairs)) != len(pairs):
        problems.append(f"{len(pairs) - len(set(pairs))} rows repeat a (seq, key)")
    exported = sorted({r["seq"] for r in rows})
    top = exported[-1] if exported else None
    if found.watermark != top:
        problems.append(f"the watermark is @seq:{found.watermark}, the highest seq @seq:{top}")
    if not exported or found.watermark is None:
        return found
    horizon = table.horizon()
    floor = max(exported[0], horizon + 1 if horizon is not None else 0)
    seqs = table_seqs(db, table)
    found.head = seqs[-1] if seqs else 0
    expected = [s for s in seqs if floor <= s <= found.watermark]
    have = [s for s in exported if floor <= s]
    if have != expected:
        missing = sorted(set(expected) - set(have))
        extra = sorted(set(have) - set(expected))
        problems.append(f"seqs differ: missing {missing[:10]}, not in the table {extra[:10]}")
    candidates = [s for s in expected if s >= (horizon or 0)]
    picked = {candidates[0], candidates[-1]} if candidates else set()
    picked |= set(random.Random(0).sample(candidates, min(samples, len(candidates))))
    replay = Replay(rows)
    for seq in sorted(picked):
        _check_state(table, replay, seq, found)
    return found


def _check_state(table: Table, replay: Replay, seq: int, found: Verification) -> None:
    try:
        truth = {
            json.dumps(row[table.primary_key], ensure_ascii=False): row
            for row in table.select(as_of=f"@seq:{min(seq, MAX_SEQ)}")
        }
    except HistoryUnavailableError:
        return
    found.checked.append(seq)
    mine = replay.state_at(seq)
    if mine != truth:
        keys = sorted(k for k in set(mine) | set(truth) if mine.get(k) != truth.get(k))
        found.problems.append(f"state at @seq:{seq} differs for keys {keys[:10]}")
