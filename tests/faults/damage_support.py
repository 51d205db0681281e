"""Damage a copy of a database (bit flips, byte changes, truncation at seeded offsets) and judge
what DriftDB does with it against a replay of the intact log.

The acceptable outcomes, per the promises:
- refused: opening raises CorruptionError (or, for schema.yaml, another DriftError) whose
  message names the damaged file (and, for a segment, the offset);
- recovered: it opens, and if the log it keeps differs from the intact one it said so with a
  DriftWarning; every answer equals the replay of the log it keeps;
- rebuilt: the same, for a damaged cache (index, meta.json, snapshot): answers equal the
  replay of the intact log.
Never: an exception that is not a DriftError, a crash, a silently shorter history, or an
answer that differs from the replay.

This module also runs as a child process (`python damage_support.py PRISTINE TRIAL FILE
OFFSET`) for damage to LMDB files, which a C library reads: a crash there must not take the
test run with it.
"""

from __future__ import annotations

import importlib.util
import json
import random
import struct
import subprocess
import sys
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "crash"))

from crash_support import Verdict, compare_reads, read_log, visible_log  # noqa: E402

import driftdb  # noqa: E402
from driftdb.model.events import Event, EventType, unpack_event  # noqa: E402
from driftdb.storage.frame import HEADER_SIZE  # noqa: E402
from driftdb.storage.paths import list_segments  # noqa: E402
from driftdb.storage.segment import scan_bytes  # noqa: E402
from driftdb.storage.tail import read_tail  # noqa: E402

HAS_DOCTOR = importlib.util.find_spec("driftdb.maintenance.doctor") is not None


@dataclass
class Judgement:
    """What happened to one damaged copy."""

    file: str
    offset: int
    damage: str
    outcome: str = ""  # refused|recovered|rebuilt|latent|unaffected|leaked|wrong|crashed
    message: str = ""
    warned: bool = False
    problems: list[str] = field(default_factory=list)
    repaired: str | None = None  # after doctor.repair: "restored" | "lost-intact-frames" | ...

    @property
    def bad(self) -> bool:
        return bool(self.problems) or self.outcome in ("leaked", "wrong", "crashed")


def damage(path: Path, rng: random.Random, kind: str | None = None) -> tuple[int, str]:
    """Damage `path` in place at a seeded offset: flip one bit, replace one byte, or truncate.
    Returns (offset, what was done)."""
    data = bytearray(path.read_bytes())
    kind = kind or rng.choice(["bit", "bit", "byte", "truncate"])
    if not data:
        return 0, "empty"
    offset = rng.randrange(len(data))
    if kind == "bit":
        data[offset] ^= 1 << rng.randrange(8)
    elif kind == "byte":
        data[offset] = (data[offset] + rng.randint(1, 255)) % 256
    elif kind == "length":  # a frame length field set to 4 GiB - 1
        struct.pack_into("<I", data, offset, 0xFFFFFFFF)
    else:
        del data[offset:]
    path.write_bytes(bytes(data))
    return offset, kind


def _same(a: Event, b: Event) -> bool:
    return (a.seq, a.unix_ms, a.type, a.key, a.data, a.meta, a.txn) == (
        b.seq,
        b.unix_ms,
        b.type,
        b.key,
        b.data,
        b.meta,
        b.txn,
    )


def _restored(a: Event, b: Event) -> bool:
    """`a` is `b` as doctor --repair rebuilt it from the index's row images: the same seq,
    time, type and key; an INSERT's document exactly; a PATCH as a merge patch marked
    reconstructed (whether it gives the same rows is checked by the answers against the
    replay); the audit meta is not in the index and the batch mark only comes back when other
    events of the batch survived."""
    if (a.seq, a.unix_ms, a.type, a.key) != (b.seq, b.unix_ms, b.type, b.key):
        return False
    if a.meta == {"reconstructed": True}:
        return a.type is EventType.PATCH
    return a.data == b.data and a.meta is None


def _log_problems(kept: dict[str, list[Event]], intact: dict[str, list[Event]]) -> list[str]:
    """Every kept event must be an intact event, unchanged, or restored from the index."""
    out = []
    for name, events in kept.items():
        by_seq = {e.seq: e for e in intact.get(name, [])}
        for e in events:
            if e.seq not in by_seq or not (_same(e, by_seq[e.seq]) or _restored(e, by_seq[e.seq])):
                out.append(f"{name}: seq {e.seq} is not the intact event")
    return out


