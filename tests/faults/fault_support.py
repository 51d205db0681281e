"""Helpers of the fault-injection suite: a file layer that counts every call and fails the k-th
call of one kind, a representative workload to run under it, and the checks after it.

The oracle (`crash_support`) lives in tests/crash; this directory's conftest puts it on
sys.path, so the suite also runs on its own (`pytest tests/faults`).
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import sys
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crash_support import (
    Record,
    Verdict,
    Workload,
    check_log_against_record,
    compare_reads,
    create_tables,
    read_log,
)

import driftdb
from driftdb.storage import fs
from driftdb.storage.segment import scan_segment

KINDS = ("write", "fsync", "fsync_dir", "rename", "open_append", "truncate", "remove", "makedirs")
SAMPLE_ENV = "DRIFTDB_FAULT_SAMPLE"


def fault_sample() -> int:
    """How many k's per kind a test tries ($DRIFTDB_FAULT_SAMPLE; 0 means every one)."""
    try:
        return int(os.environ.get(SAMPLE_ENV, "10"))
    except ValueError:
        return 10


def pick(ks: list[int], rng: random.Random) -> list[int]:
    """All of `ks`, or a seeded sample that always keeps the first and the last."""
    limit = fault_sample()
    if limit <= 0 or len(ks) <= limit:
        return ks
    middle = rng.sample(ks[1:-1], limit - 2)
    return sorted({ks[0], ks[-1], *middle})


class Injected(OSError):
    """The OSError the layer raises (EIO by default), so a leak is recognisable."""


