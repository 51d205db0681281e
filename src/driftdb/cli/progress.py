"""Progress of long operations (ALTER TABLE ADD INDEX, a writer rebuilding a missing index)
on the terminal: one line on stderr,
rewritten in place, shown only when stderr is a terminal and the work takes over a second."""

from __future__ import annotations

import sys
import time

from driftdb.model.progress import progress_reporter

SHOW_AFTER_S = 1.0


class _TerminalProgress:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.shown = False

    def __call__(self, what: str, done: int, total: int) -> None:
        if not self.shown and time.monotonic() - self.started < SHOW_AFTER_S:
            return
        self.shown = True
        percent = 100 * done // total if total else 100
        sys.stderr.write(f"\r{what}: {done:,}/{total:,} ({percent}%)")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def install_terminal_progress() -> None:
    """Report progress on stderr from now on in this command, if stderr is a terminal."""
    if sys.stderr.isatty():
        progress_reporter.set(_TerminalProgress())
