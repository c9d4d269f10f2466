"""A test plugin that flags its own event kind through ``vrx_alert_rules``: ``tail.temperature``
above 90 C raises a ``tail.overheat`` alert; a quiet spell of 0.3 s raises ``tail.quiet`` once."""

from __future__ import annotations

from vrx_core import hookimpl
from vrx_core.events import AnyEvent, Event
from vrx_core.hooks.api import Alert, AlertRules, ReplayContext


class Temperature(Event, frozen=True, kw_only=True, tag="tail.temperature"):
    celsius: float


class Overheat(AlertRules):
    consumes = frozenset({Temperature})

    def __init__(self) -> None:
        self.quiet_told = False

    def on_event(self, event: AnyEvent) -> list[Alert]:
        if not isinstance(event, Temperature):  # the table hands over only what is consumed
            raise TypeError(f"unexpected {type(event).__name__}")
        if event.celsius > 90:
            return [Alert("tail.overheat", f"GPU at {event.celsius:g} C")]
        return []

    def on_idle(self, seconds: float) -> list[Alert]:
        if seconds >= 0.3 and not self.quiet_told:
            self.quiet_told = True
            return [Alert("tail.quiet", f"quiet for {seconds:.1f} s", level="info")]
        return []


@hookimpl
def vrx_event_kinds() -> list[type[Event]]:
    return [Temperature]


@hookimpl
def vrx_alert_rules(context: ReplayContext) -> AlertRules:
    return Overheat()
