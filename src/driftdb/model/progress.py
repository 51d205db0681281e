"""How a long operation reports progress without knowing who listens: a context variable the
command line sets to a terminal progress bar (and nothing else does). Reporters are called as
`report(what, done, total)`."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

Reporter = Callable[[str, int, int], None]

progress_reporter: ContextVar[Reporter | None] = ContextVar("progress_reporter", default=None)
