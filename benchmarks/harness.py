"""The benchmark run: every size in turn, then the targets, profiles and the report files.

See run.py for the command line and README.md for what is measured and why.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

import cold
import measure
import report
from driftdb_side import DriftSide
from queries import Context, Runner, queries
from sqlite_side import SQLiteSide
from workload import Workload, build

FULL, NORMAL = report.FULL, report.NORMAL
_T0 = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - _T0:7.1f}s] {message}", flush=True)


# -- one size ----------------------------------------------------------------------------


_PLURAL = {"insert": "inserts", "patch": "patches", "delete": "deletes"}


def load_all(sides: list[Any], w: Workload, batch: int) -> dict[str, Any]:
    """Load the workload into every system, phase by phase, interleaving batches: batch i goes
    to each system in turn (the order rotating with i), so that load from other processes on
    the machine falls on all systems alike. Each system's throughput counts only the time of
    its own batch calls. After each phase, every system's seq counter must be where the
    workload says."""
    m = w.markers
    phases: list[tuple[str, list[Any], str, int]] = [
        ("insert", w.inserts, "insert_batch", m.t_a),
        ("patch", w.patches, "patch_batch", m.t_a + len(w.patches)),
        ("delete", w.deletes, "delete_batch", m.head),
    ]
    for side in sides:
        side.create()
    out: dict[str, dict[str, Any]] = {side.label: {} for side in sides}
    for phase, items, method, expect in phases:
        spent = {side.label: 0.0 for side in sides}
        each: dict[str, list[float]] = {side.label: [] for side in sides}
        started = time.perf_counter()
        for number, i in enumerate(range(0, len(items), batch)):
            chunk = items[i : i + batch]
            turn = number % len(sides)
            for side in sides[turn:] + sides[:turn]:
                start = time.perf_counter()
                getattr(side, method)(chunk)
                elapsed = time.perf_counter() - start
                spent[side.label] += elapsed
                each[side.label].append(elapsed)
            done = min(i + batch, len(items))
            if done == len(items) or done * 10 // len(items) != i * 10 // len(items):
                rates = ", ".join(
                    f"{label} {done / max(t, 1e-9):,.0f}/s" for label, t in spent.items()
                )
                say(
                    f"    {_PLURAL[phase]:<8} {done:>9,}/{len(items):,} "
                    f"[{time.perf_counter() - started:5.1f}s]: {rates}"
                )
        for side in sides:
            got = side.last_seq()
            if got != expect:
                raise AssertionError(
                    f"{side.label} after the {phase}s: last seq {got}, the workload expects "
                    f"{expect}"
                )
            out[side.label][f"{phase}_s"] = round(spent[side.label], 3)
            out[side.label][f"{phase}_per_s"] = round(len(items) / spent[side.label], 1)
            sizes = [min(batch, len(items) - i) for i in range(0, len(items), batch)]
            out[side.label][f"{phase}_batches"] = _batch_outliers(each[side.label], sizes)
    closed: dict[str, float] = {}
    for side in sides:
        start = time.perf_counter()
        if isinstance(side, SQLiteSide):
            side.checkpoint()
        side.close()  # (DriftDB packs its index on close when it has grown: timed too)
        closed[side.label] = round(time.perf_counter() - start, 3)
        r = out[side.label]
        slow = sum(r[f"{p}_batches"]["over_5x_median_s"] for p in _PLURAL)
        count = sum(r[f"{p}_batches"]["over_5x_median"] for p in _PLURAL)
        say(
            f"  {side.label}: {r['insert_per_s']:,.0f} inserts/s, "
            f"{r['patch_per_s']:,.0f} patches/s, {r['delete_per_s']:,.0f} deletes/s"
            f" ({count} batches over 5x the median took {slow:.1f} s)"
        )
    out["close_s"] = closed
    return out


def _batch_outliers(samples: list[float], sizes: list[int]) -> dict[str, Any]:
    """Per-batch times: the median, the slowest five (batch number and seconds), and the
    time in batches over 5x the median (e.g. an automatic snapshot taken inside a commit)."""
    median = statistics.median(samples)
    slow = [i for i, t in enumerate(samples) if t > 5 * median]
    worst = sorted(range(len(samples)), key=lambda i: samples[i], reverse=True)[:5]
    rest_events = sum(sizes) - sum(sizes[i] for i in slow)
    rest_s = sum(samples) - sum(samples[i] for i in slow)
    return {
        "median_ms": round(median * 1000, 3),
        "slowest": [{"batch": i + 1, "s": round(samples[i], 3)} for i in worst],
        "over_5x_median": len(slow),
        "over_5x_median_s": round(sum(samples[i] for i in slow), 3),
        "per_s_without_them": round(rest_events / max(rest_s, 1e-9), 1),
    }


def disk(drift: DriftSide, full: SQLiteSide) -> dict[str, Any]:
    tables = os.path.join(drift.directory, "tables", "orders")
    return {
        "DriftDB": measure.disk_usage(drift.directory),
        "DriftDB.segments": measure.disk_usage(os.path.join(tables, "segments")),
        "DriftDB.indexes": measure.disk_usage(os.path.join(tables, "indexes")),
        "DriftDB.snapshots": measure.disk_usage(os.path.join(tables, "snapshots")),
        FULL: measure.sum_usage([measure.disk_usage(full.path + s) for s in ("", "-wal", "-shm")]),
        # where the bytes are, per structure (the profile of the disk target)
        "DriftDB.structures": measure.lmdb_structures(os.path.join(tables, "indexes")),
        "SQLite.structures": measure.sqlite_structures(full.path),
    }


def misses_target(metric: str, drift_ms: float | None, lite_ms: float | None) -> bool:
    rule = next((t[3] for t in report.TARGETS if t[0] == metric), None)
    if drift_ms is None or lite_ms is None or rule is None:
        return False
    if rule == "<=sqlite":
        return drift_ms > lite_ms
    if rule == "<=half":
        return drift_ms > 0.5 * lite_ms
    return False


def bench_size(  # noqa: C901 (one measurement per storage engine, side by side for the report)
    events: int, args: argparse.Namespace, root: str, base: dict[str, Any] | None, is_target: bool
) -> tuple[dict[str, Any], Runner]:
    say(f"== {events:,} events ==")
    w = build(events, seed=args.seed, singles=args.singles)
    m = w.markers
    say(
        f"  workload: N={w.n:,} inserts, {len(w.patches):,} patches, {len(w.deletes):,} "
        f"deletes = {w.total_events:,} events; T_A={m.t_a:,} T_A2={m.t_a2:,} "
        f"T_mid={m.t_mid:,} head={m.head:,}"
    )
    size_dir = os.path.join(root, f"e{events}")
    os.makedirs(size_dir, exist_ok=True)
    drift = DriftSide(os.path.join(size_dir, "driftdb"))
    full = SQLiteSide(os.path.join(size_dir, "full.sqlite"), "FULL")
    normal = SQLiteSide(os.path.join(size_dir, "normal.sqlite"), "NORMAL")
    sides: list[Any] = [drift, full] + ([] if args.no_normal else [normal])

    result: dict[str, Any] = {
        "events": events,
        "n": w.n,
        "patches": len(w.patches),
        "deletes": len(w.deletes),
        "total_events": w.total_events,
        "markers": vars(m),
        "expected": w.expected,
        "sample_keys": len(w.sample_keys),
    }
    result["load"] = load_all(sides, w, args.batch)
    result["disk"] = disk(drift, full)
    say(
        f"  disk: DriftDB {result['disk']['DriftDB']['allocated_bytes'] / 1e6:,.1f} MB, "
        f"SQLite FULL {result['disk'][FULL]['allocated_bytes'] / 1e6:,.1f} MB"
    )

    result["open_s"] = {"DriftDB": round(drift.open(), 4), FULL: round(full.open(), 4)}
    say(
        f"  open: DriftDB {result['open_s']['DriftDB']:.3f} s, "
        f"SQLite {result['open_s'][FULL]:.3f} s"
    )
    result["sqlite_plans"] = full.query_plans()

    # Reads: check answers, then time (warm, alternating systems).
    say("  queries (median of warm calls):")
    runner = Runner(Context(w, drift, full), say)
    scale = max(1, min(5, 1_000_000 // max(events, 1)))
    specs = queries(w, scale)
    result["queries"] = {q.name: runner.run(q) for q in specs}

    # Profiles of missed query targets (DriftDB side), at the size the targets are judged.
    profiles: dict[str, Any] = {}
    if is_target and not args.no_profile:
        for q in specs:
            r = result["queries"][q.name]
            d = (r.get("DriftDB") or {}).get("median_ms")
            s = (r.get(FULL) or {}).get("median_ms")
            missed = misses_target(q.name, d, s)
            if q.name in ("q2", "q4") and base is not None and d is not None:
                b = report.scaling_ms(base["queries"].get(q.name) or {})
                now = report.scaling_ms(r)
                missed = missed or (b is not None and now is not None and now > 1.5 * b)
            if missed:
                say(f"  profiling DriftDB {q.name} (missed its target)")
                try:
                    profiles[q.name] = runner.profile(q)
                except Exception as exc:
                    runner.errors.append(f"profiling {q.name} failed: {type(exc).__name__}: {exc}")
    drift.close()
    full.close()

    # Cold queries in new processes.
    say("  cold queries (new process each):")
    key = w.sample_keys[0]
    full.open()
    row = full.q_get(key)
    full.close()
    result["cold"] = cold.measure_cold(
        drift.directory, full.path, key, row, w.expected["paid@head"], args.cli_runs
    )
    for name, res in result["cold"].items():
        if isinstance(res, dict) and "ok" in res:
            shown = (
                f"{res['median_ms']:.1f} ms"
                if res.get("ok")
                else f"null ({(res.get('error') or '')[:160]})"
            )
            answer = f"  answer: {res.get('answer')}" if res.get("ok") and "answer" in res else ""
            say(f"    {name:<22} {shown}{answer}")
    by_key = result["cold"]["DriftDB.by_key"]
    startup = result["cold"]["python_startup"].get("median_ms") or 0.0
    limit = min(100.0, 5 * startup)  # the target: <= 100 ms and <= 5 x python -c pass
    if is_target and not args.no_profile and by_key.get("ok") and by_key["median_ms"] > limit:
        say(f"  profiling the cold DriftDB CLI select by key (missed <= {limit:.0f} ms)")
        argv = [
            cold.driftdb_cli(),
            "select",
            "-d",
            drift.directory,
            "--table",
            "orders",
            "--where",
            f"id = {key}",
            "--format",
            "json",
        ]
        profiles["cold.by_key"] = cold.profile_cold(argv, os.path.join(size_dir, "cold.prof"))

    # Durability: the raw fsync, then single-statement commits, each durable on return.
    say("  durable single commits:")
    result["fsync"] = measure.fsync_cost(size_dir)
    say(f"    raw write(100 B)+fsync: {result['fsync']['median_ms']:.3f} ms median")
    result["single_commits"] = {}
    for side in sides:
        side.open()
        samples = side.single_commits(w.single_docs)
        side.close()
        summary = measure.summarize(samples)
        summary["commits_per_s"] = round(len(samples) / sum(samples), 1)
        if isinstance(side, DriftSide) and side.fsync_split:
            split = side.fsync_split
            summary["inside_fsync"] = measure.summarize(split["in_fsync_s"])
            summary["outside_fsync"] = measure.summarize(
                [a - b for a, b in zip(samples, split["in_fsync_s"], strict=True)]
            )
            summary["fsync_calls_per_commit"] = sorted(split["fsync_calls"])[len(samples) // 2]
            summary["slowest"] = _slowest_commits(
                samples, split["in_fsync_s"], split["fsync_calls"]
            )
        result["single_commits"][side.label] = summary
        detail = ""
        if "inside_fsync" in summary:
            detail = (
                f" (inside fsync {summary['inside_fsync']['median_ms']:.3f} ms, "
                f"{summary['fsync_calls_per_commit']} fsync per commit; the rest "
                f"{summary['outside_fsync']['median_ms']:.3f} ms)"
            )
        say(
            f"    {side.label:<14} {summary['median_ms']:.3f} ms median, "
            f"{summary['commits_per_s']:,.0f} commits/s{detail}"
        )
    # Issue 11: a commit that crosses the automatic-snapshot threshold, and group commit.
    say("  snapshot-crossing single commits and concurrent commits (DriftDB):")
    base_id = 20_000_000
    proto = w.inserts
    drift.open()
    try:
        crossing_docs = [
            dict(proto[i % len(proto)], id=base_id + i) for i in range(args.crossing_commits + 1)
        ]
        crossing = drift.snapshot_crossing_commits(crossing_docs)
        # The target's figure: the first `crossing_commits` (the crossing half way); then every
        # commit made until the background snapshot finished, as a second figure.
        first = crossing["samples"][: args.crossing_commits]
        summary = measure.summarize(first)
        summary["slowest_over_median"] = _slowest_over_median(first)
        summary["snapshot_taken"] = crossing["snapshot_taken"]
        summary["during_snapshot"] = len(crossing["samples"])
        summary["during_slowest_over_median"] = _slowest_over_median(crossing["samples"])
        # the slowest commits with the time their fsync took: a disk stall or the code
        summary["slowest"] = _slowest_commits(crossing["samples"], crossing["in_fsync_s"])
        result["snapshot_crossing"] = summary
        say(
            f"    {args.crossing_commits} single commits crossing a snapshot threshold: median "
            f"{summary['median_ms']:.3f} ms, slowest {summary['max_ms']:.3f} ms "
            f"({summary['slowest_over_median']:.1f}x; snapshot taken: "
            f"{crossing['snapshot_taken']}); {len(crossing['samples']):,} commits until the "
            "snapshot finished: slowest "
            f"{summary['during_slowest_over_median']:.1f}x the median"
        )
        n = args.concurrent_commits
        one = [dict(proto[i % len(proto)], id=base_id + 100_000 + i) for i in range(n)]
        eight = [dict(proto[i % len(proto)], id=base_id + 200_000 + i) for i in range(n)]
        rate1 = drift.threaded_commits(one, 1)
        rate8 = drift.threaded_commits(eight, 8)
        result["group_commit"] = {
            "commits": n,
            "one_thread_per_s": round(rate1, 1),
            "eight_threads_per_s": round(rate8, 1),
            "ratio": round(rate8 / rate1, 2),
        }
        say(
            f"    {n} single commits: 1 thread {rate1:,.0f}/s, 8 threads {rate8:,.0f}/s "
            f"({rate8 / rate1:.2f}x)"
        )
    except Exception as exc:
        runner.errors.append(
            f"snapshot-crossing / concurrent commits failed: {type(exc).__name__}: {exc}"
        )
    finally:
        drift.close()
    drift.open()
    try:
        seconds = drift.time_snapshot()
        result["snapshot_s"] = None if seconds is None else round(seconds, 3)
        if seconds is not None:
            say(f"    explicit snapshot of the whole table: {seconds:.2f} s")
    except Exception as exc:
        runner.errors.append(f"explicit snapshot failed: {type(exc).__name__}: {exc}")
    finally:
        drift.close()
    # The disk's fsync cost drifts with other machines' load: probe again after the commits
    # and judge against the median of both probes.
    after = measure.fsync_cost(size_dir)
    say(f"    raw write(100 B)+fsync again: {after['median_ms']:.3f} ms median")
    result["fsync_before"], result["fsync_after"] = result["fsync"], after
    result["fsync"] = {
        "median_ms": round((result["fsync"]["median_ms"] + after["median_ms"]) / 2, 4),
        "note": "mean of the medians of 200 probes before and 200 after the single commits",
    }

    # Profiles of missed write targets, on the loaded database (new ids; nothing is measured
    # on it afterwards).
    if is_target and not args.no_profile:
        try:
            profiles.update(profile_writes(drift, result, w))
        except Exception as exc:  # a profile is a diagnosis; never lose the run to one
            runner.errors.append(f"profiling writes failed: {type(exc).__name__}: {exc}")
            drift.close()
    result["profiles"] = profiles

    if not args.keep:
        shutil.rmtree(size_dir, ignore_errors=True)
    return result, runner


def profile_writes(drift: DriftSide, result: dict[str, Any], w: Workload) -> dict[str, Any]:
    load = result["load"]
    out: dict[str, Any] = {}
    ingest_miss = load["DriftDB"]["insert_per_s"] < load[FULL]["insert_per_s"]
    patch_miss = load["DriftDB"]["patch_per_s"] < load[FULL]["patch_per_s"]
    commit_miss = (
        result["single_commits"]["DriftDB"]["median_ms"] > 1.2 * result["fsync"]["median_ms"]
    )
    if not (ingest_miss or patch_miss or commit_miss):
        return out
    drift.open()
    try:
        base_id = 10_000_000
        docs = [dict(w.inserts[i % len(w.inserts)], id=base_id + i) for i in range(5000)]
        if ingest_miss:
            say("  profiling DriftDB ingest (5 batches of 1000 on the loaded database)")
            batches = iter([docs[i : i + 1000] for i in range(0, len(docs), 1000)])
            out["ingest"] = measure.profile(lambda: drift.t.insert_many(next(batches)), 5)
        else:
            drift.t.insert_many(docs)
        if patch_miss:
            say("  profiling DriftDB patches (5 batches of 1000 on the loaded database)")
            assert drift.db is not None
            db = drift.db
            it2 = iter(range(0, 5000, 1000))

            def patch_batch() -> None:
                start = next(it2)
                with db.batch():
                    for i in range(start, start + 1000):
                        drift.t.patch(base_id + i, {"status": "paid"})

            out["patch"] = measure.profile(patch_batch, 5)
        if commit_miss:
            say("  profiling DriftDB durable single commits (100 on the loaded database)")
            more = [
                dict(w.inserts[i % len(w.inserts)], id=base_id + 100_000 + i) for i in range(100)
            ]
            it3 = iter(more)
            out["commit"] = measure.profile(lambda: drift.t.insert(next(it3)), 100)
    finally:
        drift.close()
    return out


# -- the run -----------------------------------------------------------------------------


def environment(source: dict[str, Any]) -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import driftdb

    if not os.path.abspath(driftdb.__file__).startswith(source["path"]):
        raise RuntimeError(f"driftdb imported from {driftdb.__file__}, not {source['path']}")
    return {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "driftdb": getattr(driftdb, "__version__", "?"),
        "load_average_at_start": os.getloadavg(),
    }


def run(args: argparse.Namespace, source: dict[str, Any], command: str) -> int:
    os.makedirs(args.out, exist_ok=True)
    root = args.workdir or tempfile.mkdtemp(prefix="driftdb-bench-")
    os.makedirs(root, exist_ok=True)
    say(f"databases in {root}; results to {args.out}")
    results: dict[str, Any] = {
        "command": command,
        "seed": args.seed,
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "environment": environment(source),
        "driftdb_source": source,
        "sizes": {},
        "mismatches": [],
        "errors": [],
    }
    results["fsync_at_start"] = measure.fsync_cost(root)
    say(f"raw fsync probe: {results['fsync_at_start']['median_ms']:.3f} ms median")
    target = 1_000_000 if 1_000_000 in args.events else args.events[-1]
    base_size = 100_000 if 100_000 in args.events else args.events[0]
    base: dict[str, Any] | None = None
    try:
        for events in args.events:
            size, runner = bench_size(events, args, root, base, events == target)
            results["sizes"][str(events)] = size
            results["mismatches"] += [dict(mm, size=events) for mm in runner.mismatches]
            results["errors"] += [f"{events:,} ev: {e}" for e in runner.errors]
            if events == base_size:
                base = size
            _write(args.out, results, target, base, partial=True)  # survives a crash
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    results["finished"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    results["environment"]["load_average_at_end"] = os.getloadavg()
    _write(args.out, results, target, base)
    print()
    with open(os.path.join(args.out, "latest.md")) as handle:
        print(handle.read())
    if results["mismatches"]:
        say(f"{len(results['mismatches'])} ANSWER MISMATCHES between DriftDB and SQLite")
        return 1
    return 0


def _write(
    out: str,
    results: dict[str, Any],
    target: int,
    base: dict[str, Any] | None,
    partial: bool = False,
) -> None:
    """Write the results: `partial.*` while the run goes on (untracked), `latest.*` (the
    tracked summary) only once it completes, each replaced atomically."""
    sizes = results["sizes"]
    judged = str(target) if str(target) in sizes else list(sizes)[-1]
    results["target_size"] = int(judged)
    results["targets"] = report.judge(sizes[judged], base)
    stem = "partial" if partial else "latest"
    for ext, text in (
        ("json", json.dumps(results, indent=2, default=str)),
        ("md", report.markdown(results)),
    ):
        path = os.path.join(out, f"{stem}.{ext}")
        with open(path + ".tmp", "w") as handle:
            handle.write(text)
        os.replace(path + ".tmp", path)
    if not partial:
        for ext in ("json", "md"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(out, f"partial.{ext}"))


def _slowest_commits(
    samples: list[float], in_fsync: list[float], calls: list[int] | None = None
) -> list[dict[str, Any]]:
    """The five slowest commits: number, milliseconds, and how much of it was inside fsync
    (and in how many calls, when counted)."""
    ranked = sorted(range(len(samples)), key=lambda i: samples[i], reverse=True)[:5]
    out = []
    for i in ranked:
        commit: dict[str, Any] = {
            "commit_number": i + 1,
            "ms": round(samples[i] * 1000, 3),
            "inside_fsync_ms": round(in_fsync[i] * 1000, 3),
        }
        if calls is not None:
            commit["fsync_calls"] = calls[i]
        out.append(commit)
    return out


def _slowest_over_median(samples: list[float]) -> float:
    return round(max(samples) / max(sorted(samples)[len(samples) // 2], 1e-9), 2)
