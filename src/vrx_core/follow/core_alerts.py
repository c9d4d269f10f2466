"""The core's alert rules, its own implementation of the ``vrx_alert_rules`` hook.

=========  ====================================================================================
``nan``    a metric becomes NaN or +-Inf (once per metric until it is finite again)
``oom``    a ``log`` event whose message or fields mention ``OOM``, ``out of memory`` or
           ``OutOfMemory``; any event (registered or not) whose kind has an ``oom`` segment
           (``gpu.oom``, ``oom_kill``)
``error``  a ``log`` event at level ``error``, ``critical``, ``fatal`` or ``exception``; a run end
           with status ``error`` or ``interrupted``
``stall``  no event for ``stall_after_s`` while the writer's heartbeat is alive (once per spell)
=========  ====================================================================================
"""

from __future__ import annotations

import math
import re
from typing import Final

from vrx_core.codec import nonfinite_marker, stream_json
from vrx_core.events import AnyEvent, Event, Log, Metric, RunEnd, UnknownEvent
from vrx_core.follow.stream import event_json
from vrx_core.hooks.api import Alert, AlertRules, ReplayContext
from vrx_core.hooks.specs import hookimpl

_OOM_RE: Final = re.compile(r"\bOOM\b|out of memory|OutOfMemory", re.IGNORECASE)
_OOM_TAG_RE: Final = re.compile(r"(^|[._])oom($|[._])")
_ERROR_LEVELS: Final = frozenset({"error", "critical", "fatal", "exception"})


class CoreAlertRules(AlertRules):
    """NaN metrics, out-of-memory reports, errors and stalls."""

    consumes = frozenset({Metric, Log, RunEnd})

    def __init__(self, stall_after_s: float) -> None:
        self.stall_after_s = stall_after_s
        self._nonfinite: set[tuple[int | None, str]] = set()
        self._stalled = False

    def wants(self, tag: str, cls: type[Event] | None) -> bool:
        return super().wants(tag, cls) or _OOM_TAG_RE.search(tag) is not None

    def on_event(self, event: AnyEvent) -> list[Alert]:
        if isinstance(event, Metric):
            return self._metric(event)
        if isinstance(event, Log):
            text = event.msg + (" " + stream_json(event.fields).decode() if event.fields else "")
            if _OOM_RE.search(text):
                return [Alert("oom", f"out of memory: {event.msg[:200]}")]
            if event.level.lower() in _ERROR_LEVELS:
                return [Alert("error", f"{event.level}: {event.msg[:200]}")]
            return []
        if isinstance(event, RunEnd):
            if event.status == "error":
                return [Alert("error", f"run ended with an error: {(event.error or '?')[:200]}")]
            if event.status == "interrupted":
                return [Alert("error", "run was interrupted")]
            return []
        # A kind with an oom segment (wants() let it through), registered by a plugin or not.
        if isinstance(event, UnknownEvent):
            tag, fields = event.type, event.data
        else:
            d = event_json(event)
            tag = d.pop("type")
            fields = {k: v for k, v in d.items() if k not in ("seq", "t", "rank")}
        return [Alert("oom", f"{tag}: {stream_json(fields).decode()[:200]}")]

    def _metric(self, m: Metric) -> list[Alert]:
        key = (m.rank, m.name)  # each rank's metric on its own in a multi-rank run
        if math.isfinite(m.value):
            self._nonfinite.discard(key)
            return []
        if key in self._nonfinite:
            return []
        self._nonfinite.add(key)
        at = f" at step {m.step}" if m.step is not None else ""
        return [Alert("nan", f"metric {m.name} is {nonfinite_marker(m.value)}{at}")]

    def on_idle(self, seconds: float) -> list[Alert]:
        if seconds < self.stall_after_s:
            self._stalled = False  # events resumed (or the spell is still short): re-arm
            return []
        if self._stalled:
            return []
        self._stalled = True
        return [Alert("stall", f"no event for {seconds:.0f} s while the writer's heartbeat is alive")]


@hookimpl
def vrx_alert_rules(context: ReplayContext, stall_after_s: float) -> AlertRules:
    """The core's rules (see the module docstring)."""
    return CoreAlertRules(stall_after_s)


__all__ = ["CoreAlertRules", "vrx_alert_rules"]