def judge(pristine: Path, trial: Path, rel_file: str, offset: int, what: str) -> Judgement:
    """Open the damaged copy as a reader, then as the writer, and compare every answer."""
    j = Judgement(rel_file, offset, what)
    intact = read_log(pristine)
    pks = {name: "id" for name in intact}
    rng = random.Random(f"{rel_file}:{offset}")
    verdict = Verdict()
    # 1. A reader: a DriftError, or answers equal to the replay of what it may see.
    try:
        visible = visible_log(trial)
    except Exception:
        visible = None  # not a torn tail: the reader must refuse, or see the intact prefix
    # The reader may answer from its (intact) index, or from the prefix of the log it can
    # read: both are states the database was in. Anything else is a wrong answer.
    seed = rng.random()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with driftdb.open(trial, readonly=True) as reader:
                compare_reads(
                    reader, intact, random.Random(seed), verdict, pks, tolerate_corruption=True
                )
                if verdict.problems and visible is not None:
                    verdict = Verdict()
                    compare_reads(
                        reader, visible, random.Random(seed), verdict, pks, tolerate_corruption=True
                    )
    except driftdb.DriftError:
        pass
    except Exception as exc:
        j.problems.append(f"reader: {type(exc).__name__}: {exc}")
    j.problems += [f"reader: {p}" for p in verdict.problems]
    # 2. The writer.
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            db = driftdb.open(trial)
    except driftdb.DriftError as exc:
        j.outcome, j.message = "refused", f"{type(exc).__name__}: {exc}"
        named = rel_file in str(exc) or (
            "indexes" in rel_file and rel_file.rsplit("/", 1)[0] in str(exc)
        )
        if not named:
            j.problems.append(f"the error does not name {rel_file}: {exc}")
        return j
    except Exception as exc:
        j.outcome, j.message = "leaked", f"{type(exc).__name__}: {exc}"
        return j
    j.warned = any(issubclass(w.category, driftdb.DriftWarning) for w in caught)
    j.message = "; ".join(str(w.message) for w in caught)[:500]
    with db:
        kept = surviving_log(trial)
        j.problems += _log_problems(kept, intact)
        changed = {n: [e.seq for e in v] for n, v in kept.items()} != {
            n: [e.seq for e in v] for n, v in intact.items()
        }
        # Without a warning the answers must be the intact ones (damage in frames the index
        # already covers is found when a read touches them, or by doctor); with one, the
        # replay of what the log still holds.
        oracle = kept if j.warned else intact
        verdict = Verdict()
        try:
            compare_reads(db, oracle, rng, verdict, pks, tolerate_corruption=True)
        except driftdb.DriftError as exc:
            verdict.problem(f"a read failed after open: {type(exc).__name__}: {exc}")
        except Exception as exc:
            j.outcome, j.message = "leaked", f"read: {type(exc).__name__}: {exc}"
            return j
        if verdict.problems:
            j.outcome = "wrong"
            j.problems += verdict.problems[:5]
        elif changed and j.warned:
            j.outcome = "recovered"
        elif changed:
            j.outcome = "latent"  # answers right; the damaged frame awaits a read or doctor
        else:
            j.outcome = "rebuilt" if j.warned else "unaffected"
    if j.outcome == "latent" and HAS_DOCTOR:
        from driftdb import doctor

        # (An acknowledged, indexed last frame with a bad CRC is reported only as a warning,
        # "torn tail": see test_fault_damage's strict xfail about it.)
        report = doctor.check(trial)
        if not any(
            f.severity in ("error", "warning") and f.file == rel_file for f in report.findings
        ):
            j.problems.append("doctor.check does not report the damaged frame")
    return j


