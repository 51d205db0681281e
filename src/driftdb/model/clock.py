"""The event clock: unix milliseconds that never go backwards along the sequence."""

from __future__ import annotations

import time
from collections.abc import Callable


class Clock:
    """Hands out non-decreasing timestamps: a wall clock that steps back is clamped to the last
    timestamp given, so time maps to sequence by binary search."""

    def __init__(self, last_unix_ms: int = 0, source: Callable[[], int] | None = None) -> None:
        self.last_unix_ms = last_unix_ms
        self._source = source or (lambda: time.time_ns() // 1_000_000)

    def now(self) -> int:
        self.last_unix_ms = max(self.last_unix_ms, self._source())
        return self.last_unix_ms
