"""No silent no-ops and no surprises: an empty timepoint is an error, a COMPACT BEFORE that
discards nothing says so, one that would discard the whole history by mistake is refused, an
interrupted ingest says what it committed and how to resume, a lock held by another writer
names the option that waits for it, and an idle shell holds no lock."""

from __future__ import annotations

import builtins
import json
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from cli_support import DRIFTDB, Runner, tree_digest

import driftdb

# -- empty timepoints ------------------------------------------------------------------------


def test_an_empty_as_of_is_an_error_not_the_current_state(run: Runner, shop: Path) -> None:
    done = run("select", "-d", "db", "--table", "orders", "--as-of", "")
    assert (done.code, done.out, done.err) == (
        1,
        "",
        "error: --as-of is empty; give a timepoint: @seq:N, @now or an RFC 3339 time such as "
        "2025-01-01T00:00:00Z (or leave --as-of out for the current state)\n",
    )


@pytest.mark.parametrize(
    ("command", "absent"),
    [
        (("blame", "--table", "orders", "--key", "1"), "for the row as it stands now"),
        (("sql", "--duckdb", "-e", "SELECT 1"), "for the current state"),
    ],
)
def test_an_empty_as_of_is_an_error_in_every_command(
    run: Runner, shop: Path, command: tuple[str, ...], absent: str
) -> None:
    done = run(command[0], "-d", "db", *command[1:], "--as-of", "")
    assert (done.code, done.out, done.err) == (
        1,
        "",
        "error: --as-of is empty; give a timepoint: @seq:N, @now or an RFC 3339 time such as "
        f"2025-01-01T00:00:00Z (or leave --as-of out {absent})\n",
    )


def test_an_empty_before_is_an_error_not_a_compaction(run: Runner, shop: Path) -> None:
    before = tree_digest(shop, truth_only=True)
    done = run("compact", "-d", "db", "--table", "orders", "--before", " ")
    assert (done.code, done.out, done.err) == (
        1,
        "",
        "error: --before is empty; give a timepoint: @seq:N, @now or an RFC 3339 time such as "
        "2025-01-01T00:00:00Z (or leave --before out to keep every event)\n",
    )
    assert tree_digest(shop, truth_only=True) == before


# -- COMPACT BEFORE edge cases ---------------------------------------------------------------


def horizon_of(shop: Path) -> int | None:
    with driftdb.open(shop, readonly=True) as db:
        return db.table("orders").horizon()


def test_compact_before_seq_0_says_there_is_nothing_to_discard_and_sets_no_horizon(
    run: Runner, shop: Path
) -> None:
    done = run("compact", "-d", "db", "--table", "orders", "--before", "@seq:0")
    assert done.code == 0, done.err
    assert re.fullmatch(
        r'compacted table "orders": 1 -> 1 segments, \d+ -> \d+ bytes in [\d.]+s; nothing '
        r"before @seq:0 to discard, every event kept \(no horizon set\)\n",
        done.out,
    ), done.out
    assert horizon_of(shop) is None
    again = run("sql", "-d", "db", "-e", 'COMPACT orders BEFORE "@seq:0"')
    assert again.out.endswith(
        "; nothing before @seq:0 to discard, every event kept (no horizon set)\n"
    )
    assert horizon_of(shop) is None


PAST_THE_HEAD = (
    'error: compacting table "orders" before @seq:99 would discard its whole history '
    "(@seq:99 is past the head, @seq:5); to keep only the current state on purpose, run it "
    'again with --yes (driftdb compact), FORCE (COMPACT orders BEFORE "@seq:99" FORCE) or '
    "force=True (Table.compact)\n"
)


@pytest.mark.parametrize(
    "command",
    [
        ("compact", "-d", "db", "--table", "orders", "--before", "@seq:99"),
        ("sql", "-d", "db", "-e", 'COMPACT orders BEFORE "@seq:99"'),
    ],
    ids=["cli", "driftql"],
)
def test_compact_before_a_point_past_the_head_is_refused_without_yes(
    run: Runner, shop: Path, command: tuple[str, ...]
) -> None:
    before = tree_digest(shop, truth_only=True)
    done = run(*command)
    assert (done.code, done.out, done.err) == (1, "", PAST_THE_HEAD)
    assert tree_digest(shop, truth_only=True) == before
    assert horizon_of(shop) is None


