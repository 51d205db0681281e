"""Shared by the storage tests that need a power cut: the power-loss file layer of the crash
suite (tests/crash/crash_support.py), imported from there so there is one model of a power cut.
"""

from __future__ import annotations

import sys
from pathlib import Path

CRASH = str(Path(__file__).resolve().parent.parent / "crash")
if CRASH not in sys.path:
    sys.path.insert(0, CRASH)

from crash_support import PowerLossLayer, abandon  # noqa: E402

__all__ = ["PowerLossLayer", "abandon"]
