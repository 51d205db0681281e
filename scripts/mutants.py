"""Apply each slip in tests/mutants.toml to a scratch copy of the tree and check its tests fail.

A test suite is only as good as the bugs it catches. Each entry names a realistic slip (a `<`
for a `<=`, a dropped fsync) and the tests that must catch it; this script proves, slip by
slip, that they still do. Run it whenever a rule named there changes (`make mutants`).

    python scripts/mutants.py              # every slip
    python scripts/mutants.py --only ID    # one slip (repeatable)
    python scripts/mutants.py --list       # the slips and their tests

Exit status 0 when every slip was caught, 1 when one was missed (or a `find` text no longer
occurs exactly once: the entry is out of date).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "tests" / "mutants.toml"
TIMEOUT_S = 900


@dataclass(frozen=True)
class Mutant:
    id: str
    breaks: str
    file: str
    find: str
    replace: str
    tests: list[str]


def load_mutants(path: Path = MANIFEST) -> list[Mutant]:
    with path.open("rb") as handle:
        entries = tomllib.load(handle)["mutant"]
    return [Mutant(**entry) for entry in entries]


def project_files() -> list[str]:
    """Tracked files plus new ones not ignored: a slip is checked against the tests as they
    stand in the working tree, committed or not."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    return [name for name in listed if (ROOT / name).is_file()]


def scratch_copy(destination: Path) -> None:
    for name in project_files():
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)


def apply(mutant: Mutant, tree: Path) -> str | None:
    """Apply the slip; the reason it cannot be applied, or None."""
    path = tree / mutant.file
    if not path.is_file():
        return f"{mutant.file} does not exist"
    text = path.read_text()
    found = text.count(mutant.find)
    if found != 1:
        return f"the find text occurs {found} times in {mutant.file} (expected once)"
    path.write_text(text.replace(mutant.find, mutant.replace))
    return None


def run_tests(mutant: Mutant, tree: Path) -> tuple[int, float]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
    started = time.monotonic()
    try:
        done = subprocess.run(
            [*command, *mutant.tests],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return -1, time.monotonic() - started
    return done.returncode, time.monotonic() - started


def check(mutant: Mutant) -> bool:
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutant.id}-") as scratch:
        tree = Path(scratch)
        scratch_copy(tree)
        problem = apply(mutant, tree)
        if problem is not None:
            print(f"OUT OF DATE {mutant.id}: {problem}")
            return False
        code, elapsed_s = run_tests(mutant, tree)
    if code == 1:
        print(f"caught      {mutant.id} ({elapsed_s:.0f} s): {' '.join(mutant.tests)}")
        return True
    if code == -1:
        print(f"caught?     {mutant.id}: the tests hung past {TIMEOUT_S} s (a hang, not a fail)")
        return False
    verdict = "MISSED     " if code == 0 else f"ERROR ({code}) "
    print(f"{verdict} {mutant.id} ({elapsed_s:.0f} s): {mutant.breaks}")
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], metavar="ID")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    mutants = load_mutants()
    unknown = set(args.only) - {m.id for m in mutants}
    if unknown:
        parser.error(f"no such mutant: {', '.join(sorted(unknown))}")
    chosen = [m for m in mutants if not args.only or m.id in args.only]
    if args.list:
        for m in chosen:
            print(f"{m.id}: {m.file}: {m.breaks}\n    caught by {' '.join(m.tests)}")
        return 0
    results = [check(m) for m in chosen]
    print(f"{sum(results)} of {len(results)} slips caught")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
