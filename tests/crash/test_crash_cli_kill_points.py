"""SIGKILL at random moments while a child process writes through the `driftdb` command
(`sql -e` single and list INSERTs, PATCH, SOFT DELETE, and `ingest` in batches of 3 lines).

A statement is acknowledged when the command exited 0. One CLI call costs a Python start-up, so
this suite kills at a quarter of $DRIFTDB_CRASH_POINTS (at least 2).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from crash_support import (
    append_record,
    crash_points,
    create_tables,
    describe,
    kill_driver_at_random,
    load_side_file,
    record_figures,
    rng_for,
    verify,
)

import driftdb

KILLS_PER_CHAIN = 3
POINTS = max(2, crash_points() // 4)
CHAINS = math.ceil(POINTS / KILLS_PER_CHAIN)


@pytest.mark.parametrize("chain", range(CHAINS))
def test_sigkill_during_cli_writes_loses_no_acknowledged_statement(
    tmp_path: Path, chain: int
) -> None:
    db_path = tmp_path / "db"
    side = tmp_path / "side.jsonl"
    with driftdb.open(db_path, create=True) as db:
        create_tables(db)
    kills = min(KILLS_PER_CHAIN, POINTS - chain * KILLS_PER_CHAIN)
    checked_before = 0
    for k in range(kills):
        point = chain * KILLS_PER_CHAIN + k
        rng = rng_for("sigkill-cli", point)
        where = kill_driver_at_random(
            "cli", db_path, side, rng, f"r{k + 1}", max_delay_s=2.5, early_kill_chance=0.05
        )
        record = load_side_file(side)
        tag = f"parent.{k}"
        verdict = verify(
            db_path,
            record,
            rng,
            reader_first=rng.random() < 0.6,
            drop_indexes=rng.random() < 0.2,
            new_write_tag=tag,
        )
        append_record(side, record, [tag])
        new_acks, checked_before = verdict.acked - checked_before, verdict.acked
        record_figures(
            "crash",
            "sigkill-cli",
            crash_points=1,
            landed=where,
            new_acked=new_acks,
            **verdict.figures(),
        )
        assert not verdict.problems, describe(verdict, f"crash point {point} (chain {chain})")
