"""JSON Merge Patch (RFC 7386): nested objects merge, null removes a key, anything else replaces."""

from __future__ import annotations

from typing import Any


def merge_patch(target: Any, patch: Any) -> Any:
    """Return `target` with `patch` applied, as RFC 7386 section 2 defines; inputs are not
    modified."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result


def patch_between(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any] | None:
    """A merge patch that turns `before` into `after`, or None when none can (a merge patch
    cannot set a value to null): what doctor --repair writes for a PATCH it rebuilds from two
    row images."""
    patch: dict[str, Any] = {name: None for name in before if name not in after}
    for name, value in after.items():
        old = before.get(name, _ABSENT)
        if old == value and type(old) is type(value):
            continue
        if isinstance(value, dict) and isinstance(old, dict):
            inner = patch_between(old, value)
            if inner is None:
                return None
            patch[name] = inner
        else:
            patch[name] = value
    return patch if merge_patch(before, patch) == after else None


_ABSENT = object()
