"""`make demo`: the README's tour on 10,000 seeded orders with a history that matters.

Runs the real `driftdb` command for every step (as a user would), prints each command and how
long it took, and finishes in well under 30 seconds.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "demo-data"
DRIFTDB = str(Path(sys.executable).parent / "driftdb")
ORDERS = 10_000
STATUSES = ["new", "paid", "shipped", "delivered"]


def step(title: str, *args: str, show: bool = True) -> str:
    """Run one driftdb command, print it, its output and its wall time."""
    print(f"\n== {title}")
    print("$ driftdb " + " ".join(_quote(a) for a in args))
    started = time.perf_counter()
    done = subprocess.run([DRIFTDB, *args], capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if show and done.stdout:
        print(done.stdout.rstrip())
    if done.stderr:
        print(done.stderr.rstrip())
    print(f"   ({elapsed * 1000:.0f} ms)")
    if done.returncode != 0:
        sys.exit(f"demo step failed with exit code {done.returncode}: {title}")
    return done.stdout


def _quote(arg: str) -> str:
    """`arg` as a POSIX shell reads it back, so that every printed command can be pasted.
    Text holding single quotes goes in double quotes when nothing in it is special there
    (shlex.quote would write each ' as '"'"')."""
    if "'" in arg and not any(c in arg for c in '"$`\\!'):
        return f'"{arg}"'
    return shlex.quote(arg)


def main() -> None:
    started = time.perf_counter()
    rng = random.Random(2025)
    if DATA.exists():
        shutil.rmtree(DATA)
    work = ROOT / "demo-work"
    work.mkdir(exist_ok=True)
    orders_file = work / "orders.jsonl"
    with orders_file.open("w") as out:
        for i in range(1, ORDERS + 1):
            doc = {
                "id": i,
                "customer": f"c{rng.randrange(500):03d}",
                "status": "new",
                "total": round(rng.uniform(5, 500), 2),
                "items": rng.randrange(1, 9),
            }
            out.write(json.dumps(doc) + "\n")
    print(f"generated {ORDERS:,} seeded orders in {orders_file.relative_to(ROOT)}")

    d = str(DATA.relative_to(ROOT))
    os.chdir(ROOT)
    step("create the database", "init", d)
    step(
        "create the table",
        "sql",
        "-d",
        d,
        "-e",
        "CREATE TABLE orders (pk=id, INDEX(status, customer))",
    )
    step(
        "ingest the orders (durable batches of 1000)",
        "ingest",
        "-d",
        d,
        "--table",
        "orders",
        "--file",
        str(orders_file.relative_to(ROOT)),
    )
    checkpoint = 10_000  # every order is in, none is paid yet: @seq:10000

    # A stream of status changes and soft deletes, so that history matters.
    script = work / "changes.dql"
    status = {i: 0 for i in range(1, ORDERS + 1)}
    deleted: set[int] = set()
    lines = []
    for _ in range(4000):
        key = rng.randrange(1, ORDERS + 1)
        if key in deleted or status[key] == len(STATUSES) - 1:
            continue
        status[key] += 1
        lines.append(f'PATCH orders KEY {key} SET {{"status": "{STATUSES[status[key]]}"}};')
    for key in rng.sample(range(1, ORDERS + 1), 300):
        if key not in deleted:
            deleted.add(key)
            lines.append(f"SOFT DELETE FROM orders KEY {key};")
    script.write_text("\n".join(lines) + "\n")
    step(
        f"apply {len(lines):,} status changes and soft deletes (one durable commit each)",
        "sql",
        "-d",
        d,
        "-f",
        str(script.relative_to(ROOT)),
        show=False,
    )

    tour(d, checkpoint)
    step("snapshot", "snapshot", "-d", d, "--table", "orders")
    step("compact (keeps every event)", "compact", "-d", d, "--table", "orders")
    print("\n-- the same questions after snapshot and compaction give the same answers --")
    tour(d, checkpoint)
    step("check everything", "doctor", "-d", d)
    shutil.rmtree(work)
    print(f"\ndemo finished in {time.perf_counter() - started:.1f} s; the database is in {d}/")


def tour(d: str, checkpoint: int) -> None:
    step(
        "how many orders are paid now",
        "sql",
        "-d",
        d,
        "-e",
        "SELECT COUNT(*) FROM orders WHERE status = 'paid'",
    )
    step(
        "the first five paid orders now",
        "select",
        "-d",
        d,
        "--table",
        "orders",
        "--where",
        "status = 'paid'",
        "--order-by",
        "id",
        "--limit",
        "5",
    )
    step(
        f"the same question AS OF @seq:{checkpoint} (before any payment)",
        "sql",
        "-d",
        d,
        "-e",
        f"SELECT COUNT(*) FROM orders WHERE status = 'paid' AS OF \"@seq:{checkpoint}\"",
    )
    step(
        "how the query is answered",
        "sql",
        "-d",
        d,
        "-e",
        "EXPLAIN SELECT * FROM orders WHERE status = 'paid' AS OF \"@seq:12000\"",
    )
    step("the drift of order 7", "drift", "-d", d, "--table", "orders", "--key", "7")


if __name__ == "__main__":
    main()
