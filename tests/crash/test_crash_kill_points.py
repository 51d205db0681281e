"""SIGKILL at random moments while a child process writes through the Python API.

Each chain is one database killed several times in a row (recovery after recovery); each kill
is a crash point. After every kill the database is reopened and every promise is checked
against a replay of the recovered log (crash_support.verify): no acknowledged write lost,
nothing invented, batches whole, seqs strictly increasing, AS OF equal to the replay, and new
writes accepted. $DRIFTDB_CRASH_POINTS sets the number of kills (8 by default).
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

KILLS_PER_CHAIN = 4
POINTS = crash_points()
CHAINS = math.ceil(POINTS / KILLS_PER_CHAIN)


@pytest.mark.parametrize("chain", range(CHAINS))
def test_sigkill_during_api_writes_loses_no_acknowledged_write_and_invents_none(
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
        rng = rng_for("sigkill-api", point)
        where = kill_driver_at_random("api", db_path, side, rng, f"r{k + 1}", max_delay_s=0.5)
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
            "sigkill-api",
            crash_points=1,
            landed=where,
            new_acked=new_acks,
            **verdict.figures(),
        )
        assert not verdict.problems, describe(verdict, f"crash point {point} (chain {chain})")
