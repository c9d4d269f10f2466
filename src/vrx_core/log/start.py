"""What a :class:`~vrx_core.Recorder` settles before its first line and does after its last.

Before: refuse a resume mode the directory rules out, resolve the config (an unresolvable one
stops here, before any directory exists), collect the environment once, and place the run by its
layout. The start events (``layout``, ``environment``, ``config``) follow ``run_start``.
After: derive the run's files by replay (runs placed in a layout: their files are what the
layout promises) and print the plugins' end-of-run summaries on a terminal.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vrx_core.capture.ranks import Ranks, agree_on, clock_offset_s, distributed
from vrx_core.errors import NoSuchRun, RunExists, UsageError
from vrx_core.events import Environment, Event
from vrx_core.log import diagnostics
from vrx_core.log.layout import Layout, MgrLayout, RvinciLayout, create_run_dir
from vrx_core.log.rundir import RunDir

ResumeMode = Literal["auto", "allow", "never", "must"]


@dataclass
class StartPlan:
    """The directory a recorder writes to, the events that follow its ``run_start``, and for a
    rank of a distributed job its place and clock offset."""

    run_dir: Path
    events: list[Event] = field(default_factory=list)
    ranks: Ranks | None = None
    clock_offset_s: float | None = None


def plan_start(
    run_dir: str | os.PathLike[str] | None,
    *,
    layout: Layout | None,
    config: Any,
    environment: bool | Environment | None,
    ranks: Ranks | None = None,
) -> StartPlan:
    """Resolve ``config``, collect the environment and place the run (in that order: nothing is
    created for a config that cannot be resolved).

    ``environment``: an already collected event, True/False, or None (collected when a layout or
    a config is given: runs organised that way want it; a bare recorder stays a few ms to start).
    """
    if (run_dir is None) == (layout is None):
        raise TypeError("Recorder needs either a run directory or layout=..., not both")
    if layout is not None and not isinstance(layout, RvinciLayout | MgrLayout):
        raise TypeError(
            "Recorder layout= must be a RvinciLayout or MgrLayout (vrx_core.log.layout), "
            f"got {type(layout).__name__} {layout!r}"
        )
    dist = distributed() if ranks is not None else None
    offset = clock_offset_s(dist) if dist is not None else None
    if run_dir is not None and config is None and not environment:
        return StartPlan(Path(run_dir), ranks=ranks, clock_offset_s=offset)
    # Imported here: a bare recorder (every training rank) never pays for importlib.metadata.
    from vrx_core.capture.config import capture_config
    from vrx_core.capture.environment import collect_environment

    config_event = capture_config(config) if config is not None else None
    env: Environment | None
    if isinstance(environment, Environment):
        env = environment
    elif environment or (environment is None and (layout is not None or config is not None)):
        env = collect_environment()
    else:
        env = None
    events: list[Event] = []
    if layout is not None:
        run_dir = _place(layout, env, ranks, dist)
        events.append(layout.event(Path(run_dir).name))
    assert run_dir is not None
    events += [e for e in (env, config_event) if e is not None]
    return StartPlan(Path(run_dir), events, ranks=ranks, clock_offset_s=offset)


def _place(layout: Layout, env: Environment | None, ranks: Ranks | None, dist: Any) -> Path:
    """A new directory for the run; every rank of a distributed job gets rank 0's."""
    from vrx_core.capture.git import read_git, short_hash

    if ranks is not None and dist is None:
        raise UsageError(
            "a layout for a multi-rank run needs torch.distributed initialised (the ranks must agree "
            "on one new directory); pass the run directory instead"
        )
    made: Path | None = None
    if ranks is None or ranks.rank == 0:
        made = create_run_dir(layout, git_hash=short_hash(env.git if env is not None else read_git()))
    return Path(agree_on(dist, str(made))) if dist is not None else Path(str(made))


def rank_fields(plan: StartPlan) -> dict[str, Any]:
    """The ``run_start`` fields of a rank of a distributed job (none for a single process)."""
    r = plan.ranks
    if r is None:
        return {}
    return {
        "global_rank": r.rank,
        "world_size": r.world_size,
        "local_rank": r.local_rank,
        "monotonic": time.monotonic(),  # read with run_start's t: relates this rank's two clocks
        "clock_offset_s": plan.clock_offset_s,
    }


def check_logs(run: RunDir, rank: int | None) -> None:
    """A run is single-process or multi-rank, never both: refuse to mix the two kinds of log."""
    if rank is None and run.ranks():
        raise RunExists(
            "this run has per-rank logs (events.rank<R>.jsonl): record into it with rank= and "
            "world_size= (or torchrun's RANK/WORLD_SIZE), or use another directory",
            path=run.root,
        )
    if rank is not None and run.log.exists():
        raise RunExists(
            "this run was recorded by a single process (events.jsonl); a rank cannot join it",
            path=run.root,
        )


def check_resume(mode: ResumeMode, exists: bool, run_dir: Path) -> None:
    """Refuse what ``mode`` rules out before anything is written (an ended run is refused by
    the resume itself, which reads the log)."""
    if exists and mode == "never":
        raise RunExists(
            'a run is already recorded here and resume="never" only starts new runs; '
            'use another directory (Recorder.fresh("runs", "NAME") makes one) or resume="auto"',
            path=run_dir,
        )
    if not exists and mode == "must":
        raise NoSuchRun('no run to resume here (resume="must" requires one)', path=run_dir)


def wants_summary(summary: bool | None) -> bool:
    """``summary`` if given, else whether stdout is a terminal (piped output gets nothing extra)."""
    if summary is not None:
        return summary
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty())


def finish_run(run_dir: Path, *, derive: bool, summary: bool) -> None:
    """After ``run_end``: derive the run's files by replay (``derive``) and print the plugins'
    end-of-run summaries (``summary``). Never raises: the run is recorded whatever happens here,
    and a failure is one warning line saying how to finish by hand."""
    if not (derive or summary):
        return
    log = diagnostics.get_logger()
    try:
        # Bound late on purpose: only a run that asks for it pays for loading plugins and Rich.
        from vrx_core.hooks.manager import installed_plugins

        plugins = installed_plugins()
    except Exception as exc:
        log.warning(f"cannot load plugins to finish the run: {type(exc).__name__}: {exc}")
        return
    if derive:
        try:
            from vrx_core.engine.replay import replay

            failures = replay(run_dir, plugins).failures
        except Exception as exc:
            log.warning(f"deriving the run's files failed: {exc}; run `vrx replay {run_dir}`")
        else:
            for failure in failures:
                log.warning(f"deriving the run's files: {failure.render()}; run `vrx replay {run_dir}`")
    if summary:
        try:
            from rich.console import Console

            plugins.end_of_run(run_dir, Console())
        except Exception as exc:
            log.warning(f"end-of-run summary failed: {type(exc).__name__}: {exc}")


__all__ = [
    "StartPlan",
    "check_logs",
    "check_resume",
    "finish_run",
    "plan_start",
    "rank_fields",
    "wants_summary",
]
