"""Checks that a document or patch holds only JSON values, with a message naming where not."""

from __future__ import annotations

import json
import math
from typing import Any, TypeAlias

from driftdb.errors import InvalidInputError

MAX_DEPTH = 64  # the one nesting limit of JSON values: documents, patches, DriftQL parameters
MAX_INT = 2**63 - 1
MAX_KEY_BYTES = 250  # LMDB keys are at most 511 bytes: key + seq + an indexed value


Key = str | int  # a primary key value
Document = dict[str, Any]  # a row: a JSON object
JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None


def check_key(key: object, where: str) -> Key:
    """A primary key is a string or an integer (not a bool) within int64."""
    if isinstance(key, bool) or not isinstance(key, str | int):
        raise InvalidInputError(
            f"{where}: primary key must be a string or an integer, got {shown_json(key)}"
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
    """Raise InvalidInputError unless `doc` is a JSON object of JSON values that can be
    stored (integers within 64 bits, text that is valid Unicode)."""
    if not isinstance(doc, dict):
        raise InvalidInputError(f"{where}: expected a JSON object, got {_kind(doc)}")
    try:
        _walk(doc, "", 0, copy=False, storable=True)
    except _NotJson as problem:
        raise InvalidInputError(f"{where}: {problem.in_document()}") from None
    return doc


def check_json(value: object, where: str) -> None:
    """Raise InvalidInputError unless `value` is a JSON value that can be stored (nesting and
    sizes bounded as in documents): an event's audit map or purge entry read from a frame."""
    try:
        _walk(value, "", 0, copy=False, storable=True)
    except _NotJson as problem:
        raise InvalidInputError(f"{where}: {problem.in_document()}") from None


def to_json_value(value: object, where: str) -> JsonValue:
    """A deep copy of `value` as plain JSON data (tuples become lists), so that the tree never
    shares a mutable object with the caller (DriftQL parameters). Raises InvalidInputError
    naming `where` for anything JSON cannot hold (a set, a NaN, a non-string object key, a
    cycle: the depth limit is the documents', MAX_DEPTH)."""
    try:
        converted: JsonValue = _walk(value, "", 0, copy=True, storable=False)
    except _NotJson as problem:
        raise InvalidInputError(f"{where} {problem.in_parameter()}") from None
    return converted


class _NotJson(Exception):
    """Why a value is not JSON (`kind`), where in it (`path`, a JSON pointer), with `detail`;
    each caller words it for its own message."""

    def __init__(self, kind: str, path: str, detail: Any = None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.at = path or "/"
        self.detail = detail

    def in_document(self) -> str:
        if self.kind == "depth":
            return f"nested deeper than {MAX_DEPTH} levels at {self.at}"
        if self.kind == "unicode":
            what, exc = self.detail
            return (
                f"{what} at {self.at} is not valid Unicode text "
                f"({exc.reason} at character {exc.start})"
            )
        if self.kind == "int":
            return f"integer at {self.at} does not fit in 64 bits"
        if self.kind == "number":
            return f"{self.detail} at {self.at} is not a JSON number"
        if self.kind == "key":
            return f"object key {self.detail!r} at {self.at} is not a string"
        return f"value at {self.at} has type {self.detail}, which is not JSON"

    def in_parameter(self) -> str:
        if self.kind == "unicode":
            what, exc = self.detail
            return f"holds a {what} that is not valid Unicode text ({exc.reason} at {self.at})"
        if self.kind == "depth":
            return f"is nested deeper than {MAX_DEPTH} levels"
        if self.kind == "number":
            return f"holds {self.detail}, which is not a JSON number"
        if self.kind == "key":
            return f"has a non-string object key {self.detail!r}"
        return f"has type {self.detail}, which is not a JSON value"


def _walk(value: Any, path: str, depth: int, copy: bool, storable: bool) -> Any:
    """The one check of JSON values: documents (`storable`: also 64-bit integers and valid
    Unicode text) and DriftQL parameters (`copy`: returns a plain deep copy)."""
    if depth > MAX_DEPTH:
        raise _NotJson("depth", path)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        _unicode(value, path, "string")  # never stored, never matched: bad input either way
        return str(value) if copy else value
    if isinstance(value, int):
        if storable and not -MAX_INT - 1 <= value <= 2**64 - 1:
            raise _NotJson("int", path)
        return int(value) if copy else value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _NotJson("number", path, value)
        return float(value) if copy else value
    if isinstance(value, dict):
        return _walk_object(value, path, depth, copy, storable)
    if isinstance(value, list | tuple):
        if copy:
            return [
                _walk(item, f"{path}/{n}", depth + 1, True, storable)
                for n, item in enumerate(value)
            ]
        for n, item in enumerate(value):
            _walk(item, f"{path}/{n}", depth + 1, False, storable)
        return value
    raise _NotJson("type", path, type(value).__name__)


def _walk_object(
    value: dict[Any, Any], path: str, depth: int, copy: bool, storable: bool
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    scalars_ok = depth < MAX_DEPTH  # a scalar field sits at depth + 1
    isfinite = math.isfinite
    for name, item in value.items():
        kind = type(item)
        # A plain scalar that `_walk` would pass as it is (ASCII text, a 64-bit integer, a
        # finite number, a boolean or null): the common field, checked without a call or a
        # path (anything else, or anything wrong, takes `_walk`, which names it).
        if (
            scalars_ok
            and type(name) is str
            and name.isascii()
            and (
                item.isascii()
                if kind is str
                else -MAX_INT - 1 <= item <= 2**64 - 1
                if kind is int
                else isfinite(item)
                if kind is float
                else item is None or kind is bool
            )
        ):
            if copy:
                result[name] = item
            continue
        if storable and isinstance(name, str):
            _unicode(name, path, "object key")
        if not isinstance(name, str):
            raise _NotJson("key", path, name)
        converted = _walk(item, f"{path}/{name}", depth + 1, copy, storable)
        if copy:
            result[str(name)] = converted
    return result if copy else value


def _unicode(text: str, path: str, what: str) -> None:
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        raise _NotJson("unicode", path, (what, exc)) from None


def _kind(value: object) -> str:
    if isinstance(value, list | tuple):
        return "an array"
    return json_type_name(value)


def json_type_name(value: object) -> str:
    """How messages name a value's type: JSON's names (null, boolean, number, string, array,
    object), never Python's (NoneType, dict); Python's name only for what JSON cannot hold."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def shown_json(value: object, limit: int = 40) -> str:
    """A value for a message: its JSON type and its JSON text (cut at `limit` characters)."""
    if value is None:
        return "null"
    try:
        text = json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{json_type_name(value)} {text}"
