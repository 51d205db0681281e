"""Comparing two rows field by field: leaf paths, the paths that differ, and the merge patch
(RFC 7386) that turns one row into the other. Used by DIFF, SHOW BLAME and RESTORE.

Values are compared as stored JSON: `1`, `1.0` and `true` are three different values (unlike
Python's `==`), and object key order does not matter.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from driftdb.model.events import Document
from driftdb.model.merge_patch import merge_patch


def same_value(a: Any, b: Any) -> bool:
    """Equal as JSON values of the same type (bool, int and float are told apart)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def leaf_items(
    doc: Document, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, value) of every leaf of `doc`, in document order. A leaf is a value that is not
    an object, or an empty object; a list is one leaf."""
    for name, value in doc.items():
        path = (*prefix, name)
        if isinstance(value, dict) and value:
            yield from leaf_items(value, path)
        else:
            yield path, value


def leaves(doc: Document) -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every leaf of `doc`, in document order."""
    for path, value in leaf_items(doc):
        yield ".".join(path), value


def value_at(doc: Document, path: tuple[str, ...]) -> tuple[bool, Any]:
    """(True, value) when every step of `path` exists in `doc`, else (False, None)."""
    value: Any = doc
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def changed_paths(before: Document | None, after: Document | None) -> list[str]:
    """The dotted leaf paths whose value differs between two rows (None: no row), sorted."""
    old = dict(leaves(before)) if before is not None else {}
    new = dict(leaves(after)) if after is not None else {}
    out = {p for p in old.keys() | new.keys() if p not in old or p not in new}
    out |= {p for p in old.keys() & new.keys() if not same_value(old[p], new[p])}
    return sorted(out)


def patch_between(current: Document, target: Document) -> Document:
    """The merge patch that makes `current` into `target` when merged (RFC 7386), as far as a
    merge patch can: a null inside `target` cannot be written by one (null removes)."""
    patch: Document = {}
    for name in current:
        if name not in target:
            patch[name] = None
    for name, value in target.items():
        if name not in current:
            patch[name] = value
            continue
        old = current[name]
        if isinstance(old, dict) and isinstance(value, dict):
            inner = patch_between(old, value)
            if inner:
                patch[name] = inner
        elif not same_value(old, value):
            patch[name] = value
    return patch


def patch_reaches(current: Document, patch: Document, target: Document) -> bool:
    """Whether merging `patch` into `current` gives exactly `target`."""
    return same_value(merge_patch(current, patch), target)
