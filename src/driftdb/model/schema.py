"""A table's schema: name, primary key, indexed columns and options, kept in schema.yaml."""

from __future__ import annotations

import json
import os
import re
from typing import Any

from driftdb.errors import InvalidInputError
from driftdb.model.frozen import Frozen, set_field
from driftdb.model.untrusted import MAX_SCHEMA_BYTES, check_size, load_yaml, short

MAX_INDEXES = 64
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
# A column: field names joined by dots. A field name may hold any character but the dot and
# control characters (DriftQL writes such names in backticks: `first-name`).
COLUMN = re.compile(r"[^.\x00-\x1f\x7f]+(\.[^.\x00-\x1f\x7f]+)*\Z")
MAX_COLUMN_CHARS = 255  # an index is an LMDB sub-database named after its column

DEFAULT_OPTIONS: dict[str, int] = {
    "segment_size_bytes": 128 * 1024 * 1024,
    "snapshot_every_events": 100_000,
    "snapshot_every_bytes": 128 * 1024 * 1024,
    # One plain snapshot: the indexes answer every AS OF read, so a snapshot only gives a
    # reader without an index (or a full-table read near the head) a start point, and a
    # damaged one falls back to the log. A second one cost a quarter of the log's size again
    # at 1M events (32 MB beside 141 MB, benchmarks); `snapshots_keep` keeps more.
    "snapshots_keep": 1,
}

# The allowed range of each option (inclusive; stated in the README). The lower bounds keep a
# table option from multiplying files and disk (a segment per event, a full snapshot per
# event); the upper bounds keep sizes within what the formats and a file system hold.
OPTION_RANGES: dict[str, tuple[int, int]] = {
    "segment_size_bytes": (4 * 1024, 4 * 1024**3),
    "snapshot_every_events": (1_000, 1_000_000_000),
    "snapshot_every_bytes": (1024 * 1024, 1024**4),
    "snapshots_keep": (1, 1000),
}
# DriftDB's own test suite exercises rotation and automatic snapshots with a handful of events:
# it sets this variable (tests/conftest.py; its child processes inherit it) to lower every
# minimum to 1. A database directory cannot set it: it is the environment of the process.
SMALL_OPTIONS_ENV = "DRIFTDB_TEST_SMALL_OPTIONS"


def check_table_name(name: object) -> str:
    """A table name becomes a directory name, so it is restricted to [A-Za-z_][A-Za-z0-9_]*."""
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidInputError(
            f"invalid table name {short(name)}: use letters, digits and _ "
            "(not starting with a digit), at most 64 characters"
        )
    return name


def check_column(name: object, what: str = "column") -> str:
    if not isinstance(name, str) or not COLUMN.match(name) or len(name) > MAX_COLUMN_CHARS:
        raise InvalidInputError(
            f"invalid {what} {short(name)}: field names separated by dots, without control "
            f"characters, at most {MAX_COLUMN_CHARS} characters"
        )
    return name


class TableSchema(Frozen):
    """What schema.yaml says. `indexes` are dotted column paths; options override defaults."""

    __slots__ = __match_args__ = ("name", "primary_key", "indexes", "options", "index_changes")
    name: str
    primary_key: str
    indexes: tuple[str, ...]
    options: dict[str, int]
    # ALTER TABLE ... ADD/DROP INDEX, in order: {"action": "add"|"drop", "columns": [...],
    # "seq": the head when it happened}. Absent from schema.yaml while empty.
    index_changes: tuple[dict[str, Any], ...]

    def __init__(
        self,
        name: str,
        primary_key: str,
        indexes: tuple[str, ...] = (),
        options: dict[str, int] | None = None,
        index_changes: tuple[dict[str, Any], ...] = (),
    ) -> None:
        set_field(self, "name", name)
        set_field(self, "primary_key", primary_key)
        set_field(self, "indexes", indexes)
        set_field(self, "options", {} if options is None else options)
        set_field(self, "index_changes", index_changes)

    def option(self, name: str) -> int:
        return int(self.options.get(name, DEFAULT_OPTIONS[name]))

    def to_yaml(self) -> bytes:
        body = {
            "name": self.name,
            "primary_key": self.primary_key,
            "indexes": list(self.indexes),
            "options": dict(self.options),
            "format_version": 1,
        }
        if self.index_changes:
            body["index_changes"] = [dict(change) for change in self.index_changes]
        return _dump(body).encode()

    def with_index_change(self, action: str, columns: list[str], seq: int) -> TableSchema:
        """This schema after ALTER TABLE ADD/DROP INDEX (columns checked), at `seq`."""
        if action == "add":
            indexes = [*self.indexes, *columns]
        else:
            indexes = [c for c in self.indexes if c not in columns]
        change = {"action": action, "columns": list(columns), "seq": seq}
        created = TableSchema.create(self.name, self.primary_key, indexes, self.options)
        return TableSchema(
            created.name,
            created.primary_key,
            created.indexes,
            created.options,
            (*self.index_changes, change),
        )

    @staticmethod
    def create(
        name: str,
        primary_key: str,
        indexes: list[str] | tuple[str, ...] = (),
        options: dict[str, int] | None = None,
    ) -> TableSchema:
        check_table_name(name)
        check_column(primary_key, "primary key")
        if "." in primary_key:
            raise InvalidInputError(f"primary key {primary_key!r} must be a top-level field")
        seen: list[str] = []
        for col in indexes:
            check_column(col, "index column")
            if col in seen:
                raise InvalidInputError(f"index column {col!r} is listed twice")
            if len(seen) >= MAX_INDEXES:
                raise InvalidInputError(f"at most {MAX_INDEXES} index columns")
            seen.append(col)
        opts = dict(options or {})
        for key, value in opts.items():
            if key not in DEFAULT_OPTIONS:
                known = ", ".join(DEFAULT_OPTIONS)
                raise InvalidInputError(f"unknown table option {short(key)} (known: {known})")
            low, high = OPTION_RANGES[key]
            if os.environ.get(SMALL_OPTIONS_ENV) == "1":
                low = 1
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise InvalidInputError(
                    f"table option {key!r} must be an integer from {low} to {high}, "
                    f"got {short(value)}"
                )
        return TableSchema(name, primary_key, tuple(seen), opts)

    @staticmethod
    def from_yaml(text: bytes, where: str) -> TableSchema:
        """Parse schema.yaml with safe loading only. Raises InvalidInputError naming the file."""
        check_size(text, where, MAX_SCHEMA_BYTES)
        raw: Any = _load_own_format(text)
        if raw is None:
            raw = _load_yaml(text, where)
        if not isinstance(raw, dict):
            raise InvalidInputError(f"{where}: expected a mapping")
        try:
            created = TableSchema.create(
                raw["name"],
                raw["primary_key"],
                list(raw.get("indexes") or []),
                dict(raw.get("options") or {}),
            )
            changes = _index_changes(raw.get("index_changes") or [])
            if changes:
                created = TableSchema(
                    created.name, created.primary_key, created.indexes, created.options, changes
                )
            return created
        except KeyError as exc:
            raise InvalidInputError(f"{where}: missing field {short(exc.args[0])}") from None
        except (InvalidInputError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"{where}: {exc}") from None


