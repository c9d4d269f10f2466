"""``vrx verify``: check a run's log (framing, checksums, dense seq, sync points, run end).

The verdict is one of ``OK`` (exit 0), ``INCOMPLETE`` (exit 3: no run end, or only crash residue
after the durable point) and ``CORRUPT`` (exit 65). Every problem is listed, not just the first:
the log is read in salvage mode and each bad line is skipped and reported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vrx_core.engine.provenance import provenance_problems
from vrx_core.errors import ExitCode
from vrx_core.events import EventRegistry
from vrx_core.log.reader import LogReader, Problem, ReadReport, durable_point, residue_at
from vrx_core.log.rundir import LOG, RunDir


@dataclass
class Verdict:
    """The outcome of a verification: status word, exit code, and everything found."""

    path: Path
    status: str
    exit_code: ExitCode
    report: ReadReport
    corrupt: list[Problem] = field(default_factory=list)
    residue: list[Problem] = field(default_factory=list)
    #: Problems contributed by plugins (for example the bundle manifest check).
    extra: list[str] = field(default_factory=list)
    #: Informational findings of plugins (a stale manifest): shown, never change the verdict.
    notes: list[str] = field(default_factory=list)

    def headline(self) -> str:
        r = self.report
        base = f"{self.status}: {self.path}: {r.lines} committed lines"
        if r.last_seq >= 0:
            base += f", seq 0..{r.last_seq}"
        if self.status == "CORRUPT":
            n = len(self.corrupt) + len(self.extra)
            return f"{base}; {n} problem{'s' if n != 1 else ''}"
        if self.status == "INCOMPLETE":
            why = (
                "crash residue after the durable point"
                if self.residue
                else "no run_end (crashed or still running)"
            )
            return f"{base}; {why}"
        return f"{base}; complete (run_end status {r.run_end.status if r.run_end else '?'})"

    def lines(self) -> list[str]:
        out = [self.headline()]
        out += [p.render(self.path) for p in self.corrupt]
        out += [p.render(self.path) + " [crash residue]" for p in self.residue]
        out += self.extra
        out += self.notes
        r = self.report
        if r.torn_tail_bytes:
            out.append(
                f"{self.path}: note: {r.torn_tail_bytes} uncommitted bytes after the last newline"
                " (a write in progress or torn by a crash; not part of the log)"
            )
        for kind, n in sorted(r.unknown.items()):
            out.append(
                f"{self.path}: note: {n} event(s) of unknown kind {kind!r} kept (plugin not installed?)"
            )
        return out

    def to_json(self) -> dict[str, Any]:
        r = self.report
        return {
            "path": os.fspath(self.path),
            "status": self.status,
            "exit_code": int(self.exit_code),
            "lines": r.lines,
            "last_seq": r.last_seq,
            "complete": r.complete,
            "durable_upto": r.durable_upto,
            "torn_tail_bytes": r.torn_tail_bytes,
            "problems": [
                {
                    "kind": p.kind,
                    "line": p.line,
                    "offset": p.offset,
                    "message": p.message,
                    "residue": p in self.residue,
                }
                for p in [*self.corrupt, *self.residue]
            ],
            "extra": self.extra,
            "notes": self.notes,
            "unknown_kinds": dict(sorted(r.unknown.items())),
        }


def verify_log(run_dir: str | os.PathLike[str], registry: EventRegistry | None = None) -> Verdict:
    """Read the whole log in salvage mode and classify what was found.

    Raises NoSuchRun (66) and NewerFormat (78); everything else becomes part of the verdict.
    """
    log = RunDir.log_path(run_dir)
    reader = LogReader(log, mode="salvage", registry=registry)
    for _ in reader:
        pass
    r = reader.report
    # Like recover mode, look past the damage: any valid sync line vouches for what precedes it.
    durable = durable_point(log, r) if r.problems else r.durable_upto
    corrupt = [p for p in r.problems if not residue_at(p, durable)]
    residue = [p for p in r.problems if p not in corrupt]
    if corrupt:
        status, code = "CORRUPT", ExitCode.DATAERR
    elif residue or not r.complete:
        status, code = "INCOMPLETE", ExitCode.INCOMPLETE
    else:
        status, code = "OK", ExitCode.OK
    verdict = Verdict(path=log, status=status, exit_code=code, report=r, corrupt=corrupt, residue=residue)
    if log.name == LOG:
        # A log shorter than, or different from, what an earlier replay derived from lost data.
        add_problems(verdict, provenance_problems(log.parent))
    return verdict


def add_problems(verdict: Verdict, problems: list[str]) -> None:
    """Fold plugins' findings into the verdict: any problem makes the run CORRUPT; lines that
    start with ``note: `` are shown but change nothing."""
    notes = [p for p in problems if p.startswith("note: ")]
    real = [p for p in problems if not p.startswith("note: ")]
    verdict.notes.extend(f"{verdict.path.parent}: {n}" for n in notes)
    if not real:
        return
    verdict.extra.extend(real)
    verdict.status, verdict.exit_code = "CORRUPT", ExitCode.DATAERR


@dataclass
class RunVerdict:
    """The verdicts of every log of a run: one for a single process, one per rank otherwise.

    A rank whose log is missing (the world size its peers recorded says it should exist) makes
    the run INCOMPLETE; the worst verdict decides the exit code (CORRUPT 65, INCOMPLETE 3, OK 0).
    """

    run_dir: Path
    verdicts: list[Verdict]
    missing_ranks: list[int] = field(default_factory=list)

    @property
    def multi_rank(self) -> bool:
        return len(self.verdicts) > 1 or self.verdicts[0].path.name != LOG

    @property
    def exit_code(self) -> ExitCode:
        codes = [v.exit_code for v in self.verdicts]
        if self.missing_ranks:
            codes.append(ExitCode.INCOMPLETE)
        for worst in (ExitCode.DATAERR, ExitCode.INCOMPLETE):
            if worst in codes:
                return worst
        return ExitCode.OK

    @property
    def status(self) -> str:
        return {ExitCode.DATAERR: "CORRUPT", ExitCode.INCOMPLETE: "INCOMPLETE"}.get(self.exit_code, "OK")

    def lines(self) -> list[str]:
        out: list[str] = []
        if self.multi_rank:
            n = len(self.verdicts) + len(self.missing_ranks)
            out.append(f"{self.status}: {self.run_dir}: {n} ranks, each log checked on its own")
            measured = {r: o for r, o in self.skew.items() if o is not None}
            if measured:
                offsets = ", ".join(f"rank {r} {o * 1000:+.3f} ms" for r, o in measured.items())
                out.append(f"{self.run_dir}: clock offset to rank 0, measured at start: {offsets}")
        for verdict in self.verdicts:
            out += verdict.lines()
        out += [
            f"{self.run_dir}: rank {r}: no log (events.rank{r}.jsonl missing)"
            for r in self.missing_ranks
        ]
        return out

    @property
    def skew(self) -> dict[str, float | None]:
        """Each rank's clock offset to rank 0 as its ``run_start`` recorded it (None: not measured)."""
        return {
            _rank_of(v.path): v.report.run_start.clock_offset_s if v.report.run_start else None
            for v in self.verdicts
        }

    def to_json(self) -> dict[str, Any]:
        if not self.multi_rank:
            return self.verdicts[0].to_json()
        return {
            "path": os.fspath(self.run_dir),
            "status": self.status,
            "exit_code": int(self.exit_code),
            "ranks": {_rank_of(v.path): v.to_json() for v in self.verdicts},
            "missing_ranks": self.missing_ranks,
            "clock_offset_s": self.skew,
        }


def verify_run(run_dir: str | os.PathLike[str], registry: EventRegistry | None = None) -> RunVerdict:
    """Verify every log of a run: its ``events.jsonl``, or each rank's log and the ranks missing."""
    path = Path(run_dir)
    run = RunDir.of(path)
    if path.is_file():
        return RunVerdict(run.root, [verify_log(path, registry)])
    logs = run.logs()
    verdicts = [verify_log(log, registry) for _, log in logs]
    world = max((v.report.run_start.world_size or 0 for v in verdicts if v.report.run_start), default=0)
    present = {rank for rank, _ in logs}
    missing = [r for r in range(world) if r not in present] if None not in present else []
    return RunVerdict(run.root, verdicts, missing)


def _rank_of(log: Path) -> str:
    return log.name.removeprefix("events.rank").removesuffix(".jsonl")