def surviving_log(db_path: Path) -> dict[str, list[Event]]:
    """Every frame of every table that is still intact, skipping damaged byte ranges (the way
    doctor surveys a log), decoded to events."""
    out: dict[str, list[Event]] = {}
    for table_dir in sorted((db_path / "tables").iterdir()):
        if not (table_dir / "schema.yaml").is_file():
            continue
        events: list[Event] = []
        last = -1
        for number in list_segments(str(table_dir / "segments")):
            data = (table_dir / "segments" / f"{number:08d}.seg").read_bytes()
            start = HEADER_SIZE
            while start < len(data):
                result = scan_bytes(data[start:], "", number, start, last, base=start)
                for record in result.frames:
                    body = record.body
                    try:
                        events.append(
                            unpack_event(body.seq, body.unix_ms, body.event_type, body.payload)
                        )
                    except ValueError:
                        continue
                    last = body.seq
                if result.problem is None or result.problem.next_good_offset is None:
                    break
                start = result.problem.next_good_offset
        out[table_dir.name] = events
    return out


def judge_repair(pristine: Path, trial: Path, rel_file: str, offset: int, what: str) -> str:
    """Run doctor.repair on a copy that open refused: every intact frame outside the damaged
    bytes (and outside batches that lost an event there) must be back, unchanged."""
    from driftdb import doctor

    intact = read_log(pristine)
    report = doctor.repair(trial)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            db = driftdb.open(trial)
        except driftdb.DriftError as exc:
            return f"still refused after repair: {exc}; report: {report.render()[-400:]}"
    with db:
        kept = read_log(trial)
        problems = _log_problems(kept, intact)
        verdict = Verdict()
        compare_reads(db, kept, random.Random(offset), verdict, {n: "id" for n in intact})
        problems += [f"after repair: {p}" for p in verdict.problems]
    # Which intact frames did the damage touch?
    table = rel_file.split("/")[1]
    segment = int(Path(rel_file).stem) if rel_file.endswith(".seg") else None
    touched: set[int] = set()
    tail = read_tail(str(pristine / "tables" / table / "segments"), None)
    for item in tail.located:
        if item.segment != segment:
            continue
        cut = what == "truncate" and item.end_offset > offset
        if cut or item.offset <= offset < item.end_offset:
            touched.add(item.event.seq)
    firsts = {e.txn.first for e in intact[table] if e.seq in touched and e.txn is not None}
    expected_gone = touched | {
        e.seq for evs in intact.values() for e in evs if e.txn is not None and e.txn.first in firsts
    }
    kept_seqs = {e.seq for evs in kept.values() for e in evs}
    missing = [
        e.seq
        for evs in intact.values()
        for e in evs
        if e.seq not in expected_gone and e.seq not in kept_seqs
    ]
    if missing:
        problems.append(f"repair dropped intact frames: seqs {missing[:10]}")
    return "; ".join(problems[:5]) if problems else "restored"


def judge_in_child(pristine: Path, trial: Path, rel_file: str, offset: int, what: str) -> Judgement:
    """`judge` in a child process: a crash (e.g. SIGSEGV in a C library) is an outcome."""
    done = subprocess.run(
        [sys.executable, __file__, str(pristine), str(trial), rel_file, str(offset), what],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        j = Judgement(
            rel_file,
            offset,
            what,
            outcome="crashed",
            message=f"exit {done.returncode}: {done.stderr[-800:]}",
        )
        j.problems.append(j.message)
        return j
    return Judgement(**json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str]) -> None:
    pristine, trial, rel_file, offset, what = argv
    j = judge(Path(pristine), Path(trial), rel_file, int(offset), what)
    sys.stdout.write(json.dumps(asdict(j)) + "\n")


def files_of(db_path: Path, kind: str) -> list[str]:
    """Relative paths of the files of one kind in a database."""
    patterns = {
        "segment": "tables/*/segments/*.seg",
        "snapshot": "tables/*/snapshots/*.snap",
        "index": "tables/*/indexes/data.mdb",
        "meta": "tables/*/meta.json",
        "schema": "tables/*/schema.yaml",
    }
    return sorted(str(p.relative_to(db_path)) for p in db_path.glob(patterns[kind]))


def judgement_figures(judgements: list[Judgement]) -> dict[str, Any]:
    outcomes: dict[str, int] = {}
    for j in judgements:
        outcomes[j.outcome] = outcomes.get(j.outcome, 0) + 1
    return {
        "injected": len(judgements),
        "outcomes": outcomes,
        "bad": sum(j.bad for j in judgements),
        "repaired": sum(j.repaired == "restored" for j in judgements),
        "repair_failed": sum(j.repaired not in (None, "restored") for j in judgements),
    }


if __name__ == "__main__":
    main(sys.argv[1:])
