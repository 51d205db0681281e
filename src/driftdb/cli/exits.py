"""What a command raises becomes an exit code and one line on stderr: the one copy of that
rule, shared by the click command group and the fast path of `driftdb select` (cli/main.py).

Exit codes (stable, documented in the README):
  0  success
  1  an error DriftDB reported (bad statement, unknown table, duplicate key, locked, corrupt...)
  2  a usage error (unknown option, missing argument)
  3  an unexpected internal error: a bug (run again with --debug for the traceback)
  130  interrupted (Ctrl-C); the message says what was committed before it

click is imported only to print a message: a query that succeeds never loads it.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from typing import Any

from driftdb.errors import DriftError, DriftWarning, FileSystemError, QuerySyntaxError

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_BUG = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C


def echo_err(text: str) -> None:
    """`text` on stderr as click prints it (click strips escape sequences off a non-terminal)."""
    import click

    click.echo(text, err=True)


def report_error(exc: DriftError) -> None:
    """Print a DriftError as `error: ...` (with a caret for syntax errors), no traceback."""
    text = exc.render() if isinstance(exc, QuerySyntaxError) else str(exc)
    echo_err(f"error: {text}")


def _show_warning(
    message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    if issubclass(category, DriftWarning):
        echo_err(f"warning: {message}")
    else:  # a library's warning: still shown, still without a traceback
        echo_err(f"warning: {category.__name__}: {message}")


def guarded(
    call: Callable[[], object],
    debug: Callable[[], bool],
    passthrough: tuple[type[BaseException], ...] = (),
) -> int | None:
    """Run `call`: None when it returns, else the exit code of what it raised, reported on
    stderr. With `debug()` true a failure is raised instead, traceback and all; exceptions in
    `passthrough` (click's own) always are."""
    warnings.showwarning = _show_warning
    warnings.simplefilter("always", DriftWarning)
    try:
        call()
        return None
    except passthrough:
        raise
    except DriftError as exc:
        if debug():
            raise
        report_error(exc)
        return EXIT_ERROR
    except KeyboardInterrupt as exc:
        # A command that knows what was done before the interrupt says so in `exc`.
        echo_err(f"interrupted: {exc}" if str(exc) else "interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output went away (e.g. `| head`); that is not an error.
        sys.stderr.close()
        return 0
    except OSError as exc:
        # The last resort: the engine names the files it fails on (FileSystemError, a
        # DriftError), but an operating-system error is never a bug in DriftDB.
        if debug():
            raise
        report_error(FileSystemError.wrap(exc, "the command failed:"))
        return EXIT_ERROR
    except Exception as exc:
        if debug():
            raise
        echo_err(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in DriftDB. Run the command again with --debug and report "
            "the traceback."
        )
        return EXIT_BUG
