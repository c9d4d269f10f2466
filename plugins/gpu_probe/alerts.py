"""Alerts of a live probe run: what someone watching ``vrx tail`` should see at once.

=============  ==================================================================================
``nan``        the first step whose loss is NaN or Inf (the run has failed ``nan_or_inf``)
``oom``        ``probe.error`` the runner classified as out of memory
``error``      any other ``probe.error``
``probe.stall``  the probe's watchdog fired (``heartbeat_stall``): threshold and age in the message
=============  ==================================================================================

Why no core duplicate: the core's ``nan`` rule watches ``metric`` events, its ``oom`` rule
``log`` events and kinds with an ``oom`` segment (none of ``probe.*`` has one), and its
``error`` rule ``log`` and ``run_end`` events, so none of them sees these events.

Why ``probe.stall`` and not ``stall``: the core's ``stall`` means "no event for a while, the
writer alive" and fires from idle time, not from an event. The watchdog's stall is a different
finding (the probe made no progress for its contract threshold), usually reported during the
same quiet spell as the core's; as a plain ``stall`` it would be counted with the core's, and
``vrx tail`` would keep the run in its "stalled: no event" state after the event arrived.
"""

from __future__ import annotations

import math

from vrx_core.codec import nonfinite_marker
from vrx_core.events import AnyEvent
from vrx_core.hooks.api import Alert, AlertRules

from .events import ProbeError, ProbeStall, ProbeStep

#: How much of an exception message an alert repeats.
MESSAGE_CHARS = 200


class ProbeAlertRules(AlertRules):
    """NaN/Inf losses (once), OOM and other errors, the watchdog's stall."""

    consumes = frozenset({ProbeStep, ProbeError, ProbeStall})

    def __init__(self) -> None:
        self._nan_seen = False

    def on_event(self, event: AnyEvent) -> list[Alert]:
        if isinstance(event, ProbeStep):
            return self._step(event)
        if isinstance(event, ProbeError):
            return [_error(event)]
        if isinstance(event, ProbeStall):
            return [_stall(event)]
        return []

    def _step(self, ev: ProbeStep) -> list[Alert]:
        if ev.finite or self._nan_seen:
            return []
        self._nan_seen = True  # the run has failed for good; one alert says so
        return [Alert("nan", f"probe loss is {_spelling(ev.loss)} at {ev.phase} step {ev.index}")]


def _spelling(loss: float) -> str:
    """The log's spelling of the loss; "not finite" when only the flag says so."""
    return "not finite" if math.isfinite(loss) else nonfinite_marker(loss)


def _error(ev: ProbeError) -> Alert:
    text = ev.message[:MESSAGE_CHARS]
    if ev.oom:
        return Alert("oom", f"probe ran out of memory: {text}")
    return Alert("error", f"probe raised {text}")


def _stall(ev: ProbeStall) -> Alert:
    return Alert(
        "probe.stall",
        f"probe watchdog: no step progress for {ev.last_progress_age_s:.1f} s "
        f"(threshold {ev.threshold_s:.1f} s); heartbeat_stall",
    )
