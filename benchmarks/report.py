"""Issue 4's targets, judged on one size's results, and the markdown summary."""

from __future__ import annotations

from typing import Any

FULL = "SQLite FULL"
_PLURAL = {"insert": "inserts", "patch": "patches", "delete": "deletes"}
NORMAL = "SQLite NORMAL"

# (metric, label, kind, rule, target text). kind "rate": higher is better; "ms": lower.
# rule: ">=sqlite", ">=2sqlite", "<=sqlite", "<=half", "scale", "fsync", "cold", "<=20x" and
# ">=4x" (a DriftDB-only ratio, issue 11), or None (no target).
TARGETS: list[tuple[str, str, str, str | None, str]] = [
    ("ingest", "ingest, inserts/s (batches of 1000)", "rate", ">=sqlite", ">= SQLite FULL"),
    ("patch", "patches/s (batches of 1000)", "rate", ">=2sqlite", ">= 2 x SQLite FULL"),
    ("delete", "soft deletes/s (batches of 1000)", "rate", ">=2sqlite", ">= 2 x SQLite FULL"),
    ("q1", "q1 get by key, now", "ms", "<=sqlite", "<= SQLite"),
    ("q2", "q2 get by key AS OF T_mid", "ms", "<=sqlite", "<= SQLite"),
    ("q3", "q3 count + first 100 status='paid', now", "ms", "<=half", "<= 0.5 x SQLite"),
    ("q3.count", "  q3 count only", "ms", None, "-"),
    ("q3.first100", "  q3 first 100 only", "ms", None, "-"),
    ("q3.by_id", "  q3 first 100 ORDER BY id", "ms", None, "-"),
    ("q4", "q4 count + first 100 status='paid' AS OF T_A2", "ms", "<=half", "<= 0.5 x SQLite"),
    ("q4.count", "  q4 count only", "ms", None, "-"),
    ("q4.first100", "  q4 first 100 only", "ms", None, "-"),
    ("q4.by_id", "  q4 first 100 ORDER BY id", "ms", None, "-"),
    ("q4.at_T_A", "  q4 count AS OF T_A (0 rows)", "ms", None, "-"),
    ("q5", "q5 count(*) AS OF T_mid", "ms", "<=sqlite", "<= SQLite"),
    ("q5b", "q5b every row AS OF T_mid, materialised", "ms", "<=sqlite", "<= SQLite"),
    ("q6", "q6 full history of one key", "ms", "<=sqlite", "<= SQLite"),
    ("q2.scale", "q2 time at this size / at 100k", "x", "scale", "<= 1.5"),
    ("q4.scale", "q4 time at this size / at 100k", "x", "scale", "<= 1.5"),
    ("q2.scale_mixed", "  q2 scaling, DriftDB timed alternating with SQLite", "x", None, "-"),
    ("q4.scale_mixed", "  q4 scaling, DriftDB timed alternating with SQLite", "x", None, "-"),
    ("commit", "durable single commit, median latency", "ms", "fsync", "<= 1.2 x fsync"),
    ("commit_rate", "durable single commits/s", "rate", None, "-"),
    (
        "commit_tail",
        "slowest of 1,000 single commits crossing a snapshot / median",
        "x",
        "<=20x",
        "<= 20",
    ),
    (
        "commit_tail_all",
        "  slowest of every commit until the background snapshot finished / median",
        "x",
        None,
        "-",
    ),
    ("group_commit", "8 threads' single commits/s / 1 thread's", "x", ">=4x", ">= 4"),
    ("fsync", "raw fsync of 100 bytes, median", "ms", None, "-"),
    (
        "cold.by_key",
        "cold CLI select by key (new process)",
        "ms",
        "cold",
        "<= 100 ms and <= 5 x python -c pass",
    ),
    ("cold.by_status", "cold CLI select status='paid' LIMIT 100", "ms", None, "-"),
    ("open", "open existing database (s)", "s", None, "-"),
    ("close", "close after the load (s; DriftDB packs its index here)", "s", None, "-"),
    ("disk", "size on disk (MB, allocated)", "MB", "<=2x", "<= 2 x SQLite FULL"),
]


