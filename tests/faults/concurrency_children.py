"""Child processes of the concurrency tests (each a separate process, as real users are).

    python concurrency_children.py lock DB HOLD_S               try to become the writer
    python concurrency_children.py writer DB SECONDS            write batches of 10 rows
    python concurrency_children.py reader DB SECONDS            read and check batches

Each prints one JSON line with what it did and saw.
"""

from __future__ import annotations

import json
import random
import sys
import time
import warnings
from collections import Counter
from typing import Any

import driftdb
from driftdb.model.timepoint import format_unix_ms

BATCH = 10


def lock(path: str, hold_s: float) -> dict[str, Any]:
    """Say "ready", wait for a start time on stdin, try to become the writer; say "holding"
    as soon as the lock is ours, hold it, and report."""
    print("ready", flush=True)
    start_at = float(sys.stdin.readline())
    time.sleep(max(0.0, start_at - time.time()))
    try:
        db = driftdb.open(path)
    except driftdb.LockedError as exc:
        return {"result": "locked", "message": str(exc)}
    except Exception as exc:
        return {"result": "error", "message": f"{type(exc).__name__}: {exc}"}
    print("holding", flush=True)
    time.sleep(hold_s)
    db.close()
    return {"result": "won"}


def writer(path: str, seconds: float) -> dict[str, Any]:
    """Insert batches of 10 rows {id, batch, gen}; re-patch whole old batches (every row of a
    batch gets the same new gen in one batch); snapshot and compact now and then."""
    rng = random.Random(5)
    done: Counter[str] = Counter()
    deadline = time.time() + seconds
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with driftdb.open(path) as db:
            table = db.table("t")
            other = db.table("u")
            batch = table.count() // BATCH
            while time.time() < deadline:
                roll = rng.random()
                if roll < 0.6 or batch == 0:
                    with db.batch():
                        table.insert_many(
                            [
                                {
                                    "id": batch * BATCH + i,
                                    "batch": batch,
                                    "gen": 0,
                                    "pad": "p" * rng.randint(0, 200),
                                }
                                for i in range(BATCH)
                            ]
                        )
                        other.insert({"id": batch, "rows": BATCH})
                    batch += 1
                    done["batches"] += 1
                elif roll < 0.9:
                    old = rng.randrange(batch)
                    gen = rng.randint(1, 10**6)
                    with db.batch():
                        for i in range(BATCH):
                            table.patch(old * BATCH + i, {"gen": gen})
                    done["patch_batches"] += 1
                elif roll < 0.95 and hasattr(table, "snapshot"):
                    table.snapshot()
                    done["snapshots"] += 1
                elif hasattr(table, "compact"):
                    if rng.random() < 0.5:
                        table.compact()  # merges sealed segments, keeps every event
                        done["compactions"] += 1
                    else:  # rewrites the log from a horizon on (readers must retry)
                        table.compact(before=max(1, db.head() - 300))
                        done["horizon_compactions"] += 1
    return dict(done)


def check_rows(rows: list[dict[str, Any]]) -> list[str]:
    """Whole batches only: every batch's 10 rows present or absent, all with one gen."""
    problems = []
    if len(rows) % BATCH:
        problems.append(f"{len(rows)} rows: not a multiple of {BATCH}")
    by_batch: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_batch.setdefault(row["batch"], []).append(row)
    for number, members in by_batch.items():
        if len(members) != BATCH:
            problems.append(f"batch {number} has {len(members)} rows")
        if len({r["gen"] for r in members}) != 1:
            problems.append(
                f"batch {number} is half patched: {sorted({r['gen'] for r in members})}"
            )
    return problems


def reader(path: str, seconds: float) -> dict[str, Any]:
    rng = random.Random()
    reads = 0
    heads: list[int] = []
    history_gone = 0
    messages: list[str] = []
    errors: Counter[str] = Counter()
    problems: list[str] = []
    deadline = time.time() + seconds
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        while time.time() < deadline:
            try:
                with driftdb.open(path, readonly=True) as db:
                    for _ in range(5):
                        table = db.table("t")
                        heads.append(db.head())
                        # Now, a head seen earlier (a batch boundary), or a past time (every
                        # event of a batch has the batch's one timestamp).
                        roll = rng.random()
                        as_of: Any = None
                        if roll < 0.3:
                            as_of = rng.choice(heads)
                        elif roll < 0.6:
                            moment = time.time() - rng.uniform(0, seconds)
                            as_of = format_unix_ms(int(moment * 1000))
                        rows = list(table.select(as_of=as_of))
                        found = check_rows(rows)
                        count = table.count(as_of=as_of)
                        if count % BATCH:
                            found.append(f"COUNT {count} is not a multiple of {BATCH}")
                        units = list(db.table("u").select(as_of=as_of))
                        # u is read after t, and each batch wrote both: u is never behind.
                        if as_of is None and len(units) * BATCH < len(rows):
                            found.append(f"{len(units)} batch rows in u, {len(rows)} in t")
                        reads += 1
                        problems += [f"AS OF {as_of}: {p}" for p in found[:3]]
            except driftdb.HistoryUnavailableError:
                history_gone += 1  # AS OF a point a horizon compaction discarded: right
            except driftdb.DriftError as exc:
                errors[type(exc).__name__] += 1
                if len(messages) < 5:
                    messages.append(f"{type(exc).__name__}: {exc}")
            except Exception as exc:  # a traceback-worthy failure in a reader
                problems.append(f"{type(exc).__name__}: {exc}")
    return {
        "reads": reads,
        "errors": dict(errors),
        "problems": problems[:20],
        "messages": messages,
        "history_unavailable": history_gone,
    }


def main() -> None:
    role, path, *rest = sys.argv[1:]
    if role == "lock":
        out = lock(path, float(rest[0]))
    elif role == "writer":
        out = writer(path, float(rest[0]))
    else:
        out = reader(path, float(rest[0]))
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
