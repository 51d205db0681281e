"""Timepoints: what `AS OF` accepts (a seq, "@seq:N", an RFC 3339 time, a datetime, or now).

The one time-point type (`TimePoint`, also the DriftQL tree's `AsOf`) and the one reading of
its text (`read_timepoint`: the `@` forms; DriftQL's parser and `parse_timepoint` both use it).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from driftdb.errors import InvalidInputError

_set = object.__setattr__
# Patterns, not compiled regexes: re.match compiles them on first use (and caches them), so a
# command that never parses a timepoint string does not pay ~0.5 ms at import to compile them.
_RFC3339 = r"\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?)?\Z"


class TimePoint:
    """An AS OF point: by seq, by time (unix ms), or the current state. A time read from
    DriftQL is kept as its text (`unix_ms` None) until `parse_timepoint` resolves it, so that
    a bad time fails the statement that uses it, not the parse of the whole script.

    Immutable and compared by value, like a frozen dataclass, but written out: a dataclass
    compiles its methods with `exec` at import time, a cost every cold command paid.
    """

    __slots__ = __match_args__ = ("kind", "seq", "unix_ms", "text")
    kind: Literal["seq", "time", "now"]
    seq: int | None
    unix_ms: int | None
    text: str

    def __init__(
        self,
        kind: Literal["seq", "time", "now"],
        seq: int | None = None,
        unix_ms: int | None = None,
        text: str | None = None,
    ) -> None:
        if text is None:
            text = f"@seq:{seq}" if kind == "seq" else "@now" if kind == "now" else ""
        _set(self, "kind", kind)
        _set(self, "seq", seq)
        _set(self, "unix_ms", unix_ms)
        _set(self, "text", text)

    @staticmethod
    def now() -> TimePoint:
        return TimePoint("now")

    def _values(self) -> tuple[str, int | None, int | None, str]:
        return (self.kind, self.seq, self.unix_ms, self.text)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, TimePoint)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return (
            f"TimePoint(kind={self.kind!r}, seq={self.seq!r}, unix_ms={self.unix_ms!r}, "
            f"text={self.text!r})"
        )

    def __reduce__(self) -> tuple[type[TimePoint], tuple[str, int | None, int | None, str]]:
        return TimePoint, self._values()

    def __setattr__(self, name: str, value: object) -> None:
        raise _frozen(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise _frozen(f"cannot delete field {name!r}")


def _frozen(message: str) -> AttributeError:
    from dataclasses import FrozenInstanceError

    return FrozenInstanceError(message)


AsOf = int | str | datetime | date | TimePoint | None


class TimepointSyntaxError(ValueError):
    """A timepoint string that is no timepoint: `message` and a `hint` for the fix."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


# A seq is a u64; anything far longer is refused before int() (Python caps int() of text at
# 4,300 digits, and the error would be an internal one).
MAX_SEQ_DIGITS = 1_000


def read_timepoint(text: str) -> TimePoint:
    """`@seq:N` (N of ASCII digits), `@now` (any case), or else a time, kept as its text and
    resolved later by `parse_timepoint`. Raises TimepointSyntaxError for any other `@` form
    and for an empty string."""
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered == "@now":
        return TimePoint.now()
    if lowered.startswith("@seq:"):
        digits = stripped[5:]
        if len(digits) > MAX_SEQ_DIGITS:
            raise TimepointSyntaxError(f"@seq:N has more than {MAX_SEQ_DIGITS} digits")
        if digits and all("0" <= c <= "9" for c in digits):
            return TimePoint("seq", seq=int(digits))
        raise TimepointSyntaxError(
            "Expect non-negative integer after @seq:", hint="write @seq:N, for example @seq:42"
        )
    if stripped.startswith("@"):
        raise TimepointSyntaxError(
            f"Unknown timepoint '{stripped}'",
            hint="use @seq:N, @now or a quoted RFC 3339 time",
        )
    if not stripped:
        raise TimepointSyntaxError(
            "Expect timepoint, got an empty string",
            hint='use "@seq:N", "@now" or an RFC 3339 time',
        )
    return TimePoint("time", text=stripped)


def parse_timepoint(value: AsOf) -> TimePoint:
    """Accept an int seq, "@seq:N", "@now", an RFC 3339 string, a datetime or a date.

    A time without an offset is UTC; a `datetime.date` means midnight UTC at its start.
    Raises InvalidInputError naming the value otherwise.
    """
    if type(value) is int and value >= 0:  # the common case first: a plain seq
        return TimePoint("seq", seq=value, text=f"@seq:{value}")
    if value is None:
        return TimePoint.now()
    if isinstance(value, TimePoint):
        if value.kind == "time" and value.unix_ms is None:
            return parse_timepoint(value.text)  # a time read from DriftQL, resolved here
        return value
    if isinstance(value, bool):
        raise InvalidInputError(f'AS OF {value!r}: expected a seq, "@seq:N", a time or @now')
    if isinstance(value, int):
        if value < 0:
            raise InvalidInputError(f"AS OF {value}: a seq cannot be negative")
        return TimePoint("seq", seq=value, text=f"@seq:{value}")
    if isinstance(value, datetime):
        return _from_datetime(value, value.isoformat())
    if isinstance(value, date):  # a day means its first instant: midnight UTC
        return _from_datetime(datetime.combine(value, time(), UTC), value.isoformat())
    if isinstance(value, str):
        return _from_text(value)
    raise InvalidInputError(f"AS OF {value!r}: unsupported type {type(value).__name__}")


def _from_text(value: str) -> TimePoint:
    """A timepoint string: the `@` forms as `read_timepoint` reads them, or an RFC 3339 time
    (a seq keeps its text as written, e.g. "@seq:007")."""
    text = value.strip()
    try:
        point: TimePoint | None = read_timepoint(text)
    except TimepointSyntaxError:
        point = None
    if point is not None and point.kind == "now":
        return point
    if point is not None and point.kind == "seq":
        return TimePoint("seq", seq=point.seq, text=text)
    if text.startswith("@"):
        raise InvalidInputError(
            f'AS OF "{value}": expected "@seq:N" with N a non-negative integer, or @now'
        )
    if re.match(_RFC3339, text):
        try:
            parsed = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError as exc:
            raise InvalidInputError(f'AS OF "{value}": {exc}') from None
        return _from_datetime(parsed, text)
    raise InvalidInputError(
        f'AS OF "{value}": not a timepoint; use "@seq:N", @now or an RFC 3339 time '
        'such as "2025-01-01T00:00:00Z"'
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _from_datetime(moment: datetime, text: str) -> TimePoint:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # Exact integer arithmetic: a float timestamp times 1000 is off by one ms for about a
    # quarter of all millisecond values.
    unix_ms = (moment - _EPOCH) // timedelta(milliseconds=1)
    return TimePoint("time", unix_ms=unix_ms, text=text)


def format_unix_ms(unix_ms: int) -> str:
    """RFC 3339 UTC with milliseconds, as the CLI prints times."""
    moment = datetime.fromtimestamp(unix_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{unix_ms % 1000:03d}Z"
