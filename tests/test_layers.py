"""The package's imports point down its layers and form no cycle (scripts/check_layers.py)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_layers", ROOT / "scripts/check_layers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_import_of_the_package_points_down_and_no_cycle_exists() -> None:
    assert _checker().check(ROOT / "src") == []


@pytest.mark.parametrize(
    ("module", "line", "found"),
    [
        (
            "storage/varint.py",
            "def _up() -> None:\n    from driftdb.database import Database  # noqa\n",
            "storage layer imports driftdb.database (api layer)",
        ),
        (
            "model/clock.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import driftdb.index.store\n",
            "model layer imports driftdb.index.store (index layer)",
        ),
        (
            "query/planner.py",
            "from driftdb.engine.view import TableView  # noqa\n",
            "query layer imports driftdb.engine.view (engine layer)",
        ),
    ],
)
def test_an_upward_import_fails_the_check_even_when_hidden(
    tmp_path: Path, module: str, line: str, found: str
) -> None:
    shutil.copytree(ROOT / "src" / "driftdb", tmp_path / "driftdb")
    target = tmp_path / "driftdb" / module
    target.write_text(target.read_text() + "\n" + line)
    problems = _checker().check(tmp_path)
    assert any(found in problem for problem in problems), problems


def test_a_cycle_within_a_layer_fails_the_check(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "src" / "driftdb", tmp_path / "driftdb")
    target = tmp_path / "driftdb" / "model" / "events.py"
    target.write_text(target.read_text() + "\nimport driftdb.model.replay  # noqa\n")
    problems = _checker().check(tmp_path)
    assert any(p.startswith("import cycle:") and "driftdb.model.replay" in p for p in problems)
