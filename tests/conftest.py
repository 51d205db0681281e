"""Shared fixtures: a fresh database directory per test."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import driftdb


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "db"


@pytest.fixture
def db(db_path: Path) -> Iterator[driftdb.Database]:
    with driftdb.open(db_path, create=True) as database:
        yield database


@pytest.fixture(autouse=True)
def _warnings_are_visible() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        yield


# Hosts not in UTC: a naive datetime read as local time instead of UTC is wrong only there, and
# every test machine here runs in UTC. Modules about time points run under each of these zones
# (`pytestmark = pytest.mark.usefixtures("each_timezone")`): one behind UTC with daylight saving,
# one ahead of it by a non-whole hour.
TIMEZONES = ["UTC", "America/New_York", "Asia/Kolkata"]


@pytest.fixture(params=TIMEZONES)
def each_timezone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    zone: str = request.param
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        yield zone
    finally:
        monkeypatch.undo()
        time.tzset()
