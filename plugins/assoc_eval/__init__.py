"""assoc_eval: the assoc-byte capability eval (ORIGINS 2.6) on the ring-pointer model, as events.

Hook glue only; the logic lives beside it: ``task`` (the task generator), ``settings`` (defaults,
token budget, checks), ``ckpt`` (checkpoint layouts and shape inference), ``runner`` (training and
eval loops), ``plans`` (what a command will run), ``session`` (recording), ``fold``/``report``/
``derive`` (``report.json`` by replay) and ``cli`` (``vrx assoc run|eval``).
"""

from __future__ import annotations

from pathlib import Path

from vrx_core import hookimpl
from vrx_core.events import Event
from vrx_core.hooks.api import Deriver, ReplayContext
from vrx_core.hooks.host import Commands

from .events import KINDS


@hookimpl
def vrx_event_kinds() -> list[type[Event]]:
    return list(KINDS)


@hookimpl
def vrx_add_commands(commands: Commands) -> None:
    from .cli import add_assoc_commands

    add_assoc_commands(commands)


@hookimpl
def vrx_deriver(context: ReplayContext) -> Deriver:
    from .derive import AssocDeriver

    return AssocDeriver()


@hookimpl
def vrx_run_verdict(run_dir: Path) -> str | None:
    """``acc <eval_acc>`` of the ``report.json`` this plugin derived (the report has no pass/fail)."""
    from vrx_core.engine.runinfo import read_own_json

    report = read_own_json(run_dir, "report.json", "assoc_eval")
    if report is None:
        return None
    evaluation = report.get("eval") if isinstance(report, dict) else None
    acc = evaluation.get("eval_acc") if isinstance(evaluation, dict) else None
    if not isinstance(acc, int | float) or isinstance(acc, bool):
        return "no eval"
    return f"acc {acc:.4f}"
