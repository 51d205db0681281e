"""What a new user meets first (init, doctor, a wrong directory): one true line, exit 1."""

from __future__ import annotations

from pathlib import Path

from cli_support import Runner, tree_digest


def test_init_on_an_existing_database_is_one_line_and_exit_1_not_usage(
    run: Runner, shop: Path
) -> None:
    before = tree_digest(shop)
    done = run("init", "db")
    assert (done.code, done.out) == (1, "")
    assert done.err == (
        "error: db already holds a DriftDB database; nothing was changed "
        "(open it with -d, or choose a new directory)\n"
    )
    assert tree_digest(shop) == before
