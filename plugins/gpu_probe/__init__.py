"""gpu_probe: the GPU capacity probe of objective_contract_v1 on the ring-pointer workload, as events.

Hook glue only; the logic lives beside it: ``args`` (argument rules, ids), ``session`` and
``runner`` (recording a probe), ``watchdog``, ``envinfo`` (``env.json``), ``fold``/``stats``
(the original's metrics from the events), ``formats`` (artifact bytes), ``derive``, ``alerts``,
``cli`` (``vrx probe``) and ``workload_cli`` (``vrx workload``).
"""

from __future__ import annotations

from pathlib import Path

from vrx_core import hookimpl
from vrx_core.events import Event
from vrx_core.hooks.api import AlertRules, Deriver, ReplayContext
from vrx_core.hooks.host import Commands

from .events import KINDS


@hookimpl
def vrx_event_kinds() -> list[type[Event]]:
    return list(KINDS)


@hookimpl
def vrx_add_commands(commands: Commands) -> None:
    from .cli import add_probe_commands
    from .workload_cli import add_workload_commands

    add_probe_commands(commands)
    add_workload_commands(commands)


@hookimpl
def vrx_deriver(context: ReplayContext) -> Deriver:
    from .derive import ProbeDeriver

    return ProbeDeriver()


@hookimpl
def vrx_alert_rules(context: ReplayContext, stall_after_s: float) -> AlertRules:
    from .alerts import ProbeAlertRules

    return ProbeAlertRules()


@hookimpl
def vrx_run_verdict(run_dir: Path) -> str | None:
    """PASS or FAIL of a probe run: the locked rule on the ``metrics.json`` this plugin derived."""
    from vrx_core.engine.runinfo import read_own, read_own_json

    from ..workloads.contract import is_probe_pass

    metrics = read_own_json(run_dir, "metrics.json", "gpu_probe")
    if metrics is None and read_own(run_dir, "metrics.json", "gpu_probe") is None:
        return None  # another plugin's metrics.json (a triage bundle), or not derived by a replay
    return "PASS" if isinstance(metrics, dict) and is_probe_pass(metrics) else "FAIL"
