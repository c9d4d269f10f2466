"""telemetry: summary.json (mgr.telemetry.v1) and run.md for any run with metrics; vrx regressions.

Hook glue only: the fold and formulas live in ``summary`` (and ``meta``), ``run.md`` in ``runmd``,
the end-of-run table in ``console``, the deriver in ``derive``, and ``vrx regressions`` in
``regressions*``. See docs/summary.md and docs/regressions.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vrx_core import hookimpl
from vrx_core.hooks.api import Deriver, ReplayContext
from vrx_core.hooks.host import Commands


@hookimpl
def vrx_deriver(context: ReplayContext) -> Deriver:
    from .derive import TelemetryDeriver

    return TelemetryDeriver()


@hookimpl
def vrx_end_of_run(run_dir: Path, console: Any) -> None:
    """The summary table of a run that recorded metrics; nothing for any other run."""
    from vrx_core.events import core_registry
    from vrx_core.log.reader import read_events

    from .console import print_table
    from .summary import TelemetryFold, build_summary

    fold = TelemetryFold()
    for event in read_events(run_dir, registry=core_registry()):
        fold.add(event)
    if fold.has_metrics:
        print_table(console, build_summary(fold), run_dir)


@hookimpl
def vrx_add_commands(commands: Commands) -> None:
    from .regressions_cli import add_regressions

    add_regressions(commands)
