"""doctor: check every file of a database (check.py), and repair what can be repaired without
losing acknowledged data (repair.py)."""

from driftdb.maintenance.doctor.check import Finding, Report, check
from driftdb.maintenance.doctor.repair import Reopen, repair

__all__ = ["Finding", "Reopen", "Report", "check", "repair"]
