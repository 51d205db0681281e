"""AS OF at its boundaries, by seq and by time, and the history (drift) of a key."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import driftdb
from driftdb import DriftEntry, EventType
from driftdb.model.clock import Clock
from helpers.checks import no_drift_warnings

pytestmark = pytest.mark.usefixtures("each_timezone")  # off-UTC hosts too: see conftest

BASE_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z


class FakeClock:
    """The wall clock the database reads; tests set `unix_ms` before each write."""

    def __init__(self, unix_ms: int) -> None:
        self.unix_ms = unix_ms

    def __call__(self) -> int:
        return self.unix_ms


A1 = {"id": 1, "v": "a1"}
A1B = {"id": 1, "v": "a1b"}
A2 = {"id": 2, "v": "x"}
B1 = {"id": "1"}
B1W = {"id": "1", "w": 1}

# State of tables a and b after each seq (the events are written by the `timeline` fixture).
A_AT = [{}, {1: A1}, {1: A1, 2: A2}, {1: A1B, 2: A2}, {1: A1B, 2: A2}, {1: A1B}, {1: A1B}]
B_AT: list[dict[Any, Any]] = [{}, {}, {}, {}, {"1": B1}, {"1": B1}, {"1": B1W}]


@pytest.fixture
def timeline(db_path: Path) -> Iterator[driftdb.Database]:
    """Six events in two tables, with a clock that repeats a millisecond and steps back."""
    with driftdb.open(db_path, create=True) as db:
        clock = FakeClock(BASE_MS)
        db.clock = Clock(source=clock)
        a = db.create_table("a", indexes=["v"])
        b = db.create_table("b")
        assert a.insert(A1) == 1  # BASE
        assert a.insert(A2, meta={"by": "ann"}) == 2  # BASE again
        clock.unix_ms = BASE_MS + 1000
        assert a.patch(1, {"v": "a1b"}) == 3  # BASE+1000
        clock.unix_ms = BASE_MS + 500  # the wall clock steps back: clamped to BASE+1000
        assert b.insert(B1) == 4
        clock.unix_ms = BASE_MS + 2000
        assert a.soft_delete(2, meta={"by": "bob"}) == 5
        clock.unix_ms = BASE_MS + 3000
        assert b.patch("1", {"w": 1}) == 6
        yield db


def rows(table: driftdb.Table, as_of: object) -> dict[Any, Any]:
    found = {r[table.primary_key]: r for r in table.select(as_of=as_of)}  # type: ignore[arg-type]
    assert table.count(as_of=as_of) == len(found)  # type: ignore[arg-type]
    return found


def check_state(db: driftdb.Database, as_of: object, seq: int) -> None:
    a, b = db.table("a"), db.table("b")
    assert rows(a, as_of) == A_AT[seq], (as_of, seq)
    assert rows(b, as_of) == B_AT[seq], (as_of, seq)
    for key in (1, 2):
        assert a.get(key, as_of=as_of) == A_AT[seq].get(key)  # type: ignore[arg-type]
    assert b.get("1", as_of=as_of) == B_AT[seq].get("1")  # type: ignore[arg-type]
    assert b.get(1, as_of=as_of) is None  # type: ignore[arg-type]
    assert [r["id"] for r in a.select(where={"v": "x"}, as_of=as_of)] == (  # type: ignore[arg-type]
        [2] if 2 in A_AT[seq] else []
    )


# -- by seq ------------------------------------------------------------------------------------


@pytest.mark.parametrize("seq", range(7))
def test_as_of_each_seq_gives_the_state_after_it(timeline: driftdb.Database, seq: int) -> None:
    with no_drift_warnings():
        check_state(timeline, seq, seq)
        check_state(timeline, f"@seq:{seq}", seq)


def test_as_of_the_seq_before_a_tables_first_event_is_empty(timeline: driftdb.Database) -> None:
    b = timeline.table("b")
    assert b.head() == 6
    assert list(b.select(as_of=3)) == []
    assert b.count(as_of=3) == 0
    assert b.get("1", as_of=3) is None
    assert b.get("1", as_of=4) == B1


@pytest.mark.parametrize("as_of", [7, "@seq:7", 10**12, "@seq:99999999999999999999"])
def test_as_of_beyond_the_head_is_the_current_state_with_a_warning_naming_the_head(
    timeline: driftdb.Database, as_of: object
) -> None:
    text = as_of if isinstance(as_of, str) else f"@seq:{as_of}"
    with pytest.warns(driftdb.DriftWarning) as record:
        check_state(timeline, as_of, 6)
    assert {str(w.message) for w in record} == {
        f"AS OF {text} is beyond the head (@seq:6); showing the current state"
    }


def test_as_of_a_seq_on_a_new_database_warns_that_the_head_is_0(db: driftdb.Database) -> None:
    table = db.create_table("orders")
    with pytest.warns(driftdb.DriftWarning) as record:
        assert list(table.select(as_of="@seq:1")) == []
    assert [str(w.message) for w in record] == [
        "AS OF @seq:1 is beyond the head (@seq:0); showing the current state"
    ]
    with no_drift_warnings():
        assert list(table.select(as_of=0)) == []


@pytest.mark.parametrize("as_of", [None, "@now", "@NOW"])
def test_now_is_the_current_state_without_a_warning(
    timeline: driftdb.Database, as_of: object
) -> None:
    with no_drift_warnings():
        check_state(timeline, as_of, 6)


# -- by time -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "seq"),
    [
        ("2023-12-31T23:59:59.999Z", 0),  # before the first event
        ("2024-01-01T00:00:00Z", 2),  # exactly at the first events' ms: both included
        ("2024-01-01T00:00:00.999Z", 2),
        ("2024-01-01T00:00:01Z", 4),  # seq 4 was clamped to this ms
        ("2024-01-01T00:00:01", 4),  # no offset: UTC
        ("2024-01-01 00:00:01", 4),
        ("2024-01-01T01:00:01+01:00", 4),
        ("2023-12-31T19:00:02-05:00", 5),
        ("2024-01-01T00:00:02.999Z", 5),
        ("2024-01-01T00:00:03Z", 6),
        ("2999-01-01T00:00:00Z", 6),  # the future: the current state, no warning
        ("2024-01-01", 2),
        (datetime(2024, 1, 1, 0, 0, 1), 4),  # naive datetime: UTC
        (datetime(2024, 1, 1, 2, 0, 2, tzinfo=timezone(timedelta(hours=2))), 5),
        (datetime(2024, 1, 1, 0, 0, 0, 999_999, tzinfo=UTC), 2),
    ],
)
def test_as_of_a_time_gives_the_state_after_every_event_at_or_before_it(
    timeline: driftdb.Database, as_of: object, seq: int
) -> None:
    with no_drift_warnings():
        check_state(timeline, as_of, seq)


def test_as_of_a_time_before_a_tables_first_event_is_empty(timeline: driftdb.Database) -> None:
    b = timeline.table("b")
    assert list(b.select(as_of="2024-01-01T00:00:00.999Z")) == []
    assert b.get("1", as_of="2024-01-01T00:00:00.999Z") is None
    assert b.get("1", as_of="2024-01-01T00:00:01Z") == B1


@pytest.mark.parametrize("as_of", ["1969-12-31T23:59:59Z", datetime(1960, 1, 1)])
def test_as_of_a_time_before_1970_is_empty(timeline: driftdb.Database, as_of: object) -> None:
    check_state(timeline, as_of, 0)


@pytest.mark.parametrize(
    ("as_of", "message"),
    [
        (
            "yesterday",
            'AS OF "yesterday": not a timepoint; use "@seq:N", @now or an RFC 3339 '
            'time such as "2025-01-01T00:00:00Z"',
        ),
        ("@seq:-3", 'AS OF "@seq:-3": expected "@seq:N" with N a non-negative integer, or @now'),
        ("2024-02-30T00:00:00Z", 'AS OF "2024-02-30T00:00:00Z": day is out of range for month'),
        (-1, "AS OF -1: a seq cannot be negative"),
        (2.5, "AS OF 2.5: unsupported type float"),
    ],
)
def test_bad_as_of_is_invalid_input_for_every_read(
    timeline: driftdb.Database, as_of: object, message: str
) -> None:
    a = timeline.table("a")
    for read in (
        lambda: a.get(1, as_of=as_of),  # type: ignore[arg-type]
        lambda: list(a.select(as_of=as_of)),  # type: ignore[arg-type]
        lambda: a.count(as_of=as_of),  # type: ignore[arg-type]
    ):
        with pytest.raises(driftdb.InvalidInputError) as info:
            read()
        assert str(info.value) == message


# -- the clock and history ---------------------------------------------------------------------


def test_history_gives_every_event_of_a_key_with_the_row_after_it(
    timeline: driftdb.Database,
) -> None:
    a, b = timeline.table("a"), timeline.table("b")
    assert a.history(1) == [
        DriftEntry(1, BASE_MS, EventType.INSERT, A1, None, A1),
        DriftEntry(3, BASE_MS + 1000, EventType.PATCH, {"v": "a1b"}, None, A1B),
    ]
    assert a.history(2) == [
        DriftEntry(2, BASE_MS, EventType.INSERT, A2, {"by": "ann"}, A2),
        DriftEntry(5, BASE_MS + 2000, EventType.SOFT_DELETE, None, {"by": "bob"}, None),
    ]
    assert b.history("1") == [
        DriftEntry(4, BASE_MS + 1000, EventType.INSERT, B1, None, B1),  # clamped, not +500
        DriftEntry(6, BASE_MS + 3000, EventType.PATCH, {"w": 1}, None, B1W),
    ]
    assert b.history(1) == []
    assert a.history(99) == []


def test_reopened_and_readonly_databases_give_the_same_answers(
    timeline: driftdb.Database, db_path: Path
) -> None:
    with driftdb.open(db_path, readonly=True) as reader:
        for seq in range(7):
            check_state(reader, seq, seq)
        check_state(reader, "2024-01-01T00:00:01Z", 4)
        with pytest.warns(driftdb.DriftWarning, match=r"beyond the head \(@seq:6\)"):
            check_state(reader, 8, 6)
        assert reader.table("a").history(2) == timeline.table("a").history(2)
    timeline.close()
    with driftdb.open(db_path) as again:
        for seq in range(7):
            check_state(again, seq, seq)
        check_state(again, "2024-01-01T00:00:02Z", 5)


def test_timestamps_never_go_back_even_across_a_reopen(db_path: Path) -> None:
    future_ms = 4_102_444_800_000  # 2100-01-01: later than the real clock
    with driftdb.open(db_path, create=True) as db:
        db.clock = Clock(source=lambda: future_ms)
        table = db.create_table("t")
        table.insert({"id": 1})
    with driftdb.open(db_path) as db:  # the real clock, now behind the log
        table = db.table("t")
        table.insert({"id": 2})
        table.patch(2, {"x": 1})
        stamps = [e.unix_ms for k in (1, 2) for e in table.history(k)]
    assert stamps == [future_ms, future_ms, future_ms]


def test_clock_hands_out_non_decreasing_times() -> None:
    readings = iter([50, 40, 60, 10, 60, 61])
    clock = Clock(last_unix_ms=45, source=lambda: next(readings))
    assert [clock.now() for _ in range(6)] == [50, 50, 60, 60, 60, 61]
