"""Helpers of the hostile-directory suite: build a small database, append a frame whose CRC is
valid but whose payload is whatever a test chooses, and run commands in a child process with a
timeout and, when asked, a cap on its address space."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import msgpack

import driftdb
from driftdb.model.schema import SMALL_OPTIONS_ENV
from driftdb.storage.frame import encode_frame

DRIFTDB = str(Path(sys.executable).parent / "driftdb")
GIB = 1024 * 1024 * 1024


@dataclass
class Ran:
    code: int
    out: str
    err: str
    seconds: float
    peak_rss_bytes: int = 0


def make_db(path: Path, rows: int = 5, indexes: tuple[str, ...] = ("v",)) -> Path:
    with driftdb.open(path, create=True) as db:
        table = db.create_table("t", indexes=list(indexes))
        for i in range(rows):
            table.insert({"id": i, "v": i % 3, "name": f"n{i}"})
    return path


def segment(path: Path) -> Path:
    return path / "tables/t/segments/00000001.seg"


def append_frame(
    path: Path, seq: int, payload: bytes | dict[str, object], unix_ms: int = 0, event_type: int = 1
) -> int:
    """Append one frame with a valid CRC to table t's segment; returns its offset."""
    raw = payload if isinstance(payload, bytes) else msgpack.packb(payload, use_bin_type=True)
    seg = segment(path)
    offset = seg.stat().st_size
    with open(seg, "ab") as handle:
        handle.write(encode_frame(seq, unix_ms or int(time.time() * 1000), event_type, raw))
    return offset


def clean_env() -> dict[str, str]:
    """The environment a user's process has: no DRIFTDB_DIR, no test-suite settings."""
    return {k: v for k, v in os.environ.items() if k not in ("DRIFTDB_DIR", SMALL_OPTIONS_ENV)}


def _limit_memory(limit_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))


def baseline_as_bytes() -> int:
    """Address space of a Python child that imported driftdb (what RLIMIT_AS is measured from)."""
    code = "import driftdb, driftdb.cli.main, lmdb, zstandard, msgpack, yaml, resource;"
    code += "print(open('/proc/self/statm').read().split()[0])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(done.stdout.strip()) * os.sysconf("SC_PAGE_SIZE")


def run_cli(
    *args: str, timeout_s: float = 60, memory_bytes: int | None = None, tty: bool = False
) -> Ran:
    """The real `driftdb` command in a child process, under a timeout and optionally under
    RLIMIT_AS (`memory_bytes` above the baseline of an interpreter that imported driftdb)."""
    env = clean_env()
    limit = None if memory_bytes is None else baseline_as_bytes() + memory_bytes
    began = time.monotonic()
    done = subprocess.run(
        [DRIFTDB, *args],
        capture_output=True,
        env=env,
        check=False,
        timeout=timeout_s,
        preexec_fn=None if limit is None else (lambda: _limit_memory(limit)),
    )
    return Ran(
        done.returncode,
        done.stdout.decode(errors="replace"),
        done.stderr.decode(errors="replace"),
        time.monotonic() - began,
    )


def run_python(code: str, timeout_s: float = 60, memory_bytes: int | None = None) -> Ran:
    """`code` in a child Python (driftdb imported), optionally under RLIMIT_AS."""
    limit = None if memory_bytes is None else baseline_as_bytes() + memory_bytes
    prelude = "import warnings\nwarnings.simplefilter('ignore')\nimport driftdb\n"
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        env=clean_env(),
        text=True,
        check=False,
        timeout=timeout_s,
        preexec_fn=None if limit is None else (lambda: _limit_memory(limit)),
    )
    return Ran(done.returncode, done.stdout, done.stderr, time.monotonic() - began)
