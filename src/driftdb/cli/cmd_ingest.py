"""`driftdb ingest`: load JSON Lines into a table in durable batches."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterator
from typing import IO, Any

import click

from driftdb.cli.app import cli, db_dir_option, lock_timeout_option
from driftdb.database import Database
from driftdb.errors import DriftError, InvalidInputError
from driftdb.model.document import json_type_name
from driftdb.model.wording import plural


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
    help="Skip the lines before this one (to resume after a bad line or an interrupt).",
)
@lock_timeout_option
def ingest_command(  # noqa: C901 (one branch per input format and per option, each a few lines)
    directory: str,
    table: str,
    source: IO[bytes],
    batch_size: int,
    from_line: int,
    lock_timeout_s: float,
) -> None:
    """Insert every line of a JSON Lines file as a row.

    Rows are committed in batches of --batch-size lines, each batch atomic and durable. A
    malformed or rejected line stops the ingest with an error naming its line number; every
    line before it is committed (the batch in progress is committed up to that line), so
    fixing the line and running again with --from-line N resumes where it stopped. Blank
    lines are skipped. Ctrl-C stops it between batches (a batch being committed finishes
    first) and says how many rows were committed and the --from-line that resumes.

    \b
    Examples:
      driftdb ingest -d shop.db --table orders --file orders.jsonl
      cat orders.jsonl | driftdb ingest -d shop.db --table orders --file -
    """
    with Database(directory, lock_timeout_s=lock_timeout_s) as db, _Shield() as shield:
        tbl = db.table(table)
        total = 0
        resume_at = from_line  # the first line not committed yet
        pending: list[tuple[int, dict[str, Any]]] = []
        progress = _progress(None)
        task = progress.add_task("ingest", total=None) if progress is not None else None
        if progress is not None:
            progress.start()

        def flush(next_line: int) -> None:
            """Commit the pending lines; `next_line` is the first line after them."""
            nonlocal total, resume_at
            if not pending:
                return
            with shield.deferred():  # Ctrl-C waits until the count matches what is on disk
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
                    resume_at = bad.number
                    raise _stop(bad.number, str(bad.cause), total) from None
                total += len(pending)
                resume_at = next_line
                pending.clear()
            if progress is not None and task is not None:
                progress.update(task, completed=total)

        number = from_line - 1
        try:
            for number, raw in enumerate(source, start=1):
                if number < from_line or not raw.strip():
                    continue
                try:
                    doc = json.loads(raw)
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    flush(number)
                    raise _stop(number, f"not valid JSON ({exc})", total) from None
                except RecursionError:
                    flush(number)
                    raise _stop(number, "JSON nested too deeply", total) from None
                if not isinstance(doc, dict):
                    flush(number)
                    raise _stop(number, f"expected a JSON object, got {json_type_name(doc)}", total)
                pending.append((number, doc))
                if len(pending) >= batch_size:
                    flush(number + 1)
            flush(number + 1)
        except KeyboardInterrupt:
            # Lines read but not committed are dropped: resuming from the first of them
            # inserts each line exactly once.
            raise KeyboardInterrupt(
                f"{total} rows were committed, up to line {resume_at - 1}; resume with "
                f"--from-line {resume_at}"
                if total
                else f"no rows were committed; resume with --from-line {resume_at}"
            ) from None
        finally:
            if progress is not None:
                progress.stop()
        click.echo(f"ingested {plural(total, 'row')} into {table}")


class _Shield:
    """Ctrl-C (SIGINT) as KeyboardInterrupt, except inside `deferred()`, where it waits until
    the block ends: a batch being committed finishes, and the count of committed rows is
    exact. The previous handler comes back on exit. (Only in the main thread, where Python
    delivers signals; elsewhere nothing changes.)"""

    def __init__(self) -> None:
        self.inside = False
        self.pending = False
        self.previous: Any = None

    def __enter__(self) -> _Shield:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.inside:
            self.pending = True
            return
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self.inside = True
        try:
            yield
        finally:
            self.inside = False
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt


class _LineError(Exception):
    def __init__(self, number: int, cause: DriftError) -> None:
        super().__init__(str(cause))
        self.number = number
        self.cause = cause


def _stop(number: int, what: str, committed: int) -> IngestError:
    return IngestError(
        f"line {number}: {what}; {plural(committed, 'row')} before it "
        f"{'was' if committed == 1 else 'were'} committed. Fix the line and "
        f"resume with --from-line {number}"
    )
