"""A writer that finds no usable index builds it from the log once, says so, and reports its
progress through the progress hook (the command line draws it on a terminal); a reader never
builds it and says that it replays the log instead (test_fast_paths_after_writes)."""

from __future__ import annotations

import shutil
from pathlib import Path

import driftdb
from driftdb.model.progress import progress_reporter
from helpers.checks import no_drift_warnings, open_recording_warnings

EVENTS = 20_000  # more than one flush of the rebuild (8,192 events): progress in between


def test_a_writer_rebuilds_a_missing_index_once_with_progress_and_a_note(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db"
    with driftdb.open(path, create=True) as db:
        table = db.create_table("t", indexes=["c"])
        table.insert_many([{"id": i, "c": i % 7} for i in range(EVENTS)])
    shutil.rmtree(path / "tables/t/indexes")
    seen: list[tuple[str, int, int]] = []
    token = progress_reporter.set(lambda what, done, total: seen.append((what, done, total)))
    try:
        db, notes = open_recording_warnings(path)
    finally:
        progress_reporter.reset(token)
    with db:
        assert db.table("t").count(where={"c": 3}) == len(range(3, EVENTS, 7))
    assert any(f"no index files; built them from the log ({EVENTS} events)" in n for n in notes), (
        notes
    )
    what = 'rebuilding the index of table "t" from its log (events)'
    assert seen[-1] == (what, EVENTS, EVENTS)
    assert [done for _, done, _ in seen[:-1]] == [8192, 16384]
    with no_drift_warnings(), driftdb.open(path) as again:  # built once: nothing to say
        assert again.table("t").get(5) == {"id": 5, "c": 5}
