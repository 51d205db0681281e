"""The child process of the kill tests: writes until it is SIGKILLed, logging to a side file.

    python crash_driver.py api DB SIDE_FILE SEED RUN   writes through the Python API
    python crash_driver.py cli DB SIDE_FILE SEED RUN   writes through `driftdb sql -e` / `ingest`

Each write is logged (flushed and fsynced) as an attempt BEFORE the call and as acknowledged
only AFTER the call returned (or the command exited 0). "ready" is printed once the database
is open, so the parent can aim its kill at the writes rather than at start-up.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from crash_support import TABLES, VALUES, SideFile, Workload, driftdb_command, seqs_from_message

import driftdb

MAX_STEPS = 1_000_000


def run_api(db_path: str, log: SideFile, rng: random.Random, run: str) -> None:
    with driftdb.open(db_path) as db:
        print("ready", flush=True)
        workload = Workload(db, rng, run, log, maintenance=True)
        for _ in range(MAX_STEPS):
            workload.step()


class CliWorkload:
    """The same kind of history, written by running the real `driftdb` command."""

    def __init__(self, db_path: str, rng: random.Random, run: str, log: SideFile) -> None:
        self.db_path = db_path
        self.rng = rng
        self.run = run
        self.log = log
        self.n = 0
        self.fresh = 0
        with driftdb.open(db_path, readonly=True) as db:
            self.live = {name: [r["id"] for r in db.table(name).select()] for name in TABLES}
        self.work = Path(tempfile.mkdtemp(prefix="driftdb-cli-crash-"))

    def _new_key(self, table: str) -> Any:
        self.fresh += 1
        if table == "a":
            return f"{self.run}-{self.fresh}"
        return int(self.run[1:]) * 1_000_000 + self.fresh

    def _doc(self, table: str, key: Any, tag: str) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": key,
            "w": tag,
            ("v" if table == "a" else "g"): self.rng.choice(VALUES),
        }
        if self.rng.random() < 0.5:
            doc["pad"] = "y" * self.rng.randint(0, 300)
        return doc

    def _run(self, *args: str) -> str:
        done = subprocess.run(
            [*driftdb_command(), *args], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"driftdb {args[0]} failed ({done.returncode}): {done.stderr}")
        return done.stdout

    def step(self) -> None:
        ident = f"{self.run}.{self.n}"
        self.n += 1
        table = self.rng.choice(list(TABLES))
        live = self.live[table]
        roll = self.rng.random()
        ops: list[dict[str, Any]] = []
        if roll < 0.3 or not live:
            key = self._new_key(table)
            tag = f"{ident}.0"
            doc = self._doc(table, key, tag)
            ops.append(
                {"t": table, "type": "INSERT", "key": key, "data": doc, "w": tag, "group": None}
            )
            statement = f"INSERT INTO {table} {json.dumps(doc, ensure_ascii=False)}"
        elif roll < 0.45:
            docs = []
            for j in range(self.rng.randint(2, 5)):
                key = self._new_key(table)
                docs.append(self._doc(table, key, f"{ident}.{j}"))
                ops.append(
                    {
                        "t": table,
                        "type": "INSERT",
                        "key": key,
                        "data": docs[-1],
                        "w": f"{ident}.{j}",
                        "group": "list",
                    }
                )
            statement = f"INSERT INTO {table} {json.dumps(docs, ensure_ascii=False)}"
        elif roll < 0.7:
            key = self.rng.choice(live)
            tag = f"{ident}.0"
            patch = {"w": tag, ("v" if table == "a" else "g"): self.rng.choice(VALUES)}
            if self.rng.random() < 0.3:
                patch["pad"] = None
            ops.append(
                {"t": table, "type": "PATCH", "key": key, "data": patch, "w": tag, "group": None}
            )
            statement = (
                f"PATCH {table} KEY {json.dumps(key)} SET {json.dumps(patch, ensure_ascii=False)}"
            )
        elif roll < 0.8:
            key = self.rng.choice(live)
            ops.append(
                {
                    "t": table,
                    "type": "SOFT_DELETE",
                    "key": key,
                    "data": None,
                    "w": None,
                    "group": None,
                }
            )
            statement = f"SOFT DELETE FROM {table} KEY {json.dumps(key)}"
        else:
            self._ingest(ident, table)
            return
        self.log.attempt(ident, ops)
        out = self._run("sql", "-d", self.db_path, "-e", statement)
        seqs = seqs_from_message(out)
        if seqs is None or len(seqs) != len(ops):
            raise SystemExit(f"no seqs in {out!r}")
        self.log.ack(ident, seqs)
        for op in ops:
            if op["type"] == "INSERT":
                live.append(op["key"])
            elif op["type"] == "SOFT_DELETE":
                live.remove(op["key"])

    def _ingest(self, ident: str, table: str) -> None:
        """A JSON Lines file in batches of 3 lines: each batch is all there or not at all."""
        ops: list[dict[str, Any]] = []
        lines = []
        for j in range(self.rng.randint(2, 8)):
            key = self._new_key(table)
            doc = self._doc(table, key, f"{ident}.{j}")
            ops.append(
                {
                    "t": table,
                    "type": "INSERT",
                    "key": key,
                    "data": doc,
                    "w": doc["w"],
                    "group": f"{ident}.chunk{j // 3}",
                }
            )
            lines.append(json.dumps(doc, ensure_ascii=False))
        source = self.work / f"{ident}.jsonl"
        source.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.log.attempt(ident, ops)
        out = self._run(
            "ingest",
            "-d",
            self.db_path,
            "--table",
            table,
            "--file",
            str(source),
            "--batch-size",
            "3",
        )
        if f"ingested {len(ops)} {'row' if len(ops) == 1 else 'rows'}" not in out:
            raise SystemExit(f"unexpected ingest output {out!r}")
        self.log.ack(ident, None)
        self.live[table].extend(op["key"] for op in ops)


def run_cli(db_path: str, log: SideFile, rng: random.Random, run: str) -> None:
    workload = CliWorkload(db_path, rng, run, log)
    print("ready", flush=True)
    for _ in range(MAX_STEPS):
        workload.step()


def main() -> None:
    mode, db_path, side, seed, run = sys.argv[1:6]
    rng = random.Random(seed)
    log = SideFile(side)
    if mode == "api":
        run_api(db_path, log, rng, run)
    elif mode == "cli":
        run_cli(db_path, log, rng, run)
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
