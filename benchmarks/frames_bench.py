"""to_arrow and to_pandas of N rows AS OF a past point, next to pandas.read_sql of the same
rows from SQLite: wall time and peak memory (max RSS growth) of each, each in its own process.

    python benchmarks/frames_bench.py --rows 1000000 --dir /tmp/frames-bench
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time


def build(directory: str, rows: int) -> int:
    """N inserts, then a patch of every 10th row: returns the seq before the patches."""
    import driftdb

    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "db")
    if os.path.exists(path):
        return read_point(directory)
    with driftdb.open(path, create=True) as db:
        t = db.create_table("orders", indexes=["status"])
        step = 20_000
        for start in range(0, rows, step):
            t.insert_many(
                {
                    "id": i,
                    "customer": f"c{i % 5000}",
                    "status": "new",
                    "total": i * 0.5,
                    "qty": i % 7,
                }
                for i in range(start, min(rows, start + step))
            )
        point = db.head()
        with db.batch():
            for i in range(0, rows, 10):
                t.patch(i, {"status": "paid"})
    con = sqlite3.connect(os.path.join(directory, "orders.sqlite"))
    con.execute(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, status TEXT, "
        "total REAL, qty INTEGER)"
    )
    con.executemany(
        "INSERT INTO orders VALUES (?, ?, ?, ?, ?)",
        ((i, f"c{i % 5000}", "new", i * 0.5, i % 7) for i in range(rows)),
    )
    con.commit()
    con.close()
    with open(os.path.join(directory, "point.json"), "w") as out:
        json.dump({"seq": point}, out)
    return point


def read_point(directory: str) -> int:
    with open(os.path.join(directory, "point.json")) as f:
        return int(json.load(f)["seq"])


def measure(kind: str, directory: str, point: int) -> dict[str, float]:
    # Imported before the baseline, as a user would have them.
    import pandas as pd
    import pyarrow  # noqa: F401

    import driftdb

    sampler = RssSampler()
    base = sampler.rss()
    sampler.start()
    start = time.perf_counter()
    if kind == "sqlite":
        con = sqlite3.connect(os.path.join(directory, "orders.sqlite"))
        frame = pd.read_sql("SELECT * FROM orders", con)
        n = len(frame)
    else:
        with driftdb.open(os.path.join(directory, "db"), readonly=True) as db:
            t = db.table("orders")
            if kind == "to_arrow":
                n = t.to_arrow(as_of=point).num_rows
            else:
                n = len(t.to_pandas(as_of=point))
    took = time.perf_counter() - start
    peak = sampler.stop()
    return {
        "rows": n,
        "seconds": round(took, 2),
        "peak_rss_growth_mib": round((peak - base) / 2**20, 1),
    }


class RssSampler(threading.Thread):
    """The peak resident set size, sampled every 5 ms from /proc/self/statm (ru_maxrss is
    not kept on every kernel this runs on)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self.done = threading.Event()

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.005)

    def stop(self) -> int:
        self.done.set()
        self.join()
        return max(self.peak, self.rss())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dir", default="/tmp/frames-bench")
    parser.add_argument("--measure", default=None)
    args = parser.parse_args()
    if args.measure:
        point = read_point(args.dir)
        print(json.dumps(measure(args.measure, args.dir, point)))
        return
    t0 = time.perf_counter()
    point = build(args.dir, args.rows)
    print(
        f"built {args.rows} rows (+{args.rows // 10} patches) in "
        f"{time.perf_counter() - t0:.0f} s; AS OF @seq:{point}",
        flush=True,
    )
    for kind in ("to_arrow", "to_pandas", "sqlite"):
        out = subprocess.run(
            [sys.executable, __file__, "--dir", args.dir, "--measure", kind],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        print(kind, out.strip())


if __name__ == "__main__":
    main()
