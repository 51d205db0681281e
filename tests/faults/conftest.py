"""Puts tests/crash on sys.path: this suite shares its oracle and figures (crash_support)."""

from __future__ import annotations

import sys
from pathlib import Path

CRASH = str(Path(__file__).resolve().parent.parent / "crash")
if CRASH not in sys.path:
    sys.path.insert(0, CRASH)