def metric_values(size: dict[str, Any], base: dict[str, Any] | None) -> dict[str, Any]:
    """metric -> (DriftDB value, SQLite FULL value) for one size; `base` is the 100k size,
    for the scaling ratios."""
    out: dict[str, Any] = {}
    load = size["load"]
    for metric, key in (
        ("ingest", "insert_per_s"),
        ("patch", "patch_per_s"),
        ("delete", "delete_per_s"),
    ):
        out[metric] = (load["DriftDB"].get(key), load[FULL].get(key))
    for name, q in size["queries"].items():
        d = q.get("DriftDB") or {}
        s = q.get(FULL) or {}
        out[name] = (d.get("median_ms"), s.get("median_ms"))
    for name in ("q2", "q4"):
        if base is not None and base is not size:
            bq = base["queries"].get(name, {})
            q = size["queries"].get(name, {})
            mixed = tuple(
                _ratio((q.get(sys_) or {}).get("median_ms"), (bq.get(sys_) or {}).get("median_ms"))
                for sys_ in ("DriftDB", FULL)
            )
            alone = _ratio(scaling_ms(q), scaling_ms(bq))
            out[f"{name}.scale"] = (alone if alone is not None else mixed[0], mixed[1])
            out[f"{name}.scale_mixed"] = (mixed[0], None)
        else:
            out[f"{name}.scale"] = (None, None)
            out[f"{name}.scale_mixed"] = (None, None)
    single = size["single_commits"]
    out["commit"] = (single["DriftDB"]["median_ms"], single[FULL]["median_ms"])
    out["commit_rate"] = (single["DriftDB"]["commits_per_s"], single[FULL]["commits_per_s"])
    out["fsync"] = (size["fsync"]["median_ms"], size["fsync"]["median_ms"])
    crossing = size.get("snapshot_crossing") or {}
    tail = crossing.get("slowest_over_median")
    out["commit_tail"] = (tail if crossing.get("snapshot_taken") else None, None)
    during = crossing.get("during_slowest_over_median")
    out["commit_tail_all"] = (during if crossing.get("snapshot_taken") else None, None)
    out["group_commit"] = ((size.get("group_commit") or {}).get("ratio"), None)
    cold = size["cold"]
    out["cold.by_key"] = (
        cold["DriftDB.by_key"].get("median_ms"),
        cold["SQLite.by_key"].get("median_ms"),
    )
    out["cold.by_status"] = (
        cold["DriftDB.by_status"].get("median_ms"),
        cold["SQLite.by_status"].get("median_ms"),
    )
    out["open"] = (size["open_s"]["DriftDB"], size["open_s"][FULL])
    closed = size["load"].get("close_s", {})
    out["close"] = (closed.get("DriftDB"), closed.get(FULL))
    out["disk"] = (
        round(size["disk"]["DriftDB"]["allocated_bytes"] / 1e6, 1),
        round(size["disk"][FULL]["allocated_bytes"] / 1e6, 1),
    )
    return out


def scaling_ms(query: dict[str, Any]) -> float | None:
    """DriftDB's median for a scaling target: from its own rounds (see `Query.alone`) when the
    run has them, else from the rounds that alternate with SQLite."""
    alone = query.get("DriftDB_alone") or query.get("DriftDB") or {}
    return alone.get("median_ms")


def _met(rule: str, d: float, s: float | None, size: dict[str, Any]) -> tuple[bool | None, str]:
    """Whether DriftDB's figure `d` meets `rule` (SQLite's is `s`), and the target as shown
    when it depends on this run's own measurements ("" when it does not)."""
    fsync_ms = size["fsync"]["median_ms"]
    if rule == "fsync":
        return d <= 1.2 * fsync_ms, f"<= 1.2 x fsync ({1.2 * fsync_ms:.3f} ms)"
    if rule == "cold":
        startup = size["cold"]["python_startup"].get("median_ms")
        if startup is None:
            return d <= 100.0, ""
        shown = f"<= 100 ms and <= 5 x python -c pass ({5 * startup:.1f} ms)"
        return d <= 100.0 and d <= 5.0 * startup, shown
    fixed = {"scale": d <= 1.5, "<=20x": d <= 20.0, ">=4x": d >= 4.0}
    if rule in fixed:
        return fixed[rule], ""
    if s is None:
        return None, ""
    relative = {
        ">=sqlite": d >= s,
        ">=2sqlite": d >= 2 * s,
        "<=sqlite": d <= s,
        "<=half": d <= 0.5 * s,
        "<=2x": d <= 2 * s,
    }
    return relative.get(rule), ""


