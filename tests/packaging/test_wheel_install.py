"""The package installs cleanly: the wheel built by `python -m build` installs into a fresh
virtual environment, where `driftdb --version`, `python -m driftdb` and one query run, and
`import driftdb` loads neither the CLI's packages (click, rich) nor any optional one."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*argv: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"{argv}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_import_driftdb_loads_no_cli_or_optional_package() -> None:
    code = (
        "import sys, driftdb, driftdb.dbapi, driftdb.frames, driftdb.duckdb_bridge;"
        "print(sorted(m for m in ('click', 'rich', 'pyarrow', 'pandas', 'polars', 'duckdb')"
        " if m in sys.modules))"
    )
    assert run(sys.executable, "-c", code).strip() == "[]"


def test_python_dash_m_driftdb_is_the_cli() -> None:
    import driftdb

    assert run(sys.executable, "-m", "driftdb", "--version").strip() == (
        f"driftdb, version {driftdb.__version__}"
    )


@pytest.mark.slow  # builds a wheel and installs it with its dependencies: about a minute
def test_the_built_wheel_installs_into_a_fresh_venv_and_runs(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--wheel", "--outdir", dist, ROOT)
    (wheel,) = dist.glob("driftdb-*.whl")
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", wheel)
    driftdb = env / "bin" / "driftdb"
    assert run(driftdb, "--version").startswith("driftdb, version ")
    run(driftdb, "init", tmp_path / "shop.db")
    run(driftdb, "sql", "-d", tmp_path / "shop.db", "-e", "CREATE TABLE t (pk=id)")
    run(driftdb, "sql", "-d", tmp_path / "shop.db", "-e", "INSERT INTO t {'id': 1}")
    out = run(python, "-m", "driftdb", "sql", "-d", tmp_path / "shop.db", "--format", "json",
              "-e", "SELECT * FROM t")  # fmt: skip
    assert out.strip() == '[{"id": 1}]'
    typed = run(python, "-c", "import driftdb, pathlib; print(pathlib.Path(driftdb.__file__)"
                ".with_name('py.typed').exists())")  # fmt: skip
    assert typed.strip() == "True"
    missing = subprocess.run(
        [python, "-c", "import driftdb; db = driftdb.open('x', create=True);"
         "db.create_table('t').to_arrow()"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert 'pip install "driftdb[arrow]"' in missing.stderr
