"""`driftdb sql`: run DriftQL from -e, a file, stdin, or an interactive shell."""

from __future__ import annotations

import sys
from typing import TextIO

import click

from driftdb.cli.app import cli, db_dir_option, format_option, lock_timeout_option
from driftdb.cli.flags import chosen_format, timepoint_option
from driftdb.cli.output import render, render_json_array
from driftdb.database import Database
from driftdb.errors import DriftError, InvalidInputError
from driftdb.query.executor import Result, execute_statement
from driftdb.query.parser import parse


def run_script(directory: str, source: str, fmt: str, lock_timeout_s: float = 0.0) -> None:
    """Parse the whole script first (a syntax error anywhere runs nothing), then run each
    statement in order, stopping at the first error, which then says which statements ran
    (their writes are kept) and which were skipped. A script of reads takes no lock; one
    that writes takes the writer lock (waiting up to `lock_timeout_s`) until it ends.

    With `--format json`, several statements print one JSON document: an array with one
    element per statement that ran (also when one fails)."""
    statements = parse(source)
    readonly = not any(s.writes for s in statements)
    several = len(statements) > 1
    with Database(directory, readonly=readonly, lock_timeout_s=lock_timeout_s) as db:
        out = sys.stdout
        results: list[Result] = []
        for number, statement in enumerate(statements, 1):
            try:
                result = execute_statement(db, statement)
            except DriftError:
                if several and fmt == "json":
                    render_json_array(results, out)
                if several:
                    click.echo(_stopped_at(number, len(statements)), err=True)
                raise
            if several and fmt == "json":
                results.append(result)
            else:
                render(result, fmt, out)
        if several and fmt == "json":
            render_json_array(results, out)
        if db.in_transaction():
            raise InvalidInputError(
                "the script ended inside a transaction (BEGIN without COMMIT or ROLLBACK): "
                "its writes were discarded; end it with COMMIT"
            )


def _stopped_at(number: int, total: int) -> str:
    """`statement 2 of 4 failed: statement 1 ran; statements 3-4 were skipped`."""

    def span(first: int, last: int) -> str:
        if first == last:
            return f"statement {first}"
        return f"statements {first}-{last}"

    ran = f"{span(1, number - 1)} ran" if number > 1 else "no statement ran"
    skipped = (
        f"{span(number + 1, total)} {'was' if number + 1 == total else 'were'} skipped"
        if number < total
        else "none was skipped"
    )
    return f"statement {number} of {total} failed: {ran}; {skipped}"


def run_duckdb(directory: str, source: str, as_of: str | None, fmt: str) -> None:
    """`--duckdb`: run SQL in DuckDB over every table as it stood at `as_of` (a read: no
    lock), printing the last statement's rows (driftdb/duckdb_bridge.py)."""
    import datetime
    import decimal

    from driftdb.query.executor import Result

    def plain(value: object) -> object:
        if isinstance(value, datetime.date | datetime.time):
            return value.isoformat()
        if isinstance(value, decimal.Decimal):
            return float(value)
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value).hex()
        return value

    point = timepoint_option("--as-of", as_of, "for the current state")
    with Database(directory, readonly=True) as db:
        connection = db.duckdb(point)
        try:
            cursor = connection.execute(source)
            names = [d[0] for d in cursor.description or ()]
            rows = [dict(zip(names, map(plain, r), strict=True)) for r in cursor.fetchall()]
        except Exception as exc:
            import duckdb  # installed: db.duckdb() has imported it

            if not isinstance(exc, duckdb.Error):
                raise
            raise InvalidInputError(f"duckdb: {exc}") from None
        finally:
            connection.close()
    render(Result("rows", rows, names), fmt, sys.stdout)


@cli.command("sql")
@db_dir_option
@click.option(
    "-e",
    "--execute",
    "statements",
    default=None,
    metavar="STATEMENTS",
    help="DriftQL to run (several statements separated by ;).",
)
@click.option(
    "-f",
    "--file",
    "script",
    type=click.File("r", encoding="utf-8"),
    default=None,
    metavar="FILE.dql",
    help="A file of DriftQL statements (- for stdin).",
)
@click.option(
    "--duckdb",
    "use_duckdb",
    is_flag=True,
    help="Run SQL in DuckDB over every table (and <table>__versions) as of --as-of.",
)
@click.option(
    "--as-of",
    "as_of",
    default=None,
    metavar="X",
    help="With --duckdb: the point the tables show (@seq:N, @now or an RFC 3339 time).",
)
@format_option
@lock_timeout_option
def sql_command(
    directory: str,
    statements: str | None,
    script: TextIO | None,
    use_duckdb: bool,
    as_of: str | None,
    fmt: str,
    as_json: bool,
    lock_timeout_s: float,
) -> None:
    """Run DriftQL statements. With neither -e nor -f: an interactive shell when stdin is a
    terminal, else the statements read from stdin. The shell takes the writer lock only
    while a statement that writes runs, so an idle shell blocks no other writer.

    \b
    Examples:
      driftdb sql -d shop.db -e 'CREATE TABLE orders (pk=id, INDEX(status))'
      driftdb sql -d shop.db -e 'PATCH orders KEY 1 SET {"status": "paid"}'
      driftdb sql -d shop.db -e 'SELECT * FROM orders AS OF "@seq:1"'
      driftdb sql -d shop.db -f migrate.dql
      echo 'SHOW TABLES' | driftdb sql -d shop.db
      driftdb sql -d shop.db --duckdb --as-of @seq:3 -e 'SELECT COUNT(*) FROM orders'
    """
    fmt = chosen_format(fmt, as_json)
    if statements is not None and script is not None:
        raise click.UsageError("give -e or -f, not both")
    if as_of is not None and not use_duckdb:
        raise click.UsageError("--as-of goes with --duckdb (in DriftQL, write AS OF in the query)")
    if use_duckdb:
        if statements is None and script is None:
            raise click.UsageError("--duckdb needs -e SQL or -f FILE")
        source = statements if statements is not None else script.read()  # type: ignore[union-attr]
        run_duckdb(directory, source, as_of, fmt)
        return
    if statements is not None:
        run_script(directory, statements, fmt, lock_timeout_s)
    elif script is not None:
        try:
            source = script.read()
        except UnicodeDecodeError as exc:
            raise InvalidInputError(
                f"{script.name}: not UTF-8 text (byte {exc.start}: {exc.reason})"
            ) from None
        run_script(directory, source, fmt, lock_timeout_s)
    elif sys.stdin.isatty():
        from driftdb.cli.shell import run_shell

        run_shell(directory, lambda source: run_script(directory, source, fmt, lock_timeout_s))
    else:
        run_script(directory, sys.stdin.read(), fmt, lock_timeout_s)
