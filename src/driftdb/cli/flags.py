"""Flag values turned into query values, without click: shared by the click commands and the
fast path of `driftdb select`."""

from __future__ import annotations

from typing import Any

from driftdb.errors import InvalidInputError


def timepoint_option(option: str, text: str | None, absent: str) -> Any:
    """The timepoint an option gives (None when the option is not given). An empty value is
    an error: read as "no timepoint" it would silently mean `absent` instead."""
    if text is None:
        return None
    if not text.strip():
        raise InvalidInputError(
            f"{option} is empty; give a timepoint: @seq:N, @now or an RFC 3339 time such as "
            f"2025-01-01T00:00:00Z (or leave {option} out {absent})"
        )
    from driftdb.query.parser import parse_timepoint

    return parse_timepoint(text)


def chosen_format(fmt: str, as_json: bool) -> str:
    return "json" if as_json else fmt
