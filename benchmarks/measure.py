"""Measuring: latency samples and their summary, the raw fsync cost, disk usage, cold
processes, and cProfile summaries for the targets DriftDB misses."""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any

Progress = Callable[[str], None]


def summarize(samples_s: Sequence[float]) -> dict[str, Any]:
    """Milliseconds: median (the reported figure), p10, p90, min, max, mean, sample count."""
    ms = sorted(s * 1000.0 for s in samples_s)
    if not ms:
        return {"median_ms": None, "n": 0}

    def pct(p: float) -> float:
        return ms[min(len(ms) - 1, int(p * (len(ms) - 1) + 0.5))]

    return {
        "median_ms": round(statistics.median(ms), 4),
        "p10_ms": round(pct(0.10), 4),
        "p90_ms": round(pct(0.90), 4),
        "min_ms": round(ms[0], 4),
        "max_ms": round(ms[-1], 4),
        "mean_ms": round(statistics.fmean(ms), 4),
        "n": len(ms),
    }


def time_calls(fn: Callable[..., Any], args_list: Sequence[tuple[Any, ...]]) -> list[float]:
    """One timed call per argument tuple; seconds each."""
    out = []
    for args in args_list:
        start = time.perf_counter()
        fn(*args)
        out.append(time.perf_counter() - start)
    return out


def fsync_cost(directory: str, count: int = 200, size: int = 100) -> dict[str, Any]:
    """The raw cost of making 100 bytes durable on this disk: write + os.fsync, `count` times
    (median reported). The file lives beside the databases, so it is the same file system."""
    path = os.path.join(directory, "fsync-probe.bin")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    payload = b"x" * size
    samples = []
    try:
        for _ in range(5):  # allocate the first blocks outside the measurement
            os.write(fd, payload)
            os.fsync(fd)
        for _ in range(count):
            start = time.perf_counter()
            os.write(fd, payload)
            os.fsync(fd)
            samples.append(time.perf_counter() - start)
    finally:
        os.close(fd)
        os.unlink(path)
    return summarize(samples)


def disk_usage(path: str) -> dict[str, int]:
    """Apparent bytes (sum of file sizes) and allocated bytes (blocks) of `path`, a file or a
    whole directory tree. (LMDB's data file is sparse, so the two can differ.)"""
    apparent = allocated = files = 0
    paths = [path]
    if os.path.isdir(path):
        paths = [os.path.join(root, f) for root, _, names in os.walk(path) for f in names]
    for p in paths:
        try:
            st = os.stat(p)
        except FileNotFoundError:
            continue
        apparent += st.st_size
        allocated += st.st_blocks * 512
        files += 1
    return {"apparent_bytes": apparent, "allocated_bytes": allocated, "files": files}


def lmdb_structures(directory: str) -> dict[str, int]:
    """Bytes of pages per sub-database of the LMDB environment in `directory` (branch, leaf
    and overflow pages times the page size): where an index's bytes are. Opened read-only,
    without the lock file, after the writer closed."""
    import lmdb

    out: dict[str, int] = {}
    env = lmdb.open(directory, readonly=True, lock=False, max_dbs=1024)
    try:
        psize = int(env.stat()["psize"])
        with env.begin() as txn:
            names = [bytes(k) for k, _ in txn.cursor()]
        for name in names:
            with env.begin() as txn:
                st = txn.stat(env.open_db(name, txn=txn, create=False))
            pages = st["branch_pages"] + st["leaf_pages"] + st["overflow_pages"]
            out[name.decode()] = pages * psize
        allocated = os.stat(os.path.join(directory, "data.mdb")).st_blocks * 512
        out["(free and LMDB's own, allocated)"] = allocated - sum(out.values())
    finally:
        env.close()
    return out


def sqlite_structures(path: str) -> dict[str, int]:
    """Bytes per table and index of the SQLite database at `path` (the dbstat virtual table;
    {} where SQLite was built without it)."""
    import sqlite3

    con = sqlite3.connect(path)
    try:
        rows = con.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
    except sqlite3.Error:
        return {}
    finally:
        con.close()
    return {str(name): int(size) for name, size in rows}


def sum_usage(parts: Sequence[dict[str, int]]) -> dict[str, int]:
    keys = ("apparent_bytes", "allocated_bytes", "files")
    return {k: sum(p[k] for p in parts) for k in keys}


