"""Entry point of the `driftdb` command (exit codes: cli/exits.py).

A cold `driftdb select` with plain flags runs without click: importing click and building the
command tree cost as much as the query itself. Every other command line, including any the
fast path is unsure of, goes through the click tree (cli/app.py), which owns help, usage
errors and their messages.
"""

from __future__ import annotations

import os
import sys


def _fast_select(argv: list[str]) -> int | None:
    """The exit code of `driftdb [--debug] select ...` run without click, or None when click
    must read the command line."""
    debug = argv[:1] == ["--debug"]
    if debug:
        argv = argv[1:]
    if argv[:1] != ["select"] or "_DRIFTDB_COMPLETE" in os.environ:
        return None
    from driftdb.cli.select_run import read_select_args, run_select

    kwargs = read_select_args(argv[1:], os.environ)
    if kwargs is None:
        return None
    from driftdb.cli.exits import guarded

    code = guarded(lambda: run_select(**kwargs), lambda: debug)
    return 0 if code is None else code


def main() -> None:
    """Console-script entry point."""
    code = _fast_select(sys.argv[1:])
    if code is None:
        from driftdb.cli.app import run

        code = run()
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    main()
