"""The `driftdb` command tree in click: every command, its help and its usage errors.

The common `driftdb select` skips this module when its flags are plain (cli/main.py): click
and building the tree cost a cold query more than its reading does.
"""

from __future__ import annotations

from typing import Any

import click

from driftdb import __version__
from driftdb.cli.exits import EXIT_ERROR, EXIT_USAGE, guarded
from driftdb.cli.output import FORMATS
from driftdb.cli.progress import install_terminal_progress

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
        results: list[Any] = []
        invoke = super().invoke
        code = guarded(
            lambda: results.append(invoke(ctx)),
            lambda: bool(ctx.obj and ctx.obj.get("debug")),
            (click.exceptions.Exit, click.exceptions.Abort, click.ClickException),
        )
        if code is not None:
            ctx.exit(code)
        return results[0]


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
    # Long work (ADD INDEX, a writer's rebuild of a missing index) shows its progress.
    install_terminal_progress()


def run() -> int:
    """Run the command line in sys.argv through click; the exit code."""
    try:
        code = cli.main(prog_name="driftdb", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE if isinstance(exc, click.UsageError) else EXIT_ERROR
    return code if isinstance(code, int) else 0


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
        type=click.Choice(list(FORMATS)),
        default="table",
        show_default=True,
        help="Output format.",
    )(func)
