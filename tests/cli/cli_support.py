"""Helpers for the CLI tests: running the real `driftdb` and hashing a database tree."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DRIFTDB = str(Path(sys.executable).parent / "driftdb")


@dataclass
class Ran:
    code: int
    out: str
    err: str


Runner = Callable[..., Ran]


def tree_digest(path: Path, truth_only: bool = False) -> str:
    """A hash of every file's name and bytes under `path` (LMDB's reader lock file aside), or
    with `truth_only` of the sources of truth alone: segments, snapshots and schema.yaml (a
    writer that opens and closes may refresh caches: meta.json, the LOCK holder line)."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        if file.name == "lock.mdb":
            continue
        if truth_only and not (file.suffix in (".seg", ".snap") or file.name == "schema.yaml"):
            continue
        digest.update(str(file.relative_to(path)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()
