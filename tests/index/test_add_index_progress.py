"""ADD INDEX reports its progress through the progress hook (the command line draws it on a
terminal), ending at the number of versions it read."""

from __future__ import annotations

import driftdb
from driftdb.model.progress import progress_reporter


def test_add_index_reports_progress_up_to_every_version(db: driftdb.Database) -> None:
    table = db.create_table("t")
    table.insert_many([{"id": i, "c": i % 3} for i in range(25)])
    for i in range(5):
        table.patch(i, {"c": 9})
    seen: list[tuple[str, int, int]] = []
    token = progress_reporter.set(lambda what, done, total: seen.append((what, done, total)))
    try:
        table.add_index(["c"])
    finally:
        progress_reporter.reset(token)
    assert seen[-1] == ("indexing c (versions)", 30, 30)
    assert table.count(where={"c": 9}, as_of=25) == 0
    assert table.count(where={"c": 9}) == 5