def _index_changes(raw: Any) -> tuple[dict[str, Any], ...]:
    """The `index_changes` list of schema.yaml, checked entry by entry."""
    if not isinstance(raw, list):
        raise InvalidInputError("index_changes must be a list")
    out = []
    for item in raw:
        if (
            not isinstance(item, dict)
            or item.get("action") not in ("add", "drop")
            or not isinstance(item.get("columns"), list)
            or isinstance(item.get("seq"), bool)
            or not isinstance(item.get("seq"), int)
            or item["seq"] < 0
        ):
            raise InvalidInputError(f"bad index_changes entry {short(item)}")
        for column in item["columns"]:
            check_column(column, "index column")
        out.append({"action": item["action"], "columns": list(item["columns"]), "seq": item["seq"]})
    return tuple(out)


# schema.yaml is written in a small, fixed subset of YAML (block mappings and sequences whose
# scalars are JSON strings or integers), so that opening a table, the start of every cold
# command, can read it without importing a YAML library. Anything else (a file edited by
# hand, an older layout) is read by PyYAML's safe loader.


def _dump(body: dict[str, Any]) -> str:
    lines: list[str] = []
    for key, value in body.items():
        if isinstance(value, list):
            lines.append(f"{key}:" if value else f"{key}: []")
            lines.extend(f"- {json.dumps(item)}" for item in value)
        elif isinstance(value, dict):
            lines.append(f"{key}:" if value else f"{key}: {{}}")
            lines.extend(f"  {name}: {json.dumps(item)}" for name, item in value.items())
        else:
            lines.append(f"{key}: {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def _load_own_format(text: bytes) -> dict[str, Any] | None:
    """Parse what `_dump` writes; None for anything else (then YAML decides)."""
    try:
        lines = [line for line in text.decode().splitlines() if line.strip()]
    except UnicodeDecodeError:
        return None
    out: dict[str, Any] = {}
    i = 0
    try:
        while i < len(lines):
            line = lines[i]
            key, colon, value = line.partition(":")
            if not colon or line.startswith((" ", "-", "#")) or not key.isidentifier():
                return None
            value = value.strip()
            i += 1
            if value == "[]":
                out[key] = []
            elif value == "{}":
                out[key] = {}
            elif value:
                out[key] = json.loads(value)
            elif i < len(lines) and lines[i].startswith("- "):
                items = []
                while i < len(lines) and lines[i].startswith("- "):
                    items.append(json.loads(lines[i][2:]))
                    i += 1
                out[key] = items
            elif i < len(lines) and lines[i].startswith("  "):
                mapping: dict[str, Any] = {}
                while i < len(lines) and lines[i].startswith("  "):
                    name, sep, item = lines[i].strip().partition(": ")
                    if not sep or not name.isidentifier():
                        return None
                    mapping[name] = json.loads(item)
                    i += 1
                out[key] = mapping
            else:
                return None
    except (ValueError, RecursionError):
        return None
    return out


def _load_yaml(text: bytes, where: str) -> Any:
    return load_yaml(text, where)
