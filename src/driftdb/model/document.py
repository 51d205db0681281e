"""Checks that a document or patch holds only JSON values, with a message naming where not."""

from __future__ import annotations

import math
from typing import Any, TypeAlias

from driftdb.errors import InvalidInputError
from driftdb.model.events import Document, Key

MAX_DEPTH = 64  # the one nesting limit of JSON values: documents, patches, DriftQL parameters
MAX_INT = 2**63 - 1
MAX_KEY_BYTES = 250  # LMDB keys are at most 511 bytes: key + seq + an indexed value


JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None


def check_key(key: object, where: str) -> Key:
    """A primary key is a string or an integer (not a bool) within int64."""
    if isinstance(key, bool) or not isinstance(key, str | int):
        raise InvalidInputError(
            f"{where}: primary key must be a string or an integer, got {type(key).__name__} {key!r}"
        )
    if isinstance(key, int) and not -MAX_INT - 1 <= key <= MAX_INT:
        raise InvalidInputError(f"{where}: integer primary key {key} is outside 64 bits")
    if isinstance(key, str):
        if not key:
            raise InvalidInputError(f"{where}: primary key must not be an empty string")
        encoded = _utf8(key, where, "primary key")
        if len(encoded) + encoded.count(0) > MAX_KEY_BYTES:
            raise InvalidInputError(
                f"{where}: primary key is {len(encoded)} bytes; at most {MAX_KEY_BYTES} "
                "(it is a B+tree key in the indexes)"
            )
    return key


def key_too_long(key: object) -> bool:
    """A string key over the limit: no row can have it (inserts refuse it)."""
    if not isinstance(key, str):
        return False
    raw = key.encode(errors="surrogatepass")
    return len(raw) + raw.count(0) > MAX_KEY_BYTES


def _utf8(text: str, where: str, what: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"{where}: {what} is not valid Unicode text ({exc.reason} at character {exc.start})"
        ) from None


def check_document(doc: object, where: str) -> Document:
    """Raise InvalidInputError unless `doc` is a JSON object of JSON values."""
    if not isinstance(doc, dict):
        raise InvalidInputError(f"{where}: expected a JSON object, got {_kind(doc)}")
    _check_value(doc, where, "", 0)
    return doc


def _check_value(value: Any, where: str, path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise InvalidInputError(f"{where}: nested deeper than {MAX_DEPTH} levels at {path or '/'}")
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        _utf8(value, where, f"string at {path or '/'}")
        return
    if isinstance(value, int):
        if not -MAX_INT - 1 <= value <= 2**64 - 1:
            raise InvalidInputError(f"{where}: integer at {path or '/'} does not fit in 64 bits")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"{where}: {value} at {path or '/'} is not a JSON number")
        return
    if isinstance(value, dict):
        for name, item in value.items():
            if isinstance(name, str):
                _utf8(name, where, f"object key at {path or '/'}")
            if not isinstance(name, str):
                raise InvalidInputError(
                    f"{where}: object key {name!r} at {path or '/'} is not a string"
                )
            _check_value(item, where, f"{path}/{name}", depth + 1)
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_value(item, where, f"{path}/{i}", depth + 1)
        return
    raise InvalidInputError(
        f"{where}: value at {path or '/'} has type {type(value).__name__}, which is not JSON"
    )


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return "an array"
    return type(value).__name__


def to_json_value(value: object, where: str, depth: int = 0) -> JsonValue:
    """A deep copy of `value` as plain JSON data (tuples become lists), so that the tree never
    shares a mutable object with the caller. Raises InvalidInputError naming `where` for
    anything JSON cannot hold (a set, a NaN, a non-string object key, a cycle). The depth limit
    is the documents' (MAX_DEPTH): a value nested deeper could never be written."""
    if depth > MAX_DEPTH:
        raise InvalidInputError(f"{where} is nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"{where} holds {value}, which is not a JSON number")
        return float(value)
    if isinstance(value, dict):
        result: dict[str, JsonValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInputError(f"{where} has a non-string object key {key!r}")
            result[str(key)] = to_json_value(item, where, depth + 1)
        return result
    if isinstance(value, list | tuple):
        return [to_json_value(item, where, depth + 1) for item in value]
    raise InvalidInputError(f"{where} has type {type(value).__name__}, which is not a JSON value")