def test_compact_before_a_future_time_is_refused_without_yes(run: Runner, shop: Path) -> None:
    done = run("compact", "-d", "db", "--table", "orders", "--before", "2999-01-01T00:00:00Z")
    assert (done.code, done.err) == (
        1,
        'error: compacting table "orders" before 2999-01-01T00:00:00Z would discard its whole '
        "history (2999-01-01T00:00:00Z is in the future); to keep only the current state on "
        "purpose, run it again with --yes (driftdb compact), FORCE (COMPACT orders BEFORE "
        '"2999-01-01T00:00:00Z" FORCE) or force=True (Table.compact)\n',
    )


@pytest.mark.parametrize(
    "command",
    [
        ("compact", "-d", "db", "--table", "orders", "--before", "@seq:99", "--yes"),
        ("sql", "-d", "db", "-e", 'COMPACT orders BEFORE "@seq:99" FORCE'),
    ],
    ids=["--yes", "FORCE"],
)
def test_compact_past_the_head_on_purpose_keeps_the_current_state(
    run: Runner, shop: Path, command: tuple[str, ...]
) -> None:
    now = run("select", "-d", "db", "--table", "orders", "--json").out
    done = run(*command)
    assert done.code == 0, done.err
    assert "; history kept from @seq:5 (5 events folded into the base snapshot)" in done.out
    assert horizon_of(shop) == 5
    assert run("select", "-d", "db", "--table", "orders", "--json").out == now


def test_force_true_in_python_discards_history_past_the_head(shop: Path) -> None:
    with driftdb.open(shop) as db:
        orders = db.table("orders")
        with pytest.raises(driftdb.InvalidInputError, match="would discard its whole history"):
            orders.compact(before=99)
        assert orders.horizon() is None
        orders.compact(before=99, force=True)
        assert orders.horizon() == 5


def test_yes_without_before_is_a_usage_error(run: Runner, shop: Path) -> None:
    done = run("compact", "-d", "db", "--table", "orders", "--yes")
    assert done.code == 2
    assert done.err.endswith("Error: --yes goes with --before (it allows discarding all history)\n")


# -- Ctrl-C during ingest --------------------------------------------------------------------


def count_rows(path: Path) -> int:
    with driftdb.open(path, readonly=True) as db:
        return db.table("orders").count()


