"""A test plugin whose alert rules raise on the 5th metric: dropped with a plugin_failed notice."""

from __future__ import annotations

from vrx_core import hookimpl
from vrx_core.events import AnyEvent
from vrx_core.hooks.api import Alert, AlertRules


class Boom(AlertRules):
    consumes = frozenset({"metric"})

    def __init__(self) -> None:
        self.n = 0

    def on_event(self, event: AnyEvent) -> list[Alert]:
        self.n += 1
        if self.n == 5:
            raise RuntimeError("boom at the 5th metric")
        return []


@hookimpl
def vrx_alert_rules() -> AlertRules:
    return Boom()
