"""Measure the Delta Lake export (issue 14): export rate, bytes per event, and the portable
AS OF query in DuckDB over the export next to DriftDB's own AS OF.

    python benchmarks/export_delta.py --events 1000000 --dir /tmp/driftdb-export-bench

Workload as benchmarks/run.py: about 65% inserts, 32% status patches, 3% soft deletes, in
batches of 1000 (one table, integer keys). The database is built once and reused when --dir
already holds one with that many events.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import duckdb
from deltalake import DeltaTable

import driftdb

QUERY = (
    "SELECT key, max_by(doc, seq) AS doc FROM read_parquet($files) WHERE seq <= $n "
    "GROUP BY key HAVING max_by(op, seq) <> 'SOFT_DELETE'"
)


def build(path: Path, events: int, batch: int) -> None:
    rng = random.Random(4)
    inserts = events * 20 // 31
    patches = events * 10 // 31
    deletes = events - inserts - patches
    with driftdb.open(path, create=True) as db:
        orders = db.create_table("orders", indexes=["status"])
        for start in range(0, inserts, batch):
            ids = range(start, min(start + batch, inserts))
            orders.insert_many(
                [{"id": i, "status": "new", "total": i % 997, "tags": ["a", "b"]} for i in ids]
            )
        for start in range(0, patches, batch):
            with db.batch():
                for _ in range(min(batch, patches - start)):
                    orders.patch(rng.randrange(inserts), {"status": rng.choice(["paid", "sent"])})
        deleted = rng.sample(range(inserts), deletes)
        for start in range(0, deletes, batch):
            with db.batch():
                for key in deleted[start : start + batch]:
                    orders.soft_delete(key)


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def timed(fn: Any, repeat: int = 3) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--dir", default="/tmp/driftdb-export-bench")
    parser.add_argument("--max-events", type=int, default=None)
    args = parser.parse_args()
    root = Path(args.dir)
    db_path = root / f"db-{args.events}"
    if not db_path.exists():
        started = time.perf_counter()
        build(db_path, args.events, args.batch)
        print(f"built {args.events} events in {time.perf_counter() - started:.1f} s")
    lake = root / f"lake-{args.events}"
    shutil.rmtree(lake, ignore_errors=True)
    out: dict[str, Any] = {"events": args.events}
    with driftdb.open(db_path, readonly=True) as db:
        head = db.head()
        started = time.perf_counter()
        [report] = db.export_delta(str(lake), max_events=args.max_events)
        seconds = time.perf_counter() - started
        out["export_s"] = round(seconds, 2)
        out["export_events_per_s"] = round(report.events / seconds)
        out["delta_versions"] = len(report.versions)
        size = tree_bytes(lake / "orders")
        out["delta_bytes"] = size
        out["bytes_per_event"] = round(size / report.events, 1)
        out["driftdb_segment_bytes_per_event"] = round(
            tree_bytes(db_path / "tables" / "orders" / "segments") / head, 1
        )
        started = time.perf_counter()
        again = db.export_delta(str(lake))
        out["rerun_nothing_new_s"] = round(time.perf_counter() - started, 3)
        assert again[0].events == 0
        orders = db.table("orders")
        n = head * 806 // 1000  # T_mid of benchmarks/run.py
        files = [f.removeprefix("file://") for f in DeltaTable(str(lake / "orders")).file_uris()]
        con = duckdb.connect()
        duck_s, duck_rows = timed(lambda: con.execute(QUERY, {"files": files, "n": n}).fetchall())
        count_q = f"SELECT count(*) FROM ({QUERY})"
        duck_count_s, _ = timed(lambda: con.execute(count_q, {"files": files, "n": n}).fetchall())
        drift_s, drift_rows = timed(lambda: list(orders.select(as_of=f"@seq:{n}")))
        drift_count_s, drift_count = timed(lambda: orders.count(as_of=f"@seq:{n}"))
        assert len(duck_rows) == len(drift_rows) == drift_count
        sample = dict(random.Random(1).sample(sorted(duck_rows), 1000))
        truth = {json.dumps(r["id"]): r for r in drift_rows}
        assert all(json.loads(doc) == truth[key] for key, doc in sample.items())
        out.update(
            as_of_seq=n,
            rows_at_as_of=len(drift_rows),
            duckdb_rows_s=round(duck_s, 3),
            duckdb_count_s=round(duck_count_s, 3),
            driftdb_rows_s=round(drift_s, 3),
            driftdb_count_s=round(drift_count_s, 4),
        )
        started = time.perf_counter()
        found = __import__("driftdb.export.verify", fromlist=["verify_delta"]).verify_delta(
            db, str(lake), samples=3
        )
        out["verify_s"] = round(time.perf_counter() - started, 1)
        out["verify_problems"] = found[0].problems
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
