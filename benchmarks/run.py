"""DriftDB vs SQLite benchmark harness (issue 4).

    .venv/bin/python benchmarks/run.py --events 100000 1000000 --out benchmarks/results
    .venv/bin/python benchmarks/run.py --quick          # ~20k events, a smoke run

For each size: build the seeded workload; load it into DriftDB, SQLite FULL and SQLite NORMAL
(batches of 1000); measure size on disk and open time; ask each read query of DriftDB and
SQLite FULL, check the answers agree, and time them warm; time cold CLI queries in new
processes; measure the raw fsync cost and durable single-statement commits. Then judge the
targets at the largest size (1M by default), profile DriftDB where it misses one, and write
results/latest.json and results/latest.md. Exits 1 if any answer differed between systems.
"""

from __future__ import annotations

import argparse
import atexit
import compileall
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
QUICK_EVENTS = 20_000


def _git(*args: str) -> str:
    try:
        proc = subprocess.run(
            ["git", "-C", REPO, *args], capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout.decode(errors="replace").strip()


def _tree_hash(directory: str) -> str:
    digest = hashlib.sha256()
    for root, dirs, names in sorted(os.walk(directory)):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                digest.update(os.path.relpath(path, directory).encode())
                with open(path, "rb") as handle:
                    digest.update(handle.read())
    return digest.hexdigest()[:16]


def prepare_source(args: argparse.Namespace) -> dict[str, Any]:
    """Which DriftDB code is measured. By default a snapshot of the working tree's
    src/driftdb, copied before anything imports it, so that edits others make during a long
    run cannot mix versions (the in-process queries and the CLI processes all use the
    snapshot). --driftdb-src DIR measures another tree, --driftdb-rev REV a committed revision,
    --live-src the working tree itself."""
    info: dict[str, Any] = {
        "git_head": _git("rev-parse", "--short", "HEAD"),
        "git_dirty_src": _git("status", "--porcelain", "--", "src").splitlines(),
    }
    if args.driftdb_src and args.driftdb_rev:
        raise SystemExit("give --driftdb-src or --driftdb-rev, not both")
    if args.driftdb_src:
        src, info["mode"] = os.path.abspath(args.driftdb_src), f"given tree {args.driftdb_src}"
    elif args.live_src:
        src, info["mode"] = os.path.join(REPO, "src"), "live working tree (not snapshotted)"
    else:
        src = os.path.join(tempfile.mkdtemp(prefix="driftdb-bench-src-"), "src")
        atexit.register(shutil.rmtree, os.path.dirname(src), True)
        if args.driftdb_rev:
            os.makedirs(src)
            archive = subprocess.run(
                ["git", "-C", REPO, "archive", args.driftdb_rev, "src/driftdb"],
                capture_output=True,
                check=True,
            ).stdout
            subprocess.run(
                ["tar", "-x", "--strip-components=1", "-C", src], input=archive, check=True
            )
            rev = _git("rev-parse", "--short", args.driftdb_rev)
            info["mode"] = f"git archive of {args.driftdb_rev} ({rev})"
        else:
            shutil.copytree(
                os.path.join(REPO, "src", "driftdb"),
                os.path.join(src, "driftdb"),
                ignore=shutil.ignore_patterns("__pycache__"),
            )
            info["mode"] = "snapshot of the working tree's src/driftdb at start"
    if src != os.path.join(REPO, "src"):
        # Byte-compile the copy as an installed wheel would be: this environment sets
        # PYTHONDONTWRITEBYTECODE, so otherwise every cold CLI process would compile
        # every module from source.
        compileall.compile_dir(src, quiet=1)
        info["bytecode"] = "precompiled"
    info["path"] = src
    info["tree_sha256"] = _tree_hash(os.path.join(src, "driftdb"))
    sys.path.insert(0, src)
    os.environ["PYTHONPATH"] = src + os.pathsep + os.environ.get("PYTHONPATH", "")
    return info


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--events",
        type=int,
        nargs="+",
        default=[100_000, 1_000_000],
        help="total events per size (default: 100000 1000000)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK_EVENTS:,} events, fewer repeats of cold queries",
    )
    p.add_argument(
        "--out",
        default=os.path.join(os.path.dirname(__file__), "results"),
        help="directory for latest.json and latest.md",
    )
    p.add_argument(
        "--workdir",
        default=None,
        help="where the databases are built (default: a temp dir in /tmp)",
    )
    p.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    p.add_argument("--batch", type=int, default=1000, help="events per batch when loading")
    p.add_argument("--singles", type=int, default=300, help="single-statement commits")
    p.add_argument(
        "--crossing-commits",
        type=int,
        default=1000,
        help="single commits, one crossing the automatic-snapshot threshold",
    )
    p.add_argument(
        "--concurrent-commits",
        type=int,
        default=800,
        help="single commits timed with 1 thread and with 8 threads",
    )
    p.add_argument("--cli-runs", type=int, default=5, help="timed runs per cold query")
    p.add_argument("--seed", type=int, default=4)
    p.add_argument("--no-normal", action="store_true", help="skip SQLite NORMAL")
    p.add_argument("--no-profile", action="store_true", help="skip profiling missed targets")
    p.add_argument(
        "--driftdb-src",
        default=None,
        help="measure the driftdb package under this directory (default: a "
        "snapshot of the working tree's src/ taken at start)",
    )
    p.add_argument(
        "--driftdb-rev",
        default=None,
        help="measure the driftdb package of this git revision (git archive; e.g. HEAD)",
    )
    p.add_argument(
        "--live-src",
        action="store_true",
        help="measure the working tree's src/ directly, without a snapshot",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.events = [QUICK_EVENTS]
        args.cli_runs = min(args.cli_runs, 3)
    args.events = sorted(set(args.events))
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    source = prepare_source(args)
    sys.path.insert(0, HERE)
    import harness  # after prepare_source: it imports driftdb

    return harness.run(args, source, "python benchmarks/run.py " + " ".join(argv))


if __name__ == "__main__":
    sys.exit(main())
