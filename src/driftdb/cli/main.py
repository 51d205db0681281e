"""Entry point of the `driftdb` command: the one place where errors become exit codes.

Exit codes (stable, documented in the README):
  0  success
  1  an error DriftDB reported (bad statement, unknown table, duplicate key, locked, corrupt...)
  2  a usage error (unknown option, missing argument)
  3  an unexpected internal error: a bug (run again with --debug for the traceback)
  130  interrupted (Ctrl-C); the message says what was committed before it
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import click

from driftdb import __version__
from driftdb.errors import (
    DriftError,
    DriftWarning,
    FileSystemError,
    InvalidInputError,
    QuerySyntaxError,
)

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_BUG = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C


def report_error(exc: DriftError) -> None:
    """Print a DriftError as `error: ...` (with a caret for syntax errors), no traceback."""
    text = exc.render() if isinstance(exc, QuerySyntaxError) else str(exc)
    click.echo(f"error: {text}", err=True)


def _show_warning(
    message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    if issubclass(category, DriftWarning):
        click.echo(f"warning: {message}", err=True)
    else:  # a library's warning: still shown, still without a traceback
        click.echo(f"warning: {category.__name__}: {message}", err=True)


# Each command lives in its own module, imported only when that command runs, so that a cold
# `driftdb select` does not pay for the shell, ingest or maintenance code.
COMMAND_MODULES = {
    "init": "driftdb.cli.cmd_init",
    "sql": "driftdb.cli.cmd_sql",
    "select": "driftdb.cli.cmd_select",
    "drift": "driftdb.cli.cmd_drift",
    "ingest": "driftdb.cli.cmd_ingest",
    "snapshot": "driftdb.cli.cmd_maintenance",
    "compact": "driftdb.cli.cmd_maintenance",
    "doctor": "driftdb.cli.cmd_maintenance",
    "diff": "driftdb.cli.cmd_diff",
    "blame": "driftdb.cli.cmd_blame",
    "export": "driftdb.cli.cmd_export",
}


class DriftGroup(click.Group):
    """Loads commands lazily and maps what they raise onto the documented exit codes."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            import importlib

            importlib.import_module(COMMAND_MODULES[cmd_name])
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        warnings.showwarning = _show_warning
        warnings.simplefilter("always", DriftWarning)
        try:
            return super().invoke(ctx)
        except DriftError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            report_error(exc)
            ctx.exit(EXIT_ERROR)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt as exc:
            # A command that knows what was done before the interrupt says so in `exc`.
            click.echo(f"interrupted: {exc}" if str(exc) else "interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:
            # The reader of our output went away (e.g. `| head`); that is not an error.
            sys.stderr.close()
            ctx.exit(0)
        except OSError as exc:
            # The last resort: the engine names the files it fails on (FileSystemError, a
            # DriftError), but an operating-system error is never a bug in DriftDB.
            if ctx.obj and ctx.obj.get("debug"):
                raise
            report_error(FileSystemError.wrap(exc, "the command failed:"))
            ctx.exit(EXIT_ERROR)
        except Exception as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(
                f"internal error: {type(exc).__name__}: {exc}\n"
                "This is a bug in DriftDB. Run the command again with --debug and report "
                "the traceback.",
                err=True,
            )
            ctx.exit(EXIT_BUG)


@click.group(cls=DriftGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="driftdb")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """DriftDB: an embedded time-travel database. Nothing is overwritten; any past state can
    be read back with AS OF.

    \b
    Examples:
      driftdb init shop.db
      driftdb sql -d shop.db -e 'CREATE TABLE orders (pk=id, INDEX(status))'
      driftdb sql -d shop.db -e 'INSERT INTO orders {"id": 1, "status": "new"}'
      driftdb select -d shop.db --table orders --where "status = 'new'"
      driftdb drift -d shop.db --table orders --key 1

    Every command that takes -d also reads the directory from DRIFTDB_DIR.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main() -> None:
    """Console-script entry point."""
    try:
        code = cli.main(prog_name="driftdb", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE if isinstance(exc, click.UsageError) else EXIT_ERROR)
    sys.exit(code if isinstance(code, int) else 0)


def db_dir_option(func: Any) -> Any:
    return click.option(
        "-d",
        "--dir",
        "directory",
        envvar="DRIFTDB_DIR",
        required=True,
        type=click.Path(file_okay=False),
        metavar="DIR",
        help="The database directory (default: $DRIFTDB_DIR).",
    )(func)


def lock_timeout_option(func: Any) -> Any:
    """--lock-timeout SECONDS for every command that writes (the writer lock is one at a time:
    without it a second writer fails at once)."""
    return click.option(
        "--lock-timeout",
        "lock_timeout_s",
        envvar="DRIFTDB_LOCK_TIMEOUT",
        type=click.FloatRange(min=0),
        default=0.0,
        metavar="SECONDS",
        help="Wait up to SECONDS for another writer to release the database "
        "(default: $DRIFTDB_LOCK_TIMEOUT, else 0: fail at once).",
    )(func)


def format_option(func: Any) -> Any:
    func = click.option("--json", "as_json", is_flag=True, help="Same as --format json.")(func)
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["table", "json", "jsonl", "csv"]),
        default="table",
        show_default=True,
        help="Output format.",
    )(func)


def timepoint_option(option: str, text: str | None, absent: str) -> Any:
    """The timepoint an option gives (None when the option is not given). An empty value is
    an error: read as "no timepoint" it would silently mean `absent` instead."""
    if text is None:
        return None
    if not text.strip():
        raise InvalidInputError(
            f"{option} is empty; give a timepoint: @seq:N, @now or an RFC 3339 time such as "
            f"2025-01-01T00:00:00Z (or leave {option} out {absent})"
        )
    from driftdb.query.parser import parse_timepoint

    return parse_timepoint(text)


def chosen_format(fmt: str, as_json: bool) -> str:
    return "json" if as_json else fmt


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    main()
