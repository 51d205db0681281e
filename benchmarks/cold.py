"""Cold queries: a new process per query, DriftDB's CLI against the sqlite3 command line.

DriftDB: `.venv/bin/driftdb select -d DIR --table orders --where ... --format json`.
SQLite: the `sqlite3` binary (`-json`) when it is installed, else `python3 -c` with the stdlib
sqlite3 module; the result records which one ran. Also timed, for scale: a bare Python start-up
and `import driftdb`, since a cold CLI query can cost no less than those.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Any

from measure import run_cold

_PY_SQLITE = (
    "import json, sqlite3, sys\n"
    "c = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True)\n"
    "c.row_factory = sqlite3.Row\n"
    "print(json.dumps([dict(r) for r in c.execute(sys.argv[2])]))\n"
)


def driftdb_cli() -> str:
    """The `driftdb` console script of the interpreter running the harness."""
    return os.path.join(os.path.dirname(sys.executable), "driftdb")


def sqlite_cli() -> tuple[list[str], str]:
    """The command prefix (db path and SQL follow) and a label of what it is."""
    binary = shutil.which("sqlite3")
    if binary:
        return [binary, "-json", "-readonly"], f"sqlite3 binary ({binary})"
    python = shutil.which("python3") or sys.executable
    return [python, "-c", _PY_SQLITE], f"python3 -c with stdlib sqlite3 ({python})"


def _parse_rows(stdout: str) -> list[dict[str, Any]] | None:
    """Rows from JSON output: a list of objects, an object with "rows", or JSON lines."""
    text = stdout.strip()
    if not text:
        return []
    try:
        data = json.loads(text)
    except ValueError:
        try:
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError:
            return None
    if isinstance(data, dict):
        data = data.get("rows", data.get("result", [data]))
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        return data
    return None


def _check(rows: list[dict[str, Any]] | None, expect: dict[str, Any]) -> str:
    """ "ok", or what is wrong with the rows the command printed."""
    if rows is None:
        return "output is not JSON rows"
    if "row" in expect:
        want = [expect["row"]] if expect["row"] is not None else []
        got = [
            {k: r.get(k) for k in ("id", "customer", "status", "total", "items", "note")}
            for r in rows
        ]
        return "ok" if got == want else f"expected {want!r}, got {got[:2]!r}"
    want_n = min(expect["limit"], expect["count"])
    if len(rows) != want_n:
        return f"expected {want_n} rows, got {len(rows)}"
    if any(r.get("status") != expect["status"] for r in rows):
        return "a row does not have the status asked for"
    return "ok"


def measure_cold(
    drift_dir: str,
    sqlite_path: str,
    key: int,
    row: dict[str, Any] | None,
    paid_count: int,
    runs: int,
) -> dict[str, Any]:
    """Cold by-key and by-indexed-value queries in both systems (`runs` timed runs each, after
    one untimed first run)."""
    py = sys.executable
    out: dict[str, Any] = {
        "python_startup": run_cold([py, "-c", "pass"], runs),
        "import_driftdb": run_cold([py, "-c", "import driftdb"], runs),
    }
    for name in ("python_startup", "import_driftdb"):
        out[name].pop("stdout", None)

    cli = driftdb_cli()
    by_key = {"row": row}
    by_status = {"status": "paid", "limit": 100, "count": paid_count}
    drift_cmds = {
        "by_key": [
            cli,
            "select",
            "-d",
            drift_dir,
            "--table",
            "orders",
            "--where",
            f"id = {key}",
            "--format",
            "json",
        ],
        "by_status": [
            cli,
            "select",
            "-d",
            drift_dir,
            "--table",
            "orders",
            "--where",
            "status = 'paid'",
            "--limit",
            "100",
            "--format",
            "json",
        ],
    }
    prefix, label = sqlite_cli()
    cols = "id, customer, status, total, items, note"
    sqlite_cmds = {
        "by_key": [*prefix, sqlite_path, f"SELECT {cols} FROM orders WHERE id = {key}"],
        "by_status": [
            *prefix,
            sqlite_path,
            f"SELECT {cols} FROM orders WHERE status = 'paid' LIMIT 100",
        ],
    }
    expects: dict[str, dict[str, Any]] = {"by_key": by_key, "by_status": by_status}
    out["sqlite_tool"] = label
    out["driftdb_cli"] = cli
    for system, cmds in (("DriftDB", drift_cmds), ("SQLite", sqlite_cmds)):
        for what, cmd in cmds.items():
            if system == "DriftDB" and not os.path.exists(cli):
                res: dict[str, Any] = {
                    "ok": False,
                    "median_ms": None,
                    "error": f"{cli} does not exist",
                }
            else:
                res = run_cold(cmd, runs)
            res["command"] = " ".join(_quote(c) for c in cmd)
            if res.get("ok"):
                res["answer"] = _check(_parse_rows(res.pop("stdout")), expects[what])
            out[f"{system}.{what}"] = res
    return out


def _quote(arg: str) -> str:
    if arg and all(c.isalnum() or c in "-_./=:@" for c in arg):
        return arg
    return "'" + arg.replace("'", "'\"'\"'") + "'"


def profile_cold(cmd: list[str], out_path: str) -> dict[str, Any]:
    """Where a cold CLI query spends its time: cProfile of the whole process (`cmd[0]` is the
    console script), plus the slowest imports by `-X importtime` (cumulative microseconds)."""
    from measure import profile_stats_file

    result: dict[str, Any] = {}
    run = subprocess_run([sys.executable, "-m", "cProfile", "-o", out_path, *cmd])
    if run[0] == 0 and os.path.exists(out_path):
        result.update(profile_stats_file(out_path))
    else:
        result["error"] = run[1][-400:]
    _, err = subprocess_run(
        [sys.executable, "-X", "importtime", "-c", "import driftdb.cli.select_run"]
    )
    imports = []
    for line in err.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            imports.append((int(parts[1].strip()), parts[2].rstrip()))
    imports.sort(reverse=True)
    result["slowest_imports_cumulative_us"] = [
        {"module": name.strip(), "cumulative_us": us, "depth": len(name) - len(name.lstrip())}
        for us, name in imports[:25]
    ]
    return result


def subprocess_run(cmd: list[str]) -> tuple[int, str]:
    import subprocess

    proc = subprocess.run(cmd, capture_output=True, timeout=300, check=False)
    return proc.returncode, proc.stderr.decode(errors="replace")