def test_ctrl_c_during_ingest_says_how_many_rows_were_committed_and_where_to_resume(
    run: Runner, shop: Path, tmp_path: Path
) -> None:
    lines = "".join(json.dumps({"id": 100 + i}) + "\n" for i in range(250))
    (tmp_path / "rows.jsonl").write_text(lines)
    ingest = [DRIFTDB, "ingest", "-d", "db", "--table", "orders", "--batch-size", "100"]
    proc = subprocess.Popen(
        [*ingest, "--file", "-"],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stderr is not None and proc.stdout is not None
    proc.stdin.write(lines)  # 250 lines and no end of input: 2 batches commit, 50 rows wait
    proc.stdin.flush()
    deadline = time.monotonic() + 60
    while count_rows(shop) < 2 + 200:
        assert time.monotonic() < deadline, "the two batches were never committed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=60)
    err, out = proc.stderr.read(), proc.stdout.read()
    proc.stdin.close()
    assert (code, out, err) == (
        130,
        "",
        "interrupted: 200 rows were committed, up to line 200; resume with --from-line 201\n",
    )
    assert count_rows(shop) == 2 + 200
    resumed = run(*ingest[1:], "--file", "rows.jsonl", "--from-line", "201")
    assert (resumed.code, resumed.out) == (0, "ingested 50 rows into orders\n")
    assert count_rows(shop) == 2 + 250


# -- the writer lock -------------------------------------------------------------------------

WRITERS = {
    "sql": ("sql", "-d", "db", "-e", 'INSERT INTO orders {"id": 9}'),
    "ingest": ("ingest", "-d", "db", "--table", "orders", "--file", "-"),
    "snapshot": ("snapshot", "-d", "db", "--table", "orders"),
    "compact": ("compact", "-d", "db", "--table", "orders"),
    "doctor --repair": ("doctor", "-d", "db", "--repair"),
}


def locked_message(shop: Path, waited: str) -> str:
    wait = "wait longer" if waited else "wait for it"
    return (
        rf"error: database {re.escape(str(shop))} is locked by another writer "
        rf"\(pid=\d+ host=\S+ since=\S+\){re.escape(waited)}; close it, read without the lock "
        rf"\(select, drift, or readonly=True\), or {wait} with --lock-timeout SECONDS "
        r"\(lock_timeout_s in Python\)\n"
    )


@pytest.mark.parametrize("command", WRITERS.values(), ids=WRITERS.keys())
def test_a_held_lock_names_the_lock_timeout_option_that_every_writing_command_has(
    run: Runner, shop: Path, command: tuple[str, ...]
) -> None:
    with driftdb.open(shop):
        done = run(*command, stdin='{"id": 9}\n')
        assert done.code == 1
        assert re.fullmatch(locked_message(shop, ""), done.err), done.err
        waited = run(*command, "--lock-timeout", "0.2", stdin='{"id": 9}\n')
        assert waited.code == 1
        assert re.fullmatch(locked_message(shop, " after waiting 0.2s"), waited.err), waited.err


def test_lock_timeout_waits_for_the_other_writer(run: Runner, shop: Path) -> None:
    db = driftdb.open(shop)
    threading.Timer(1.0, db.close).start()
    done = run(*WRITERS["sql"], "--lock-timeout", "30")
    assert (done.code, done.out) == (0, "inserted 1 row (seq 6)\n"), done.err


def test_lock_timeout_comes_from_the_environment_too(run: Runner, shop: Path) -> None:
    with driftdb.open(shop):
        done = run(*WRITERS["snapshot"], env={"DRIFTDB_LOCK_TIMEOUT": "0.1"})
    assert re.fullmatch(locked_message(shop, " after waiting 0.1s"), done.err), done.err


def test_a_negative_lock_timeout_is_a_usage_error(run: Runner, shop: Path) -> None:
    done = run(*WRITERS["snapshot"], "--lock-timeout", "-1")
    assert done.code == 2
    assert "Invalid value for '--lock-timeout': -1.0 is not in the range x>=0." in done.err


# -- the interactive shell -------------------------------------------------------------------


def test_an_idle_shell_holds_no_lock_and_a_writing_statement_takes_it_only_while_it_runs(
    invoke: Runner, shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    typed = iter(
        [
            'INSERT INTO orders {"id": 9};',
            "SELECT COUNT(*) FROM orders;",
            'PATCH orders KEY 9 SET {"a": 1};',
        ]
    )
    free_while_idle: list[bool] = []

    def type_a_line(prompt: str = "") -> str:
        try:  # while the shell waits for input, another writer can open the database
            with driftdb.open(shop):
                free_while_idle.append(True)
        except driftdb.LockedError:
            free_while_idle.append(False)
        try:
            return next(typed)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setattr(builtins, "input", type_a_line)
    done = invoke("sql", "-d", "db", "--format", "jsonl", env={"HOME": str(tmp_path)}, tty=True)
    assert done.code == 0, done.err
    assert free_while_idle == [True, True, True, True]
    assert done.out.splitlines()[1:] == [
        '{"ok": true, "message": "inserted 1 row (seq 6)", "seq": 6}',
        '{"count": 3}',
        '{"ok": true, "message": "patched key 9 (seq 7)", "seq": 7}',
        "",
    ]


def test_a_shell_statement_waits_for_the_lock_with_lock_timeout(
    invoke: Runner, shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    typed = iter(['INSERT INTO orders {"id": 9};'])
    holder: list[driftdb.Database] = []

    def type_a_line(prompt: str = "") -> str:
        try:
            line = next(typed)
        except StopIteration:
            raise EOFError from None
        holder.append(driftdb.open(shop))  # another writer, gone in half a second
        threading.Timer(0.5, holder[-1].close).start()
        return line

    monkeypatch.setattr(builtins, "input", type_a_line)
    done = invoke("sql", "-d", "db", "--lock-timeout", "30", env={"HOME": str(tmp_path)}, tty=True)
    assert done.code == 0, done.err
    assert "inserted 1 row (seq 6)\n" in done.out
