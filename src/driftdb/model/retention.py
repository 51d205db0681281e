"""The retention horizon: the point before which a table's history was discarded on purpose.

`Table.compact(before=...)` folds every event with seq <= H into a base snapshot at H (the
horizon) and drops those frames from the log. From then on:

- `AS OF @seq:S` with S >= H, and `AS OF <time T>` with T >= the horizon's time, answer exactly
  as before the compaction;
- earlier points raise `HistoryUnavailableError`, never a silently different answer.

The horizon is recorded durably in the base snapshot's checksummed header
(`storage/snapshot.py`); the key directory keeps a copy (`meta` entry "horizon") so that a
reader sees the horizon and the entries it implies in one consistent read.
"""

from __future__ import annotations

from driftdb.errors import HistoryUnavailableError
from driftdb.model.frozen import Frozen, set_field
from driftdb.model.timepoint import TimePoint, format_unix_ms


class Horizon(Frozen):
    """`seq`: the base snapshot's seq (state after every event with seq <= seq is kept).
    `unix_ms`: the earliest time an `AS OF <time>` may name (the requested time for a
    time-based horizon, else the time of the newest folded event; 0 if none).
    `base_unix_ms`: the timestamp of the newest event folded into the base (0 if none)."""

    __slots__ = __match_args__ = ("seq", "unix_ms", "base_unix_ms")
    seq: int
    unix_ms: int
    base_unix_ms: int

    def __init__(self, seq: int, unix_ms: int, base_unix_ms: int) -> None:
        set_field(self, "seq", seq)
        set_field(self, "unix_ms", unix_ms)
        set_field(self, "base_unix_ms", base_unix_ms)

    def to_wire(self) -> dict[str, int]:
        return {"seq": self.seq, "unix_ms": self.unix_ms, "base_unix_ms": self.base_unix_ms}

    @staticmethod
    def from_wire(raw: object) -> Horizon | None:
        if not isinstance(raw, dict):
            return None
        return Horizon(int(raw["seq"]), int(raw["unix_ms"]), int(raw["base_unix_ms"]))

    def describe(self) -> str:
        """`@seq:500 (2026-11-26T01:02:03.000Z)`, as error messages and DESCRIBE show it."""
        return f"@seq:{self.seq} ({format_unix_ms(self.unix_ms)})"


def check_point(table: str, horizon: Horizon | None, point: TimePoint) -> None:
    """Raise HistoryUnavailableError when `point` lies before the table's horizon.

    Message format (stable, tested):
    `table "orders" keeps history from @seq:500 (2026-11-26T01:02:03.000Z); AS OF @seq:10 is
    before that horizon`
    """
    if horizon is None or point.kind == "now":
        return
    if point.kind == "seq":
        assert point.seq is not None
        before = point.seq < horizon.seq
    else:
        assert point.unix_ms is not None
        before = point.unix_ms < horizon.unix_ms
    if before:
        raise HistoryUnavailableError(
            f'table "{table}" keeps history from {horizon.describe()}; '
            f"AS OF {point.text} is before that horizon"
        )
