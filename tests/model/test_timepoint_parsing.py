"""What AS OF accepts: a seq, "@seq:N", @now, an RFC 3339 time (UTC without an offset) or a
datetime; anything else is InvalidInputError naming the value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

import driftdb
from driftdb.model.timepoint import TimePoint, format_unix_ms, parse_timepoint

pytestmark = pytest.mark.usefixtures("each_timezone")  # off-UTC hosts too: see conftest

NEW_YEAR_2024_MS = 1_704_067_200_000


@pytest.mark.parametrize("value", [None, "@now", " @NOW ", TimePoint.now()])
def test_now_in_every_spelling_is_the_current_state(value: object) -> None:
    assert parse_timepoint(value).kind == "now"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "seq", "text"),
    [(0, 0, "@seq:0"), (5, 5, "@seq:5"), ("@seq:5", 5, "@seq:5"), ("@seq:007", 7, "@seq:007")],
)
def test_seq_as_int_or_seq_string(value: object, seq: int, text: str) -> None:
    assert parse_timepoint(value) == TimePoint("seq", seq=seq, text=text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "unix_ms"),
    [
        ("2024-01-01T00:00:00Z", NEW_YEAR_2024_MS),
        ("2024-01-01T00:00:00", NEW_YEAR_2024_MS),  # no offset: UTC
        ("2024-01-01 00:00:00", NEW_YEAR_2024_MS),
        ("2024-01-01", NEW_YEAR_2024_MS),
        ("2024-01-01t00:00:00z", NEW_YEAR_2024_MS),
        ("2024-01-01T01:00:00+01:00", NEW_YEAR_2024_MS),
        ("2023-12-31T19:00:00-05:00", NEW_YEAR_2024_MS),
        ("2024-01-01T00:00:00.250Z", NEW_YEAR_2024_MS + 250),
        ("2024-01-01T00:00:00.0009Z", NEW_YEAR_2024_MS),  # within the first ms: floor
        ("2024-01-01T00:00:01.999999Z", NEW_YEAR_2024_MS + 1999),
    ],
)
def test_rfc_3339_times_become_unix_ms(text: str, unix_ms: int) -> None:
    point = parse_timepoint(text)
    assert (point.kind, point.unix_ms, point.text) == ("time", unix_ms, text)


def test_naive_datetime_is_utc_and_aware_datetime_keeps_its_offset() -> None:
    naive = datetime(2024, 1, 1)
    aware = datetime(2024, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))
    assert parse_timepoint(naive).unix_ms == NEW_YEAR_2024_MS
    assert parse_timepoint(aware).unix_ms == NEW_YEAR_2024_MS


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "AS OF -1: a seq cannot be negative"),
        (True, 'AS OF True: expected a seq, "@seq:N", a time or @now'),
        ("@seq:-1", 'AS OF "@seq:-1": expected "@seq:N" with N a non-negative integer, or @now'),
        ("@seq:x", 'AS OF "@seq:x": expected "@seq:N" with N a non-negative integer, or @now'),
        (
            "@yesterday",
            'AS OF "@yesterday": expected "@seq:N" with N a non-negative integer, or @now',
        ),
        (
            "yesterday",
            'AS OF "yesterday": not a timepoint; use "@seq:N", @now or an RFC 3339 '
            'time such as "2025-01-01T00:00:00Z"',
        ),
        (
            "",
            'AS OF "": not a timepoint; use "@seq:N", @now or an RFC 3339 time such as '
            '"2025-01-01T00:00:00Z"',
        ),
        (
            "2024-01-01T00:00:00ZZ",
            'AS OF "2024-01-01T00:00:00ZZ": not a timepoint; use '
            '"@seq:N", @now or an RFC 3339 time such as "2025-01-01T00:00:00Z"',
        ),
        ("2024-13-01T00:00:00Z", 'AS OF "2024-13-01T00:00:00Z": month must be in 1..12'),
        (1.5, "AS OF 1.5: unsupported type float"),
        ([1], "AS OF [1]: unsupported type list"),
    ],
)
def test_bad_timepoints_are_invalid_input_naming_the_value(value: object, message: str) -> None:
    with pytest.raises(driftdb.InvalidInputError) as info:
        parse_timepoint(value)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_a_time_with_whole_milliseconds_is_exact() -> None:
    assert parse_timepoint("2004-03-15T07:55:47.472Z").unix_ms == 1_079_337_347_472
    moment = datetime(2004, 3, 15, 7, 55, 47, 472_000, tzinfo=UTC)
    assert parse_timepoint(moment).unix_ms == 1_079_337_347_472


def test_every_whole_millisecond_of_a_second_round_trips() -> None:
    second = datetime(2004, 3, 15, 7, 55, 47, tzinfo=UTC)
    wrong = [
        ms
        for ms in range(1000)
        if parse_timepoint(second + timedelta(milliseconds=ms)).unix_ms != 1_079_337_347_000 + ms
    ]
    assert wrong == []
    assert parse_timepoint(format_unix_ms(1_079_337_347_472)).unix_ms == 1_079_337_347_472


def test_format_unix_ms_is_rfc_3339_utc_with_milliseconds() -> None:
    assert format_unix_ms(NEW_YEAR_2024_MS + 5) == "2024-01-01T00:00:00.005Z"