class FaultLayer(fs.FileLayer):
    """Counts calls per kind; fails call number `k` of kind `kind` (1-based) once.

    `half`: a failing write first puts half of its bytes in the file (a short write, as a
    full disk gives). `code`: the errno (EIO, ENOSPC...). `where` records, per failed call,
    the stack depth's innermost DriftDB function, for the report.
    """

    def __init__(
        self, kind: str | None = None, k: int = 0, *, code: int = errno.EIO, half: bool = False
    ) -> None:
        self.kind = kind
        self.k = k
        self.code = code
        self.half = half
        self.calls: Counter[str] = Counter()
        self.fired = False
        self.fired_in: str | None = None
        self.match: Callable[[str, tuple[Any, ...]], bool] | None = None

    def _maybe_fail(self, kind: str, *args: Any) -> bool:
        if self.match is not None and not self.match(kind, args):
            return False
        self.calls[kind] += 1
        if kind == self.kind and self.calls[kind] == self.k and not self.fired:
            self.fired = True
            self.fired_in = _caller()
            return True
        return False

    def _error(self) -> OSError:
        return Injected(self.code, f"injected {os.strerror(self.code)}")

    def open_append(self, path: str, create: bool) -> int:
        if self._maybe_fail("open_append", path):
            raise self._error()
        return super().open_append(path, create)

    def write(self, fd: int, data: bytes) -> None:
        if self._maybe_fail("write", fd, data):
            if self.half:
                super().write(fd, data[: len(data) // 2])
            raise self._error()
        super().write(fd, data)

    # No real fsync below: nothing in these tests cuts the power (the page cache is the disk),
    # and a real one costs milliseconds a call, hundreds of times a run.

    def fsync(self, fd: int) -> None:
        if self._maybe_fail("fsync", fd):
            raise self._error()

    def fsync_dir(self, path: str) -> None:
        if self._maybe_fail("fsync_dir", path):
            raise self._error()

    def rename(self, src: str, dst: str) -> None:
        if self._maybe_fail("rename", src, dst):
            raise self._error()
        super().rename(src, dst)

    def truncate(self, path: str, size_bytes: int) -> None:
        if self._maybe_fail("truncate", path, size_bytes):
            raise self._error()
        os.truncate(path, size_bytes)

    def makedirs(self, path: str) -> None:
        if self._maybe_fail("makedirs", path):
            raise self._error()
        super().makedirs(path)

    def remove(self, path: str) -> None:
        if self._maybe_fail("remove", path):
            raise self._error()
        super().remove(path)


def _caller() -> str:
    """The innermost DriftDB function on the stack (where the failed call was made)."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if "driftdb" in name and "storage/fs.py" not in name and "tests" not in name:
            return f"{Path(name).stem}.{frame.f_code.co_name}"
        frame = frame.f_back  # type: ignore[assignment]
    return "?"


# ---------------------------------------------------------------------------- workload


def make_template(directory: Path) -> Path:
    """A database with the workload's tables and a little history (built without faults)."""
    path = directory / "template"
    if not path.exists():
        with driftdb.open(path, create=True) as db:
            create_tables(db)
            workload = Workload(db, random.Random(7), "r0", Record())
            for _ in range(6):
                workload.step()
    return path


@dataclass
class Outcome:
    """What one run with one injected fault did."""

    kind: str
    k: int
    fired_in: str | None = None
    raised: str | None = None  # the exception type name the failing call gave, or None
    message: str = ""
    stopped: bool | None = None  # did the next write get WriterStoppedError?
    reopen_error: str | None = None
    verdict: Verdict = field(default_factory=Verdict)

    @property
    def leaked(self) -> bool:
        return self.raised is not None and self.raised not in _DRIFT_ERRORS

    def label(self) -> str:
        if self.raised is None:
            return "absorbed"
        return ("leaked " if self.leaked else "") + self.raised


_DRIFT_ERRORS = {
    name
    for name in dir(driftdb)
    if isinstance(getattr(driftdb, name), type)
    and issubclass(getattr(driftdb, name), driftdb.DriftError)
} | {"SnapshotError", "IngestError"}


def _torn_tail(db_path: Path) -> None:
    """Put half a frame after the last frame of table b's log, where the writer writes (over
    the zeros it may have left ahead of its frames): the next open has a torn tail to
    truncate."""
    segments = sorted((db_path / "tables" / "b" / "segments").glob("*.seg"))
    found = scan_segment(str(segments[-1].parent), int(segments[-1].stem))
    end = found.end_offset if found.zero_tail else segments[-1].stat().st_size
    with open(segments[-1], "r+b") as handle:
        handle.seek(end)
        handle.write(b"\x40\x00\x00\x00\x01\x02\x03\x04partial")


def run_workload(db_path: Path, layer: FaultLayer, record: Record, outcome: Outcome | None) -> None:
    """The representative workload, under `layer`:
    1. open; 30 calls through the API (inserts, patches, soft deletes, insert_many, batches
       across tables, segment rotation), with a snapshot and a compaction among them;
    2. close (meta.json is rewritten), tear table b's tail by hand;
    3. reopen (recovery truncates the torn tail), 10 more calls, close.
    The first DriftDB exception ends the run (after checking the writer refuses more writes).
    """
    rng = random.Random(11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", driftdb.DriftWarning)
        for phase, steps in ((1, 30), (2, 10)):
            if phase == 2:
                _torn_tail(db_path)
            try:
                with fs.use(layer):
                    db = driftdb.open(db_path)
            except Exception as exc:
                _failed(outcome, exc)
                return
            try:
                with fs.use(layer):
                    workload = Workload(db, rng, f"r{phase}", record)
                    for i in range(steps):
                        if i in (10, 28) or (phase == 2 and i == 8):
                            table = db.table("b" if i == 10 else "a")
                            action = getattr(table, "snapshot" if i == 10 else "compact", None)
                            if action is not None:
                                action()
                        workload.step()
            except Exception as exc:
                _failed(outcome, exc)
                if outcome is not None:
                    outcome.stopped = _next_write_is_refused(db, record)
                with fs.use(layer):
                    _close(db, outcome)
                return
            with fs.use(layer):
                _close(db, outcome)


def _failed(outcome: Outcome | None, exc: Exception) -> None:
    if outcome is None:
        raise exc
    outcome.raised = type(exc).__name__
    outcome.message = str(exc)


def _close(db: driftdb.Database, outcome: Outcome | None) -> None:
    try:
        db.close()
    except Exception as exc:
        if outcome is None:
            raise
        if outcome.raised is None:
            _failed(outcome, exc)


def _next_write_is_refused(db: driftdb.Database, record: Record) -> bool:
    doc = {"id": "after-the-failure", "w": "after-the-failure"}
    record.attempt(
        "after",
        [{"t": "b", "type": "INSERT", "key": doc["id"], "data": doc, "w": doc["w"], "group": None}],
    )
    try:
        with fs.use(fs.FileLayer()):
            seq = db.table("b").insert(doc)
        record.ack("after", [seq])
    except driftdb.WriterStoppedError:
        return True
    except Exception:
        return False
    return False


def count_calls(tmp_path: Path) -> Counter[str]:
    """How many calls of each kind the workload makes (no fault)."""
    db_path = tmp_path / "count"
    shutil.copytree(make_template(tmp_path), db_path)
    layer = FaultLayer()
    run_workload(db_path, layer, Record(), None)
    return layer.calls


def run_with_fault(tmp_path: Path, kind: str, k: int, **options: Any) -> Outcome:
    """Fail call k of `kind` during the workload, then reopen without faults and check:
    every acknowledged write is there, nothing else, batches whole, reads equal the replay."""
    db_path = tmp_path / f"{kind}-{k}"
    shutil.copytree(make_template(tmp_path), db_path)
    with driftdb.open(db_path, readonly=True):
        pass
    base = Record()
    # The template's own history counts as attempted and acknowledged.
    events = read_log(db_path)
    for name, evs in events.items():
        for e in evs:
            tag = (e.meta or {}).get("w") if (e.meta or {}).get("w") != "many" else None
            tag = tag or (e.data or {}).get("w")
            base.attempt(
                f"t.{tag}",
                [
                    {
                        "t": name,
                        "type": e.type.name,
                        "key": e.key,
                        "data": e.data,
                        "w": tag,
                        "group": None,
                    }
                ],
            )
            base.ack(f"t.{tag}", [e.seq])
    layer = FaultLayer(kind, k, **options)
    outcome = Outcome(kind, k)
    run_workload(db_path, layer, base, outcome)
    outcome.fired_in = layer.fired_in
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", driftdb.DriftWarning)
            db = driftdb.open(db_path)
    except Exception as exc:
        outcome.reopen_error = f"{type(exc).__name__}: {exc}"
        return outcome
    with db:
        events = read_log(db_path)
        check_log_against_record(events, base, outcome.verdict)
        compare_reads(db, events, random.Random(k), outcome.verdict)
        db.table("b").insert({"id": f"after-reopen-{kind}-{k}"})
    return outcome