def run_cold(
    cmd: Sequence[str], runs: int, timeout_s: float = 120.0, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run `cmd` `runs` times, each a new process; wall time per run. The first run is kept
    apart (file-system cache state after the load varies) and the median of the rest is
    reported. Returns stdout of the last run and the exit status of any failure."""
    samples = []
    first = None
    last = None
    for i in range(runs + 1):
        start = time.perf_counter()
        try:
            last = subprocess.run(
                list(cmd), capture_output=True, timeout=timeout_s, env=env, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}", "median_ms": None}
        elapsed = time.perf_counter() - start
        if last.returncode != 0:
            return {
                "ok": False,
                "error": f"exit {last.returncode}: "
                + (last.stderr.decode(errors="replace").strip()[-600:] or "(no stderr)"),
                "median_ms": None,
            }
        if i == 0:
            first = elapsed
        else:
            samples.append(elapsed)
    assert last is not None
    out = summarize(samples)
    out.update(
        {
            "ok": True,
            "first_run_ms": round((first or 0) * 1000, 2),
            "stdout": last.stdout.decode(errors="replace"),
        }
    )
    return out


def profile(fn: Callable[[], Any], repeats: int, top: int = 15) -> dict[str, Any]:
    """cProfile `repeats` calls of `fn`; the top functions by own time and by cumulative time,
    with paths shortened to the package."""
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(repeats):
        fn()
    prof.disable()
    stats = pstats.Stats(prof)
    return {
        "repeats": repeats,
        "by_tottime": _top(stats, "tottime", top),
        "by_cumtime": _top(stats, "cumulative", top),
        "text": _text(stats, top),
    }


def profile_stats_file(path: str, top: int = 15) -> dict[str, Any]:
    stats = pstats.Stats(path)
    return {
        "by_tottime": _top(stats, "tottime", top),
        "by_cumtime": _top(stats, "cumulative", top),
        "text": _text(stats, top),
    }


def _top(stats: pstats.Stats, order: str, top: int) -> list[dict[str, Any]]:
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    index = 2 if order == "tottime" else 3
    rows = sorted(raw.items(), key=lambda kv: kv[1][index], reverse=True)[:top]
    out = []
    for (filename, line, func), (cc, nc, tt, ct, _) in rows:
        out.append(
            {
                "function": f"{_short(filename)}:{line}({func})",
                "ncalls": nc if nc == cc else f"{nc}/{cc}",
                "tottime_s": round(tt, 4),
                "cumtime_s": round(ct, 4),
            }
        )
    return out


def _text(stats: pstats.Stats, top: int) -> str:
    buf = io.StringIO()
    stats.stream = buf  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    lines = [ln for ln in buf.getvalue().splitlines() if ln.strip()]
    return "\n".join(_short(ln) for ln in lines)


def _short(text: str) -> str:
    for marker in ("/src/driftdb/", "/site-packages/", "/lib/python3.11/"):
        if marker in text:
            head, _, tail = text.partition(marker)
            prefix = head.rsplit(" ", 1)[0] + " " if " " in head else ""
            label = {"/src/driftdb/": "driftdb/", "/site-packages/": "", "/lib/python3.11/": ""}
            return prefix + label[marker] + tail
    return text


class FsyncMeter:
    """Wraps os.fsync / os.fdatasync (looked up at call time by DriftDB's I/O layer) to split
    a commit's latency into time spent in fsync and everything else."""

    def __init__(self) -> None:
        self.calls = 0
        self.seconds = 0.0
        self._saved: dict[str, Any] = {}

    def __enter__(self) -> FsyncMeter:
        for name in ("fsync", "fdatasync"):
            real = getattr(os, name)
            self._saved[name] = real
            setattr(os, name, self._wrap(real))
        return self

    def __exit__(self, *exc: object) -> None:
        for name, real in self._saved.items():
            setattr(os, name, real)

    def _wrap(self, real: Callable[[int], None]) -> Callable[[int], None]:
        def timed(fd: int) -> None:
            start = time.perf_counter()
            try:
                real(fd)
            finally:
                self.seconds += time.perf_counter() - start
                self.calls += 1

        return timed
