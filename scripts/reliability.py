"""Run the reliability suites at scale and print the figures.

    python scripts/reliability.py --crash-points 500

1. tests/crash    with DRIFTDB_CRASH_POINTS=N (SIGKILL through the API at N points, through the
                  CLI at N/4, power loss below the process at N);
2. tests/faults   with every call site failed in turn (DRIFTDB_FAULT_SAMPLE=0), N/2 damaged
                  copies, longer reader/writer races;
3. tests/badinput with 4N examples per fuzz target.

Each test appends its counts to the JSON Lines file named by $DRIFTDB_FIGURES; this script adds
them up and prints a table. Exit status 1 if an acknowledged write was lost, a write was
invented, a batch was torn, or a suite failed (strict xfails, the known engine bugs, do not
count as failures; an xfail that starts passing does).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SUMMARY = re.compile(r"^=*\s*((?:\d+ [a-z]+(?:, )?)+) in [\d.]+s")


def run_suite(name: str, path: str, env: dict[str, str]) -> tuple[int, str, float]:
    """Run one suite with pytest; return its exit code, summary line and seconds."""
    began = time.monotonic()
    print(f"== {name}: pytest {path}", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", path, "-p", "no:cacheprovider", "-rfEX"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - began
    lines = done.stdout.strip().splitlines()
    summary = next((m.group(1) for line in reversed(lines) if (m := SUMMARY.match(line))), "?")
    print(f"   {summary} ({seconds:.0f}s)", flush=True)
    if done.returncode != 0:
        failures = [line for line in lines if line.startswith(("FAILED", "ERROR", "XPASS"))]
        print("\n".join(f"   {line}" for line in failures[:40]) or done.stdout[-4000:])
        print(done.stderr[-2000:], end="")
    return done.returncode, summary, seconds


def load(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def table(title: str, header: list[str], rows: list[list[Any]]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=False)]
    line = "  ".join("-" * w for w in widths)
    body = [
        "  ".join(
            str(x).ljust(w) if i == 0 else str(x).rjust(w)
            for i, (x, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *rows]
    ]
    return "\n".join([title, body[0], line, *body[1:]])


def crash_table(figures: list[dict[str, Any]]) -> tuple[str, int]:
    fields = [
        "crash_points",
        "acked",
        "new_acked",
        "lost",
        "invented",
        "partial_batches",
        "reads_compared",
    ]
    kinds: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for f in figures:
        if f["suite"] != "crash":
            continue
        k = kinds[f["kind"]]
        for name in fields:
            k[name] += int(f.get(name, 0))
        k["special"] += int(bool(f.get("torn")) or f.get("landed") == "start-up")
    rows: list[list[Any]] = [
        [kind, *(k[name] for name in fields), k["special"]] for kind, k in sorted(kinds.items())
    ]
    rows.append(["TOTAL", *(sum(k[name] for k in kinds.values()) for name in fields), ""])
    text = table(
        "Crash points (every acknowledged write re-checked after every crash of its database)",
        [
            "kind",
            "crash points",
            "acked writes checked",
            "distinct acked",
            "lost",
            "invented",
            "torn batches",
            "reads vs replay",
            "in start-up / torn tail",
        ],
        rows,
    )
    bad = sum(k["lost"] + k["invented"] + k["partial_batches"] for k in kinds.values())
    return text, bad


def outcome_text(outcomes: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(outcomes.items(), key=lambda x: -x[1]))


def faults_table(figures: list[dict[str, Any]]) -> tuple[str, int]:
    merged: dict[str, dict[str, Any]] = {}
    bad = 0
    for f in figures:
        if f["suite"] != "faults":
            continue
        m = merged.setdefault(
            f["kind"], {"injected": 0, "outcomes": defaultdict(int), "lost": 0, "invented": 0}
        )
        m["injected"] += int(f.get("injected", 0))
        for name, n in (f.get("outcomes") or {}).items():
            m["outcomes"][name] += int(n)
        m["lost"] += int(f.get("lost", 0))
        m["invented"] += int(f.get("invented", 0))
        bad += int(f.get("lost", 0)) + int(f.get("invented", 0)) + int(f.get("bad", 0))
    rows = [
        [kind, m["injected"], m["lost"], m["invented"], outcome_text(m["outcomes"])]
        for kind, m in sorted(merged.items())
    ]
    rows.append(
        [
            "TOTAL",
            sum(m["injected"] for m in merged.values()),
            sum(m["lost"] for m in merged.values()),
            sum(m["invented"] for m in merged.values()),
            "",
        ]
    )
    return table(
        "Faults injected (per kind and outcome)",
        ["kind", "injected", "lost", "invented", "outcomes"],
        rows,
    ), bad


def badinput_table(figures: list[dict[str, Any]]) -> str:
    merged: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for f in figures:
        if f["suite"] == "badinput":
            merged[f["kind"]][0] += int(f.get("tried", 0))
            merged[f["kind"]][1] += int(f.get("handled", 0))
    rows = [[kind, t, h, t - h] for kind, (t, h) in sorted(merged.items())]
    rows.append(
        [
            "TOTAL",
            sum(t for t, _ in merged.values()),
            sum(h for _, h in merged.values()),
            sum(t - h for t, h in merged.values()),
        ]
    )
    return table(
        "Bad inputs (handled: a clear error or a right answer, nothing changed)",
        ["kind", "tried", "handled", "not handled"],
        rows,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--crash-points", type=int, default=200)
    parser.add_argument(
        "--figures",
        type=Path,
        default=None,
        help="keep the raw figures here (default: a temporary file)",
    )
    parser.add_argument("--only", choices=["crash", "faults", "badinput"], action="append")
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        help="only print the tables of an existing figures file",
    )
    args = parser.parse_args()
    if args.report is not None:
        figures = load(args.report)
        print(
            crash_table(figures)[0], faults_table(figures)[0], badinput_table(figures), sep="\n\n"
        )
        return 0
    n = max(1, args.crash_points)
    figures_path = args.figures or Path(tempfile.mkdtemp(prefix="driftdb-rel-")) / "f.jsonl"
    figures_path.unlink(missing_ok=True)
    common = {"DRIFTDB_FIGURES": str(figures_path)}
    suites = [
        ("crash", "tests/crash", {"DRIFTDB_CRASH_POINTS": str(n)}),
        (
            "faults",
            "tests/faults",
            {
                "DRIFTDB_FAULT_SAMPLE": "0",
                "DRIFTDB_DAMAGE_TRIALS": str(max(40, n // 2)),
                "DRIFTDB_RACE_SECONDS": "10",
                "DRIFTDB_LOCK_ROUNDS": "10",
            },
        ),
        ("badinput", "tests/badinput", {"DRIFTDB_FUZZ_EXAMPLES": str(max(200, 4 * n))}),
    ]
    results = []
    for name, path, env in suites:
        if args.only and name not in args.only:
            continue
        code, summary, seconds = run_suite(name, path, {**common, **env})
        results.append((name, code, summary, seconds))
    figures = load(figures_path)
    crash, crash_bad = crash_table(figures)
    faults, faults_bad = faults_table(figures)
    print()
    print(crash)
    print()
    print(faults)
    print()
    print(badinput_table(figures))
    print()
    print(
        table(
            "Suites",
            ["suite", "exit", "seconds", "pytest summary"],
            [[name, code, f"{seconds:.0f}", summary] for name, code, summary, seconds in results],
        )
    )
    print(f"\nraw figures: {figures_path}")
    failed = [name for name, code, _, _ in results if code != 0]
    if crash_bad or faults_bad or failed:
        print(
            f"\nRELIABILITY: FAIL (lost/invented/torn: {crash_bad + faults_bad}; "
            f"failed suites: {', '.join(failed) or 'none'})"
        )
        return 1
    print("\nRELIABILITY: OK (nothing lost, nothing invented, every suite passed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
