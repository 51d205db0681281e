"""Entry point of the `driftdb` command: the one place where errors become exit codes.

Exit codes (stable, documented in the README):
  0  success
  1  an error DriftDB reported (bad statement, unknown table, duplicate key, locked, corrupt...)
  2  a usage error (unknown option, missing argument)
  3  an unexpected internal error: a bug (run again with --debug for the traceback)
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import click

from driftdb import __version__
from driftdb.errors import DriftError, DriftWarning, QuerySyntaxError

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_BUG = 3


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
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:
            # The reader of our output went away (e.g. `| head`); that is not an error.
            sys.stderr.close()
            ctx.exit(0)
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


def chosen_format(fmt: str, as_json: bool) -> str:
    return "json" if as_json else fmt


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    main()
