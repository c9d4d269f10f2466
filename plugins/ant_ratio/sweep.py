"""A sweep session: run every configuration not yet finished in the sweep's log, one after another.

The sweep is a vrx run (``<run-dir>/events.jsonl``). Before a configuration runs, a
``sweep.config_start`` is recorded; after it, a ``sweep.config_result`` with the outcome and the
packet, then the sweep's outputs are derived again from the log (``derive``), so a sweep killed
at any moment keeps every finished row on disk. Rerun with the same run directory, it reopens the
log (``resume="allow"``: a crashed or an ended sweep), reads which configurations have a result,
and runs only the others; the remains of an interrupted configuration are set aside first,
because the probe refuses a directory a probe already wrote to.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from vrx_core.events import EventRegistry, Metric, Plan, RunStart
from vrx_core.log.reader import read_events
from vrx_core.log.rundir import RunDir
from vrx_core.log.writer import Recorder

from .sweep_events import SweepConfigResult, SweepConfigStarted, SweepStarted
from .sweep_plan import SweepConfig, SweepSettings, changed_settings
from .sweep_runner import SweepRunner
from .sweep_stages import ConfigPaths, Outcome, run_config, set_aside

RUN_NAME = "sweep"
CONFIGS_DIR = "configs"


@dataclass
class History:
    """What the sweep's log already holds (empty for a new sweep)."""

    exists: bool = False
    name: str | None = None
    settings: dict[str, Any] | None = None
    done: dict[str, str] = field(default_factory=dict)  # config id -> status
    starts: Counter[str] = field(default_factory=Counter)


def read_history(run_dir: Path, registry: EventRegistry) -> History:
    """The finished configurations and the last settings; a torn tail is ignored (recover mode)."""
    log = RunDir(run_dir).log
    if not log.is_file() or log.stat().st_size == 0:
        return History()
    h = History(exists=True)
    for ev in read_events(log, registry=registry):
        if isinstance(ev, RunStart):
            h.name = ev.name
        elif isinstance(ev, SweepStarted):
            h.settings = ev.settings
        elif isinstance(ev, SweepConfigStarted):
            h.starts[ev.config_id] += 1
        elif isinstance(ev, SweepConfigResult):
            h.done[ev.config_id] = ev.status
    return h


def resume_problem(h: History, settings: SweepSettings) -> str | None:
    """Why this run directory cannot take this sweep, or None."""
    if not h.exists:
        return None
    if h.name != RUN_NAME:
        return "it holds a vrx run that is not a sweep (use a new --run-dir)"
    changed = changed_settings(h.settings, settings.as_dict()) if h.settings is not None else []
    if changed:
        return (
            f"the sweep there ran with other settings ({', '.join(changed)}); its rows would not be "
            "comparable: resume it with the same settings or use a new --run-dir"
        )
    return None


@dataclass
class Tally:
    """The sweep's outcomes so far, earlier sessions' included; ``ran`` counts this session's."""

    ran: int = 0
    skipped: int = 0
    ok: int = 0
    error: int = 0

    def count(self, status: str) -> None:
        if status == "ok":
            self.ok += 1
        else:
            self.error += 1


@dataclass
class SweepSession:
    run_dir: Path
    settings: SweepSettings
    configs: list[SweepConfig]
    runner: SweepRunner
    registry: EventRegistry
    #: Re-derives the sweep's outputs from its log (a replay); called after every configuration.
    derive: Callable[[], None]
    argv: list[str] = field(default_factory=list)
    batch_targets: str | None = None
    err: TextIO = field(default_factory=lambda: sys.stderr)


def run_sweep(s: SweepSession) -> Tally:
    """Run the configurations the log does not have a result for; returns what happened overall."""
    history = read_history(s.run_dir, s.registry)
    rec = Recorder(s.run_dir, resume="allow", registry=s.registry, name=RUN_NAME)
    try:
        tally = _session(s, rec, history)
    except BaseException as exc:
        rec.close("interrupted" if isinstance(exc, KeyboardInterrupt) else "error", repr(exc))
        _flush(s)
        raise
    rec.close("ok")
    _flush(s)
    return tally


