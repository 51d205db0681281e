"""Timepoints: what `AS OF` accepts (a seq, "@seq:N", an RFC 3339 time, a datetime, or now)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from driftdb.errors import InvalidInputError

_SEQ = re.compile(r"@seq:(\d+)\Z")
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?)?\Z"
)


@dataclass(frozen=True, slots=True)
class TimePoint:
    """A resolved AS OF point: by seq, by time (unix ms), or the current state."""

    kind: Literal["seq", "time", "now"]
    seq: int | None = None
    unix_ms: int | None = None
    text: str = "@now"

    @staticmethod
    def now() -> TimePoint:
        return TimePoint("now")


AsOf = int | str | datetime | TimePoint | None


def parse_timepoint(value: AsOf) -> TimePoint:
    """Accept an int seq, "@seq:N", "@now", an RFC 3339 string or a datetime.

    A time without an offset is UTC. Raises InvalidInputError naming the value otherwise.
    """
    if value is None:
        return TimePoint.now()
    if isinstance(value, TimePoint):
        return value
    if isinstance(value, bool):
        raise InvalidInputError(f'AS OF {value!r}: expected a seq, "@seq:N", a time or @now')
    if isinstance(value, int):
        if value < 0:
            raise InvalidInputError(f"AS OF {value}: a seq cannot be negative")
        return TimePoint("seq", seq=value, text=f"@seq:{value}")
    if isinstance(value, datetime):
        return _from_datetime(value, value.isoformat())
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == "@now":
            return TimePoint.now()
        match = _SEQ.match(text)
        if match:
            return TimePoint("seq", seq=int(match.group(1)), text=text)
        if text.startswith("@"):
            raise InvalidInputError(
                f'AS OF "{value}": expected "@seq:N" with N a non-negative integer, or @now'
            )
        if _RFC3339.match(text):
            try:
                parsed = datetime.fromisoformat(text.replace("z", "Z"))
            except ValueError as exc:
                raise InvalidInputError(f'AS OF "{value}": {exc}') from None
            return _from_datetime(parsed, text)
        raise InvalidInputError(
            f'AS OF "{value}": not a timepoint; use "@seq:N", @now or an RFC 3339 time '
            'such as "2025-01-01T00:00:00Z"'
        )
    raise InvalidInputError(f"AS OF {value!r}: unsupported type {type(value).__name__}")


def _from_datetime(moment: datetime, text: str) -> TimePoint:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    unix_ms = (
        int(moment.timestamp() * 1000)
        if moment.microsecond % 1000 == 0
        else (int(moment.timestamp() * 1_000_000) // 1000)
    )
    return TimePoint("time", unix_ms=unix_ms, text=text)


def format_unix_ms(unix_ms: int) -> str:
    """RFC 3339 UTC with milliseconds, as the CLI prints times."""
    moment = datetime.fromtimestamp(unix_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{unix_ms % 1000:03d}Z"
