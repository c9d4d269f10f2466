"""frame_triage: camera frame-capture triage bundles (triage_bundle.md), recomputable from any log.

Hook glue only; the logic lives beside it: ``sim`` (deterministic camera), ``metrics`` (fps, drops,
interval, jitter), ``formats`` (bundle file layouts), ``scenario`` (schema), ``labops`` (old bundles),
``capture`` (recording), ``cli`` (``vrx triage``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

from vrx_core import hookimpl
from vrx_core.events import Event
from vrx_core.hooks.api import Deriver, ReplayContext
from vrx_core.hooks.host import Commands

if TYPE_CHECKING:
    from vrx_core.hooks.manager import PluginSet

from . import backends
from .events import KINDS

SCENARIOS = Path(__file__).resolve().parent / "scenarios"


@hookimpl
def vrx_add_hookspecs(pluginmanager: pluggy.PluginManager) -> None:
    pluginmanager.add_hookspecs(backends.BackendSpecs)


@hookimpl
def vrx_event_kinds() -> list[type[Event]]:
    return list(KINDS)


@hookimpl
def vrx_deriver(context: ReplayContext) -> Deriver:
    from .derive import TriageDeriver

    return TriageDeriver()


@hookimpl
def vrx_add_commands(commands: Commands) -> None:
    from .cli import add_commands

    add_commands(commands)


@hookimpl
def vrx_triage_backends() -> dict[str, backends.CameraBackend]:
    return {"sim": backends.SimBackend()}


@hookimpl
def vrx_demo(parent: Path, plugins: PluginSet) -> list[str]:
    """Record the dropped_frames starter scenario (1.2 s, simulated) and report its bundle."""
    from vrx_core.engine.replay import replay

    from .capture import ScenarioInput, new_run_dir, record_capture
    from .scenario_file import load_scenario

    raw, doc = load_scenario(SCENARIOS / "dropped_frames.json")
    created = time.time_ns()
    run_dir, run_id = new_run_dir(parent / "triage", None, created)
    scenario = ScenarioInput(raw, doc, "dropped_frames")
    record_capture(
        run_dir, run_id, scenario, backends.SimBackend(), created_ns=created, registry=plugins.registry
    )
    snap = replay(run_dir, plugins).snapshots.get("frame_triage", {})
    lines = [
        f"simulated camera capture -> {run_dir}",
        "  scenario dropped_frames: injected drops, jitter and reordering, so its thresholds fail",
    ]
    lines += [
        f"  {t['name']} {t['op']} {t['limit']}: actual {t['actual']:.3f}  {'PASS' if t['passed'] else 'FAIL'}"
        for t in snap.get("thresholds", [])
    ]
    lines.append(
        f"  verdict: {snap.get('verdict', '?')} (avg fps {snap.get('avg_fps', 0):.2f}, "
        f"drops {snap.get('drop_rate_percent', 0):.1f}%); see {run_dir / 'summary.md'}"
    )
    return lines


@hookimpl
def vrx_run_verdict(run_dir: Path) -> str | None:
    """The triage verdict of a capture run: the one in the ``summary.md`` this plugin derived."""
    from vrx_core.engine.runinfo import read_own

    from .formats import summary_verdict

    summary = read_own(run_dir, "summary.md", "frame_triage")
    if summary is None:
        return None  # another plugin's summary.md (a probe run's), or not derived by a replay
    return summary_verdict(summary)
