"""`make demo` prints each command it runs: the printed line must be one a shell runs as is."""

from __future__ import annotations

import importlib.util
import shlex
import subprocess
from pathlib import Path
from types import ModuleType

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"


def _demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("driftdb_demo_script", DEMO)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_quotes_arguments_as_a_shell_reads_them() -> None:
    quote = _demo()._quote
    args = [
        "sql",
        "-d",
        "demo-data",
        "-e",
        "SELECT * FROM t WHERE a = 'x' AND b = \"y\"",
        "it's $HOME",
        "status = 'paid'",
        "back\\slash 'and' !bang",
    ]
    line = " ".join(quote(a) for a in args)
    assert shlex.split(line) == args
    printed = subprocess.run(
        ["sh", "-c", "printf '%s\\n' " + line], capture_output=True, text=True, check=True
    )
    assert printed.stdout.splitlines() == args  # no $HOME expanded, no quote left over
    assert quote("@seq:10000") == "@seq:10000"  # plain words stay unquoted
    assert quote("status = 'paid'") == "\"status = 'paid'\""  # readable where it is safe