def judge(size: dict[str, Any], base: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One row per metric: values, ratio DriftDB/SQLite, target and whether it is met."""
    values = metric_values(size, base)
    rows = []
    for metric, label, kind, rule, target in TARGETS:
        d, s = values.get(metric, (None, None))
        met: bool | None = None
        if d is not None and rule is not None:
            met, shown = _met(rule, d, s, size)
            target = shown or target
        elif rule == "scale":
            met = None  # only one size measured: no ratio to judge
        elif rule is not None:
            met = False  # no DriftDB figure: the target is not shown to be met
        if rule == "scale" and base is not None:
            label = label.replace("100k", f"{base['events']:,} events")
        rows.append(
            {
                "metric": metric,
                "label": label,
                "unit": kind,
                "DriftDB": d,
                FULL: s,
                "ratio": None if metric in ("fsync",) else _ratio(d, s),
                "target": target,
                "rule": rule,
                "met": met,
            }
        )
    return rows


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)


def _fmt(value: Any, unit: str) -> str:
    if value is None:
        return "null"
    if unit == "rate":
        return f"{value:,.0f}/s"
    if unit == "ms":
        return f"{value:.3f} ms" if value < 100 else f"{value:,.1f} ms"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "MB":
        return f"{value:,.1f} MB"
    return str(value)


def markdown(results: dict[str, Any]) -> str:
    """The short report: the targets table at the target size, then the smaller things."""
    target = results["target_size"]
    size = results["sizes"][str(target)]
    rows = results["targets"]
    env = results["environment"]
    lines = [
        f"# DriftDB benchmark (issue 4): {target:,} events",
        "",
        f"Run {results['started']} on {env['cpus']} CPUs ({env['cpu_model']}), "
        f"Python {env['python']}, SQLite {env['sqlite']}, {env['platform']}. "
        f"Command: `{results['command']}`.",
        "",
        f"DriftDB code measured: {_source(results.get('driftdb_source') or {})}.",
        "",
        f"Workload: N = {size['n']:,} inserts, {size['patches']:,} status patches, "
        f"{size['deletes']:,} soft deletes = {size['total_events']:,} events (seed "
        f"{results['seed']}). Markers: T_A = {size['markers']['t_a']:,} (end of inserts), "
        f"T_A2 = {size['markers']['t_a2']:,} (a quarter through the patches; used for q4 "
        f"because nothing is 'paid' at T_A), T_mid = {size['markers']['t_mid']:,}.",
        "",
        "Latencies are warm medians; ratio = DriftDB / SQLite FULL (for rates higher is "
        "better, for times lower is better). SQLite: WAL, synchronous=FULL, current table + "
        "trigger-maintained history table.",
        "",
        "| metric | DriftDB | SQLite FULL | ratio | target | met? |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        via = size["queries"].get(r["metric"], {}).get("via", "public API")
        mark = " (fallback)" if via.startswith("TableView") else ""
        met = {True: "yes", False: "**NO**", None: ""}[r["met"]]
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(
            f"| {r['label']} | {_fmt(r['DriftDB'], r['unit'])}{mark} | "
            f"{_fmt(r[FULL], r['unit'])} | {ratio} | {r['target']} | {met} |"
        )
    lines += ["", *_notes(results, size)]
    return "\n".join(lines) + "\n"


def _source(src: dict[str, Any]) -> str:
    dirty = src.get("git_dirty_src") or []
    state = f"{len(dirty)} uncommitted changes in src/ at start" if dirty else "clean src/"
    if str(src.get("mode", "")).startswith("git archive"):
        return f"{src.get('mode')}, tree {src.get('tree_sha256')}"
    return (
        f"{src.get('mode', '?')}, git HEAD {src.get('git_head', '?')} with {state}, "
        f"tree {src.get('tree_sha256')}"
    )


def _profile_line(prof: dict[str, Any]) -> str:
    """Top own-time functions, and the DriftDB functions with the most cumulative time."""
    if "by_tottime" not in prof:
        return str(prof.get("error", "no profile"))
    own = "; ".join(f"{p['function']} {p['tottime_s']:.3f}s" for p in prof["by_tottime"][:5])
    ours = [p for p in prof["by_cumtime"] if p["function"].startswith("driftdb/")][:4]
    text = f"own time: {own}"
    if ours:
        text += " | cumulative in driftdb: " + "; ".join(
            f"{p['function']} {p['cumtime_s']:.3f}s" for p in ours
        )
    imports = prof.get("slowest_imports_cumulative_us")
    if imports:
        text += " | slowest imports (cumulative): " + "; ".join(
            f"{i['module']} {i['cumulative_us'] / 1000:.0f} ms" for i in imports[:8]
        )
    calls = prof.get("calls") or prof.get("repeats")
    return text + (f" ({calls} calls profiled)" if calls else "")


def _structures(disk: dict[str, Any]) -> list[str]:
    """Where the bytes are on each side (the profile of the disk target)."""
    out = []
    for label, key in (
        ("DriftDB index", "DriftDB.structures"),
        ("SQLite FULL", "SQLite.structures"),
    ):
        parts = disk.get(key)
        if parts:
            ranked = sorted(parts.items(), key=lambda item: -item[1])
            out.append(
                f"- {label} by structure: "
                + ", ".join(f"{name} {size_b / 1e6:,.1f} MB" for name, size_b in ranked)
            )
    return out


def _notes(results: dict[str, Any], size: dict[str, Any]) -> list[str]:
    out = []
    normal = size["load"].get(NORMAL)
    if normal:
        sc = size["single_commits"][NORMAL]
        out += [
            "SQLite NORMAL (reference; its WAL commits are not fsynced, so not durable): "
            f"inserts {normal['insert_per_s']:,.0f}/s, patches {normal['patch_per_s']:,.0f}/s, "
            f"deletes {normal['delete_per_s']:,.0f}/s, single commit {sc['median_ms']:.3f} ms "
            f"median ({sc['commits_per_s']:,.0f}/s).",
            "",
        ]
    loads = size["load"]["DriftDB"]
    if "insert_batches" in loads:
        slow = {p: loads[f"{p}_batches"] for p in ("insert", "patch", "delete")}
        out += [
            "DriftDB batches over 5x the median batch time (e.g. a snapshot taken inside the "
            "commit): "
            + "; ".join(
                f"{_PLURAL[p]} {b['over_5x_median']} taking {b['over_5x_median_s']:.1f} s "
                f"(without them {b['per_s_without_them']:,.0f}/s)"
                for p, b in slow.items()
            )
            + (
                f". An explicit snapshot of the whole table took {size['snapshot_s']:.2f} s."
                if size.get("snapshot_s") is not None
                else "."
            ),
            "",
        ]
    cold = size["cold"]
    out.append(
        f"Cold queries: SQLite side ran with {cold['sqlite_tool']}; Python start-up "
        f"{_fmt(cold['python_startup'].get('median_ms'), 'ms')}, `import driftdb` "
        f"{_fmt(cold['import_driftdb'].get('median_ms'), 'ms')}."
    )
    for what in ("by_key", "by_status"):
        res = cold[f"DriftDB.{what}"]
        if not res.get("ok"):
            out.append(f"- DriftDB CLI {what}: null, failed: {res.get('error')}")
        elif res.get("answer") != "ok":
            out.append(f"- DriftDB CLI {what}: wrong answer: {res.get('answer')}")
    out.append("")
    out.append("Scaling (median ms by size):")
    out.append("")
    out.append("| query | " + " | ".join(f"{int(k):,} ev" for k in results["sizes"]) + " |")
    out.append("|---|" + "---|" * len(results["sizes"]))
    for q in ("q2", "q4"):
        for system in ("DriftDB", FULL):
            cells = []
            for s in results["sizes"].values():
                cells.append(
                    _fmt(((s["queries"].get(q) or {}).get(system) or {}).get("median_ms"), "ms")
                )
            out.append(f"| {q} {system} | " + " | ".join(cells) + " |")
        alone = [
            _fmt((s["queries"].get(q) or {}).get("DriftDB_alone", {}).get("median_ms"), "ms")
            for s in results["sizes"].values()
        ]
        out.append(f"| {q} DriftDB, its own rounds (judged) | " + " | ".join(alone) + " |")
    out.append("")
    d_disk = size["disk"]["DriftDB"]
    out.append(
        f"Disk: DriftDB {d_disk['allocated_bytes'] / 1e6:,.1f} MB allocated "
        f"({d_disk['apparent_bytes'] / 1e6:,.1f} MB apparent; segments "
        f"{size['disk']['DriftDB.segments']['allocated_bytes'] / 1e6:,.1f} MB, indexes "
        f"{size['disk']['DriftDB.indexes']['allocated_bytes'] / 1e6:,.1f} MB, snapshots "
        f"{size['disk'].get('DriftDB.snapshots', {}).get('allocated_bytes', 0) / 1e6:,.1f} MB "
        f"in {size['disk'].get('DriftDB.snapshots', {}).get('files', 0)} files); SQLite FULL "
        f"{size['disk'][FULL]['allocated_bytes'] / 1e6:,.1f} MB after a checkpoint."
    )
    out += _structures(size["disk"])
    out.append("")
    mismatches = results["mismatches"]
    if mismatches:
        out.append(f"**{len(mismatches)} answer mismatches between DriftDB and SQLite:**")
        out += [f"- {m['size']:,} ev, {m['query']}: {m['problem']}" for m in mismatches[:20]]
    else:
        out.append(
            "Correctness: every query's DriftDB answer equals SQLite's (and the "
            "workload model's counts) at every size."
        )
    if results["errors"]:
        out += ["", "Errors:"]
        out += [f"- {e}" for e in results["errors"][:20]]
    profiles = size.get("profiles") or {}
    if profiles:
        out += ["", "Profiles of missed targets (DriftDB side; full lists in latest.json):"]
        for metric, prof in profiles.items():
            if prof:
                out.append(f"- {metric}: {_profile_line(prof)}")
    single = size["single_commits"]["DriftDB"]
    if "inside_fsync" in single:
        out += [
            "",
            f"DriftDB single commit split: {single['inside_fsync']['median_ms']:.3f} ms "
            f"inside fsync ({single['fsync_calls_per_commit']} call per commit), "
            f"{single['outside_fsync']['median_ms']:.3f} ms outside (medians); raw fsync "
            f"probe {size['fsync_before']['median_ms']:.3f} ms before, "
            f"{size['fsync_after']['median_ms']:.3f} ms after. Mean "
            f"{single['mean_ms']:.3f} ms; slowest commits (#number: ms, of which in fsync): "
            + _slowest_text(single.get("slowest", []))
            + ".",
        ]
    return out + _crossing_note(size)


def _crossing_note(size: dict[str, Any]) -> list[str]:
    """The slowest commits made while a background snapshot ran, with their fsync's share."""
    crossing = size.get("snapshot_crossing") or {}
    if not crossing.get("slowest"):
        return []
    return [
        "",
        f"Commits while a background snapshot ran ({crossing['during_snapshot']:,}, the "
        f"first {crossing['n']:,} judged): median {crossing['median_ms']:.3f} ms; slowest "
        "(#number: ms, of which in fsync): " + _slowest_text(crossing["slowest"]) + ".",
    ]


def _slowest_text(commits: list[dict[str, Any]]) -> str:
    """`#12: 4.7 (4.5), ...`: each slow commit's number, milliseconds and time in fsync."""
    return ", ".join(
        f"#{c['commit_number']}: {c['ms']:.1f} ({c['inside_fsync_ms']:.1f})" for c in commits
    )
