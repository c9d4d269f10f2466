"""ProbeAlertRules: NaN once, OOM, other errors, the watchdog's stall; and no duplicate from the core."""

from __future__ import annotations

import math
from typing import Any

import msgspec

from vrx_core.events import Event
from vrx_core.follow.alerts import CORE, AlertTable
from vrx_core.follow.core_alerts import CoreAlertRules
from vrx_core.hooks.api import Alert
from vrx_plugins.gpu_probe.alerts import ProbeAlertRules
from vrx_plugins.gpu_probe.events import (
    KINDS,
    ProbeEnded,
    ProbeError,
    ProbeMeasured,
    ProbeStall,
    ProbeStep,
)


def step(index: int, loss: float, phase: str = "measure") -> ProbeStep:
    return ProbeStep(phase=phase, index=index, step_time_s=0.1, loss=loss, finite=math.isfinite(loss))  # type: ignore[arg-type]


def alerts(events: list[Event], rules: ProbeAlertRules | None = None) -> list[Alert]:
    rules = rules or ProbeAlertRules()
    out: list[Alert] = []
    for ev in events:
        out += rules.on_event(ev)
    return out


def test_nan_fires_once() -> None:
    found = alerts([step(0, 1.0), step(1, math.nan, "warmup"), step(2, math.inf), step(3, math.nan)])
    assert found == [Alert("nan", "probe loss is NaN at warmup step 1")]


def test_inf_is_spelled_as_the_log_spells_it() -> None:
    assert alerts([step(4, -math.inf)]) == [Alert("nan", "probe loss is -Infinity at measure step 4")]


def test_oom_and_other_errors() -> None:
    oom = ProbeError(
        exception_type="OutOfMemoryError", message="OutOfMemoryError: CUDA out of memory", oom=True
    )
    other = ProbeError(exception_type="ValueError", message="ValueError: " + "x" * 500, oom=False)
    found = alerts([oom, other])
    assert found[0] == Alert("oom", "probe ran out of memory: OutOfMemoryError: CUDA out of memory")
    assert found[1].kind == "error" and found[1].message.startswith("probe raised ValueError: xx")
    assert len(found[1].message) < 250  # the message is cut


def test_stall_names_threshold_and_age() -> None:
    found = alerts([ProbeStall(threshold_s=60.0, last_progress_age_s=61.25)])
    assert found == [
        Alert(
            "probe.stall", "probe watchdog: no step progress for 61.2 s (threshold 60.0 s); heartbeat_stall"
        )
    ]


def test_quiet_on_ordinary_events() -> None:
    ordinary: list[Any] = [step(0, 1.0), ProbeMeasured(wall_time_s=1.0)]
    ordinary.append(ProbeEnded(armed=True, threshold_s=60.0, last_progress_age_s=0.1, stalled=False))
    assert alerts(ordinary) == []


def test_the_core_rules_do_not_fire_for_probe_events() -> None:
    """Through the follower's table with the core's rules: each probe alert appears exactly once."""
    table = AlertTable([(CORE, CoreAlertRules(60.0)), ("gpu_probe", ProbeAlertRules())])
    core = CoreAlertRules(60.0)
    for kind in KINDS:
        tag = kind.__struct_config__.tag
        assert isinstance(tag, str)
        assert not core.wants(tag, kind), tag
    events: list[Event] = [
        step(0, math.nan),
        ProbeError(exception_type="RuntimeError", message="RuntimeError: CUDA out of memory", oom=True),
        ProbeError(exception_type="RuntimeError", message="RuntimeError: boom", oom=False),
        ProbeStall(threshold_s=1.0, last_progress_age_s=1.5),
    ]
    notices = [
        n for i, ev in enumerate(events) for n in table.on_event(msgspec.structs.replace(ev, seq=i + 1))
    ]
    assert [(n.kind, n.plugin, n.seq) for n in notices] == [
        ("nan", "gpu_probe", 1),
        ("oom", "gpu_probe", 2),
        ("error", "gpu_probe", 3),
        ("probe.stall", "gpu_probe", 4),
    ]
