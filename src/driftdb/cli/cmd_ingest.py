"""`driftdb ingest`: load JSON Lines into a table in durable batches."""

from __future__ import annotations

import json
import sys
from typing import IO, Any

import click

from driftdb.cli.main import cli, db_dir_option
from driftdb.database import Database
from driftdb.errors import DriftError, InvalidInputError
from driftdb.model.document import json_type_name


class IngestError(InvalidInputError):
    """A bad line: the message names it and says what was committed before it."""


def _progress(total_bytes: int | None) -> Any:
    """A rich progress bar on a terminal; None in a pipe (so output stays clean)."""
    if not sys.stderr.isatty():
        return None
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("ingest"),
        BarColumn(),
        TextColumn("{task.completed:,} rows"),
        TimeRemainingColumn(),
        transient=True,
    )


@cli.command("ingest")
@db_dir_option
@click.option("--table", "-t", required=True, help="The table to insert into.")
@click.option(
    "--file",
    "-f",
    "source",
    required=True,
    type=click.File("rb"),
    metavar="F.jsonl",
    help="JSON Lines: one object per line (- for stdin).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 1_000_000),
    default=1000,
    show_default=True,
    help="Rows per durable batch (one fsync each).",
)
@click.option(
    "--from-line",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Skip the lines before this one (to resume after a bad line).",
)
def ingest_command(  # noqa: C901 (one branch per input format and per option, each a few lines)
    directory: str, table: str, source: IO[bytes], batch_size: int, from_line: int
) -> None:
    """Insert every line of a JSON Lines file as a row.

    Rows are committed in batches of --batch-size lines, each batch atomic and durable. A
    malformed or rejected line stops the ingest with an error naming its line number; every
    line before it is committed (the batch in progress is committed up to that line), so
    fixing the line and running again with --from-line N resumes where it stopped. Blank
    lines are skipped.

    \b
    Examples:
      driftdb ingest -d shop.db --table orders --file orders.jsonl
      cat orders.jsonl | driftdb ingest -d shop.db --table orders --file -
    """
    with Database(directory) as db:
        tbl = db.table(table)
        total = 0
        pending: list[tuple[int, dict[str, Any]]] = []
        progress = _progress(None)
        task = progress.add_task("ingest", total=None) if progress is not None else None
        if progress is not None:
            progress.start()

        def flush() -> None:
            nonlocal total
            if not pending:
                return
            try:
                with db.batch():
                    for number, doc in pending:
                        try:
                            tbl.insert(doc)
                        except DriftError as exc:
                            raise _LineError(number, exc) from exc
            except _LineError as bad:
                # The batch wrote nothing; commit the lines before the bad one, then report.
                good = [(n, d) for n, d in pending if n < bad.number]
                with db.batch():
                    for _, doc in good:
                        tbl.insert(doc)
                total += len(good)
                raise _stop(bad.number, str(bad.cause), total) from None
            total += len(pending)
            if progress is not None and task is not None:
                progress.update(task, completed=total)
            pending.clear()

        try:
            for number, raw in enumerate(source, start=1):
                if number < from_line or not raw.strip():
                    continue
                try:
                    doc = json.loads(raw)
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    flush()
                    raise _stop(number, f"not valid JSON ({exc})", total) from None
                except RecursionError:
                    flush()
                    raise _stop(number, "JSON nested too deeply", total) from None
                if not isinstance(doc, dict):
                    flush()
                    raise _stop(number, f"expected a JSON object, got {json_type_name(doc)}", total)
                pending.append((number, doc))
                if len(pending) >= batch_size:
                    flush()
            flush()
        finally:
            if progress is not None:
                progress.stop()
        click.echo(f"ingested {total} {'row' if total == 1 else 'rows'} into {table}")


class _LineError(Exception):
    def __init__(self, number: int, cause: DriftError) -> None:
        super().__init__(str(cause))
        self.number = number
        self.cause = cause


def _stop(number: int, what: str, committed: int) -> IngestError:
    return IngestError(
        f"line {number}: {what}; {committed} {'row' if committed == 1 else 'rows'} before it "
        f"{'was' if committed == 1 else 'were'} committed. Fix the line and "
        f"resume with --from-line {number}"
    )
