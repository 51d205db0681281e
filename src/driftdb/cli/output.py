"""Turning results into text: an aligned table for people, JSON, JSON Lines or CSV for tools."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from driftdb.query.executor import Result

FORMATS = ("table", "json", "jsonl", "csv")


def _cell(value: Any, escape: bool = False) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return _escape(value) if escape else value
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return _escape(text) if escape else text


# What a terminal would obey rather than show: C0 controls (ESC starts a sequence that can
# retitle the window, move the cursor or rewrite what is on screen; BEL rings), DEL, C1
# controls, and the bidirectional overrides that reorder what is shown.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(text: str) -> str:
    """`text` with every control character shown as an escape (ESC as \\x1b)."""
    return _CONTROL.sub(
        lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text
    )


def _is_terminal(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def text_table(
    columns: list[str], rows: list[dict[str, Any]], max_width: int = 60, escape: bool = False
) -> str:
    """An aligned plain-text table (no colour, so it reads the same in a pipe); with `escape`,
    control characters in names and values are shown as escapes."""
    cells = [[_cell(row.get(c), escape) for c in columns] for row in rows]
    if escape:
        columns = [_escape(c) for c in columns]
    cells = [[c if len(c) <= max_width else c[: max_width - 1] + "…" for c in r] for r in cells]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    out = [rule, line(columns), rule, *(line(r) for r in cells), rule]
    return "\n".join(out)


def render(result: Result, fmt: str, out: TextIO) -> None:
    """Write one result in the chosen format."""
    if result.kind in ("write", "ddl", "maintenance", "transaction"):
        if fmt in ("json", "jsonl"):
            out.write(_json({"ok": True, "message": result.message, "seq": result.seq}) + "\n")
        else:
            out.write(f"{result.message}\n")
        return
    render_rows(result.kind, result.rows, result.columns, fmt, out, result.message)


def render_rows(
    kind: str,
    rows: list[dict[str, Any]],
    columns: list[str],
    fmt: str,
    out: TextIO,
    message: str | None = None,
) -> None:
    """Write rows of the given kind ("rows", "count", "plan", "drift", "describe") in the
    chosen format, as `render` does for a Result that holds them.

    Stored text reaches a person's terminal only escaped: on a terminal, table and CSV output
    show control characters as escapes. In a pipe they stay exact; JSON escapes them itself.
    """
    escape = fmt in ("table", "csv") and _is_terminal(out)
    if fmt == "json":
        out.write(_json(rows) + "\n")
    elif fmt == "jsonl":
        for row in rows:
            out.write(_json(row) + "\n")
    elif fmt == "csv":
        import csv  # only for --format csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([_escape(c) for c in columns] if escape else columns)
        for row in rows:
            writer.writerow([_cell(row.get(c), escape) for c in columns])
        out.write(buffer.getvalue())
    else:
        if kind == "count":
            out.write(f"{rows[0]['count']}\n")
            return
        if kind == "plan":
            out.write(f"{message}\n")
            return
        out.write(text_table(columns, rows, escape=escape) + "\n")
        noun = "row" if len(rows) == 1 else "rows"
        if kind == "drift":
            noun = "event" if len(rows) == 1 else "events"
        if kind != "describe":
            out.write(f"({len(rows)} {noun})\n")
