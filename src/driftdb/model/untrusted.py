"""Reading the small text files of a database directory, which may be hostile: a directory
someone else made is untrusted input.

- Size is capped before parsing (`MAX_SCHEMA_BYTES`, `MAX_META_BYTES`).
- Nesting is capped before parsing (`MAX_NESTING`): a deep file is refused, never a
  RecursionError.
- YAML anchors and aliases are refused: an alias bomb of a few hundred bytes expands to
  gigabytes, and DriftDB never writes either.
- Messages show untrusted values through `short()`, never whole.
"""

from __future__ import annotations

import json
import re
from typing import Any

from driftdb.errors import InvalidInputError

MAX_SCHEMA_BYTES = 64 * 1024  # schema.yaml: a name, a key, a few indexes and options
MAX_META_BYTES = 1024 * 1024  # meta.json: counters
MAX_NESTING = 32  # neither file needs more than 3 levels
_SHORT_CHARS = 80
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def short(value: object) -> str:
    """repr() of `value`, cut to a bounded length, for messages about untrusted input."""
    text = _bounded_repr(value, _SHORT_CHARS + 1)
    return text if len(text) <= _SHORT_CHARS else text[: _SHORT_CHARS - 3] + "..."


def _bounded_repr(value: object, limit: int) -> str:
    # repr() of a big list or map is built whole before it can be cut: walk it instead.
    if isinstance(value, list | tuple | dict):
        opening, closing = ("{", "}") if isinstance(value, dict) else ("[", "]")
        parts: list[str] = []
        used = 1
        items = value.items() if isinstance(value, dict) else value
        for item in items:
            if used > limit:
                break
            if isinstance(value, dict):
                name, inner = item
                part = f"{_bounded_repr(name, limit)}: {_bounded_repr(inner, limit)}"
            else:
                part = _bounded_repr(item, limit)
            parts.append(part)
            used += len(part) + 2
        return opening + ", ".join(parts) + closing
    if isinstance(value, str | bytes) and len(value) > limit:
        value = value[:limit]
    return repr(value)


def check_size(text: bytes, where: str, max_bytes: int) -> None:
    if len(text) > max_bytes:
        raise InvalidInputError(f"{where}: larger than the {max_bytes}-byte bound for this file")


def load_json(text: bytes, where: str, max_bytes: int = MAX_META_BYTES) -> Any:
    """Parse a JSON file whose size and nesting are bounded; InvalidInputError otherwise."""
    check_size(text, where, max_bytes)
    depth = 0
    deepest = 0
    for byte in _JSON_STRING.sub(b'""', text).translate(None, b'\t\n\r :,"'):
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_NESTING:
                raise InvalidInputError(f"{where}: nested deeper than {MAX_NESTING} levels")
        elif byte in b"]}":
            depth -= 1
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidInputError(f"{where}: not valid JSON ({exc})") from None


def load_yaml(text: bytes, where: str, max_bytes: int = MAX_SCHEMA_BYTES) -> Any:
    """Parse YAML with the safe loader, after checking its size, that it holds no anchor or
    alias, and that it nests at most MAX_NESTING levels; InvalidInputError otherwise."""
    import yaml  # only for schema files DriftDB did not write itself

    check_size(text, where, max_bytes)
    try:
        depth = 0
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise InvalidInputError(
                    f"{where}: uses a YAML anchor or alias, which DriftDB does not accept"
                )
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_NESTING:
                    raise InvalidInputError(f"{where}: nested deeper than {MAX_NESTING} levels")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"{where}: not valid YAML ({short(str(exc))})") from None
