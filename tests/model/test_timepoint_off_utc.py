"""Time points on a host that is not in UTC: a time without an offset is UTC, never local time.

The process's zone is set with TZ and time.tzset() by the `each_timezone` fixture, so a slip
that reads a naive datetime (or an RFC 3339 text without an offset) as local time shifts every
answer by the zone's offset and fails here, though it passes on a UTC machine.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import driftdb
from driftdb.model.clock import Clock
from driftdb.model.timepoint import parse_timepoint

pytestmark = pytest.mark.usefixtures("each_timezone")

MOMENTS = [
    datetime(2024, 1, 1, 0, 0, 0),
    datetime(2024, 7, 1, 12, 30, 15, 250_000),  # New York in daylight saving time
    datetime(1969, 12, 31, 23, 59, 59),
    datetime(2038, 1, 19, 3, 14, 8),
]


def test_the_fixture_really_moves_the_host_off_utc(each_timezone: str) -> None:
    offset_s = -time.timezone
    assert (offset_s == 0) == (each_timezone == "UTC")


@pytest.mark.parametrize("moment", MOMENTS, ids=str)
def test_a_naive_datetime_is_utc(moment: datetime) -> None:
    aware = parse_timepoint(moment.replace(tzinfo=UTC))
    assert parse_timepoint(moment).unix_ms == aware.unix_ms


@pytest.mark.parametrize("moment", MOMENTS, ids=str)
def test_a_time_without_an_offset_is_utc(moment: datetime) -> None:
    text = moment.isoformat()
    assert parse_timepoint(text).unix_ms == parse_timepoint(text + "+00:00").unix_ms
    assert parse_timepoint(text).unix_ms == parse_timepoint(moment.replace(tzinfo=UTC)).unix_ms


BASE = datetime(2024, 7, 1, 12, 0, 0)
BASE_MS = int(BASE.replace(tzinfo=UTC).timestamp() * 1000)


@pytest.fixture
def hourly(db_path: Path) -> Iterator[driftdb.Database]:
    """Seq n written at BASE + n hours (UTC)."""
    with driftdb.open(db_path, create=True) as db:
        clock_ms = [BASE_MS]
        db.clock = Clock(source=lambda: clock_ms[0])
        table = db.create_table("t")
        for n in range(1, 7):
            clock_ms[0] = BASE_MS + n * 3_600_000
            table.insert({"id": n})
        yield db


@pytest.mark.parametrize("hours", range(7))
def test_as_of_a_naive_datetime_or_offsetless_text_reads_utc(
    hourly: driftdb.Database, hours: int
) -> None:
    table = hourly.table("t")
    moment = BASE.replace(hour=BASE.hour + hours, minute=30)
    want = list(range(1, hours + 1))
    for as_of in (moment, moment.isoformat(), moment.replace(tzinfo=UTC)):
        assert sorted(r["id"] for r in table.select(as_of=as_of)) == want, as_of
        assert table.count(as_of=as_of) == hours, as_of
