"""Shared fixtures: a fresh database directory per test."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import driftdb
from driftdb.model.schema import SMALL_OPTIONS_ENV
from helpers.depth import DEEP

# The suites exercise segment rotation and automatic snapshots with a handful of events, so
# they lower each table option's minimum to 1, here and in their child processes. The ranges
# users get are checked by tests/security/test_hostile_files.py, whose children unset this.
os.environ[SMALL_OPTIONS_ENV] = "1"


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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked slow (minutes each: 10,000 tables, big builds) run in `make test-deep`, not
    in `make test`, which must stay within about ten minutes on two cores."""
    if DEEP:
        return
    skip = pytest.mark.skip(reason="slow: runs in make test-deep (DRIFTDB_TEST_DEPTH=deep)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
