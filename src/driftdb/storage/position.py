"""Positions in a table's log: the point an index covers, and an event with its frame's place."""

from __future__ import annotations

from dataclasses import dataclass

from driftdb.model.events import Event

NO_SEGMENT = 0  # the segment number of a synthetic (base snapshot) version: no frame


@dataclass(frozen=True, slots=True)
class Covered:
    """The log position an index covers: everything up to and including `seq`, which ends at
    (`segment`, `offset`)."""

    seq: int
    segment: int
    offset: int
    unix_ms: int
    live: int


@dataclass(frozen=True, slots=True)
class Located:
    """An event with the place its frame lies, as the index writer needs it."""

    event: Event
    segment: int
    offset: int
    end_offset: int
