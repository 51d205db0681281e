"""Assertions shared by the storage-core tests."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import warnings
from collections.abc import Iterator

import driftdb
from helpers.bytes_edit import log_bytes


@contextlib.contextmanager
def nothing_changes(db: driftdb.Database) -> Iterator[None]:
    """The block (a failing write) must leave the head and every segment byte as they were."""
    head = db.head()
    before = log_bytes(db.path)
    yield
    assert db.head() == head
    assert log_bytes(db.path) == before


@contextlib.contextmanager
def no_drift_warnings() -> Iterator[None]:
    """The block must not warn (a DriftWarning becomes an error)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", driftdb.DriftWarning)
        yield


def warning_texts(record: object) -> list[str]:
    """The messages of the DriftWarnings in a pytest.warns record."""
    return [
        str(w.message)
        for w in record  # type: ignore[attr-defined]
        if issubclass(w.category, driftdb.DriftWarning)
    ]


def python_child(code: str, *args: str, **popen: object) -> subprocess.Popen[str]:
    """Start `python -c code args...` with the interpreter running the tests (it has driftdb)."""
    return subprocess.Popen(  # type: ignore[call-overload,no-any-return]
        [sys.executable, "-c", code, *args], text=True, **popen
    )


def open_recording_warnings(path: object, **options: object) -> tuple[driftdb.Database, list[str]]:
    """Open a database and return it with the DriftWarnings its recovery gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        db = driftdb.open(path, **options)  # type: ignore[arg-type]
    return db, [str(w.message) for w in caught if issubclass(w.category, driftdb.DriftWarning)]
