"""A test plugin whose deriver raises on the 10th metric: the tail goes on without it, exit 70."""

from __future__ import annotations

from typing import Any

from vrx_core import hookimpl
from vrx_core.events import Metric
from vrx_core.hooks.api import Deriver, ReplayContext, handles


class Boom(Deriver):
    def __init__(self) -> None:
        self.n = 0

    @handles(Metric)
    def on_metric(self, event: Metric) -> None:
        self.n += 1
        if self.n == 10:
            raise RuntimeError("boom at the 10th metric")

    def snapshot(self) -> dict[str, Any]:
        return {"n": self.n}


@hookimpl
def vrx_deriver(context: ReplayContext) -> Deriver:
    return Boom()
