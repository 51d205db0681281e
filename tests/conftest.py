"""Shared fixtures: a fresh database directory per test."""

from __future__ import annotations

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
