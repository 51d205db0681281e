"""Positions in a table's log: the point an index covers, and an event with its frame's place."""

from __future__ import annotations

from driftdb.model.events import Event
from driftdb.model.frozen import Frozen, set_field

NO_SEGMENT = 0  # the segment number of a synthetic (base snapshot) version: no frame


class Covered(Frozen):
    """The log position an index covers: everything up to and including `seq`, which ends at
    (`segment`, `offset`)."""

    __slots__ = __match_args__ = ("seq", "segment", "offset", "unix_ms", "live")
    seq: int
    segment: int
    offset: int
    unix_ms: int
    live: int

    def __init__(self, seq: int, segment: int, offset: int, unix_ms: int, live: int) -> None:
        set_field(self, "seq", seq)
        set_field(self, "segment", segment)
        set_field(self, "offset", offset)
        set_field(self, "unix_ms", unix_ms)
        set_field(self, "live", live)


class Located(Frozen):
    """An event with the place its frame lies, as the index writer needs it."""

    __slots__ = __match_args__ = ("event", "segment", "offset", "end_offset")
    event: Event
    segment: int
    offset: int
    end_offset: int

    def __init__(self, event: Event, segment: int, offset: int, end_offset: int) -> None:
        set_field(self, "event", event)
        set_field(self, "segment", segment)
        set_field(self, "offset", offset)
        set_field(self, "end_offset", end_offset)
