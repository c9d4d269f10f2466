"""What a :class:`~vrx_core.Recorder` settles before its first line and does after its last.

Before: refuse a resume mode the directory rules out, resolve the config (an unresolvable one
stops here, before any directory exists), collect the environment once, and place the run by its
layout. The start events (``layout``, ``environment``, ``config``) follow ``run_start``.
After: print the plugins' end-of-run summaries on a terminal.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vrx_core.errors import NoSuchRun, RunExists
from vrx_core.events import Environment, Event
from vrx_core.log import diagnostics
from vrx_core.log.layout import Layout, create_run_dir

ResumeMode = Literal["auto", "allow", "never", "must"]


@dataclass
class StartPlan:
    """The directory a recorder writes to and the events that follow its ``run_start``."""

    run_dir: Path
    events: list[Event] = field(default_factory=list)


def plan_start(
    run_dir: str | os.PathLike[str] | None,
    *,
    layout: Layout | None,
    config: Any,
    environment: bool | Environment | None,
) -> StartPlan:
    """Resolve ``config``, collect the environment and place the run (in that order: nothing is
    created for a config that cannot be resolved).

    ``environment``: an already collected event, True/False, or None (collected when a layout or
    a config is given: runs organised that way want it; a bare recorder stays a few ms to start).
    """
    if (run_dir is None) == (layout is None):
        raise TypeError("Recorder needs either a run directory or layout=..., not both")
    if run_dir is not None and config is None and not environment:
        return StartPlan(Path(run_dir))
    # Imported here: a bare recorder (every training rank) never pays for importlib.metadata.
    from vrx_core.capture.config import capture_config
    from vrx_core.capture.environment import collect_environment
    from vrx_core.capture.git import read_git, short_hash

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
        git = env.git if env is not None else read_git()
        run_dir = create_run_dir(layout, git_hash=short_hash(git))
        events.append(layout.event(Path(run_dir).name))
    assert run_dir is not None
    events += [e for e in (env, config_event) if e is not None]
    return StartPlan(Path(run_dir), events)


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


def print_summary(run_dir: Path) -> None:
    """The installed plugins' end-of-run summaries of ``run_dir``; never raises."""
    try:
        # Bound late on purpose: only a run ending on a terminal pays for loading plugins and Rich.
        from rich.console import Console

        from vrx_core.hooks.manager import print_end_of_run

        print_end_of_run(run_dir, Console())
    except Exception as exc:
        diagnostics.get_logger().warning(f"end-of-run summary failed: {type(exc).__name__}: {exc}")


__all__ = ["StartPlan", "check_resume", "plan_start", "print_summary", "wants_summary"]
