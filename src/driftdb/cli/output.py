"""Turning results into text: an aligned table for people, JSON, JSON Lines or CSV for tools.

Cells in table and CSV output (the convention is in the README):
- a field the row does not have is an empty cell;
- null is `null`;
- a string is shown as it is, unless it could be read as one of the above or as a quoted
  string: "null", the empty string and any string starting with `"` are shown as JSON
  (`"null"`, `""`, `"\"a\""`);
- numbers, booleans, arrays and objects as JSON.
In a table, line breaks, tabs and other control characters are shown as escapes (`\n`), and
widths count terminal columns (a wide character takes two), so every row stays one line.
"""

from __future__ import annotations

import functools
import json
import re
from typing import TYPE_CHECKING, Any, TextIO

from driftdb.model.wording import plural

if TYPE_CHECKING:
    from driftdb.query.executor import Result

FORMATS = ("table", "json", "jsonl", "csv")


MISSING: Any = object()  # what a row does not have, as against null


def _cell(value: Any, escape: bool = False) -> str:
    if value is MISSING:
        return ""
    if value is None:
        return "null"
    if isinstance(value, str):
        if value in ("null", "") or value.startswith('"'):
            value = json.dumps(value, ensure_ascii=False)
        return _escape(value) if escape else value
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return _escape(text) if escape else text


# What a terminal would obey rather than show: C0 controls (ESC starts a sequence that can
# retitle the window, move the cursor or rewrite what is on screen; BEL rings), DEL, C1
# controls, and the bidirectional overrides that reorder what is shown. Patterns are compiled
# on first use: JSON output needs none of them, and a cold start would pay for the compiles.
@functools.cache
def _control() -> re.Pattern[str]:
    return re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(text: str) -> str:
    """`text` with every control character shown as an escape (ESC as \\x1b)."""
    return _control().sub(
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
    control characters in names and values are shown as escapes (line breaks and tabs always:
    a cell is one line)."""
    cells = [[_one_line(_cell(row.get(c, MISSING), escape)) for c in columns] for row in rows]
    columns = [_one_line(_escape(c) if escape else c) for c in columns]
    cells = [[_clip(c, max_width) for c in r] for r in cells]
    widths = [max([_width(c)] + [_width(r[i]) for r in cells]) for i, c in enumerate(columns)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(values: list[str]) -> str:
        padded = (v + " " * (w - _width(v)) for v, w in zip(values, widths, strict=True))
        return "| " + " | ".join(padded) + " |"

    out = [rule, line(columns), rule, *(line(r) for r in cells), rule]
    return "\n".join(out)


@functools.cache
def _breaks() -> re.Pattern[str]:
    return re.compile("[\x00-\x1f\x7f\u0085\u2028\u2029]")


def _one_line(text: str) -> str:
    """Line breaks, tabs and other C0 controls as escapes, so a cell stays on its line."""
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    return _breaks().sub(lambda m: named.get(m[0]) or f"\\u{ord(m[0]):04x}", text)


def _char_width(char: str) -> int:
    import unicodedata

    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _width(text: str) -> int:
    """Terminal columns `text` takes (wide East Asian characters two, combining marks none)."""
    if text.isascii():
        return len(text)
    return sum(_char_width(c) for c in text)


def _clip(text: str, max_width: int) -> str:
    if _width(text) <= max_width:
        return text
    out, used = [], 0
    for char in text:
        width = _char_width(char)
        if used + width > max_width - 1:
            break
        out.append(char)
        used += width
    return "".join(out) + "…"


def json_value(result: Result) -> Any:
    """A result as the JSON value `--format json` prints for it."""
    if result.kind in ("write", "ddl", "maintenance"):
        return {"ok": True, "message": result.message, "seq": result.seq}
    return result.rows


def render_json_array(results: list[Result], out: TextIO) -> None:
    """Several statements' results as one JSON document: an array, one element each."""
    out.write(_json([json_value(r) for r in results]) + "\n")


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
            writer.writerow([_cell(row.get(c, MISSING), escape) for c in columns])
        out.write(buffer.getvalue())
    else:
        if kind == "count" and rows:
            out.write(f"{rows[0]['count']}\n")
            return
        if kind == "count":
            out.write("(0 rows)\n")  # COUNT(*) ... LIMIT 0
            return
        if kind == "plan":
            out.write(f"{message}\n")
            return
        out.write(text_table(columns, rows, escape=escape) + "\n")
        if kind != "describe":
            out.write(f"({plural(len(rows), 'event' if kind == 'drift' else 'row')})\n")
        if kind == "drift" and message:
            out.write(f"{message}\n")  # e.g. that PURGE erased the key's data