def _session(s: SweepSession, rec: Recorder, history: History) -> Tally:
    done = {c.config_id for c in s.configs if c.config_id in history.done}
    tally = Tally(skipped=len(done))
    for config_id in done:
        tally.count(history.done[config_id])
    rec.emit(
        SweepStarted(
            argv=s.argv, settings=s.settings.as_dict(), configs=[c.as_dict() for c in s.configs],
            skipped=sorted(done), batch_targets=s.batch_targets,
        )
    )
    rec.emit(Plan(total=len(s.configs), unit="configs"))
    if done:
        print(f"vrx sweep: resuming {s.run_dir}: {len(done)} of {len(s.configs)} done", file=s.err)
    _flush(s)
    for index, cfg in enumerate(s.configs, 1):
        if cfg.config_id in done:
            continue
        out = _run_one(s, rec, cfg, index, history.starts[cfg.config_id] + 1)
        tally.ran += 1
        tally.count(out.status)
        finished = tally.ok + tally.error
        rec.emit(Metric(name="sweep/configs_done", value=float(finished), step=finished))
        _flush(s)
    return tally


def _run_one(s: SweepSession, rec: Recorder, cfg: SweepConfig, index: int, attempt: int) -> Outcome:
    root = s.run_dir / CONFIGS_DIR / cfg.config_id
    aside = set_aside(root, "interrupted")
    rec.emit(
        SweepConfigStarted(
            config_id=cfg.config_id, index=index, total=len(s.configs), tier=cfg.tier,
            expert_heads=cfg.expert_heads, batch=cfg.batch, steps=cfg.steps, config_dir=_rel(root, s.run_dir),
            attempt=attempt, set_aside=_rel(aside, s.run_dir) if aside is not None else None,
        )
    )
    start = time.monotonic()
    paths = ConfigPaths(root, s.settings.cap_seed)
    out = run_config(s.runner, s.settings, cfg, paths)
    seconds = round(time.monotonic() - start, 3)
    rec.emit(
        SweepConfigResult(
            config_id=cfg.config_id, index=index, tier=cfg.tier, expert_heads=cfg.expert_heads,
            batch=cfg.batch, steps=cfg.steps, status=out.status,
            reasons=out.reasons, probe_pass=out.probe_pass, stages=out.stages, seconds=seconds,
            probe_run_root=_rel(paths.probe, s.run_dir), assoc_run_root=_rel(paths.assoc, s.run_dir),
            packet=out.packet,
        )
    )
    print(progress_line(index, len(s.configs), cfg, out, seconds), file=s.err, flush=True)
    return out


def progress_line(index: int, total: int, cfg: SweepConfig, out: Outcome, seconds: float) -> str:
    head = f"[sweep {index}/{total}] {cfg.config_id}"
    if out.status != "ok":
        return f"{head} error: {'; '.join(out.reasons)} ({seconds:.1f} s)"
    p = out.packet or {}
    probe = "PASS" if out.probe_pass else "FAIL"
    parts = [f"probe {probe}", f"vram {_num(p.get('vram_ratio_reserved'), '.3f')}"]
    parts.append(f"{_num(p.get('throughput_tokens_per_s'), ',.0f')} tokens/s")
    parts.append(f"assoc acc {_num(p.get('assoc_byte_disjoint_accuracy'), '.4f')}")
    return f"{head} ok: {', '.join(parts)} ({seconds:.1f} s)"


def _num(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, int | float) and not isinstance(value, bool) else "n/a"


def _rel(path: Path, run_dir: Path) -> str:
    return path.relative_to(run_dir).as_posix()


def _flush(s: SweepSession) -> None:
    """Re-derive the outputs; a failure is a warning, never the end of the sweep (the log has it all)."""
    try:
        s.derive()
    except Exception as exc:
        print(f"vrx sweep: warning: outputs not re-derived: {type(exc).__name__}: {exc}", file=s.err)
