"""doctor, as the API offers it: `check(path)` reads and reports; `repair(path)` fixes what can
be fixed without losing acknowledged data, then reopens the database as its writer to rebuild
what is missing. The work is in driftdb/maintenance/doctor/; this module only gives the repair
the way to reopen a database, which the maintenance layer may not import."""

from __future__ import annotations

import os

from driftdb.database import Database
from driftdb.maintenance.doctor import Finding, Report, check
from driftdb.maintenance.doctor import repair as _repair
from driftdb.storage.lock import WriterLock

__all__ = ["Finding", "Report", "check", "repair"]


def _reopen(root: str, lock: WriterLock) -> Database:
    return Database(root, _lock=lock)


def repair(path: str | os.PathLike[str], lock_timeout_s: float = 0.0) -> Report:
    """Repair a database as its writer (LockedError if another process writes to it); see
    driftdb/maintenance/doctor/repair.py for the plan."""
    return _repair(path, _reopen, lock_timeout_s)
