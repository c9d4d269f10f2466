"""A complete custom metric plugin: EMA and best value of every Metric, into ema.json.

Apply it to any run, old ones included:  vrx replay RUN_DIR --plugins-dir examples/"""

import math
from typing import Any

from vrx_core import hookimpl
from vrx_core.events import Metric
from vrx_core.hooks.api import DerivedFiles, Deriver, ReplayContext, handles

ALPHA = 0.1  # EMA smoothing factor


class EmaBest(Deriver):
    outputs = frozenset({"ema.json"})  # every file finish() writes

    def __init__(self) -> None:
        self.state: dict[str, dict[str, Any]] = {}

    @handles(Metric)  # called once per Metric, in seq order; mypy checks `event: Metric`
    def on_metric(self, event: Metric) -> None:
        first = {"ema": event.value, "best": event.value, "best_step": event.step, "n": 0}
        s = self.state.setdefault(event.name, first)
        s["ema"] += ALPHA * (event.value - s["ema"])
        s["n"] += 1
        if event.value < s["best"] or math.isnan(s["best"]):
            s["best"], s["best_step"] = event.value, event.step

    def snapshot(self) -> dict[str, Any]:
        return {name: {"ema": s["ema"], "best": s["best"]} for name, s in self.state.items()}

    def finish(self, out: DerivedFiles) -> None:
        out.write_json("ema.json", self.state)


@hookimpl
def vrx_deriver(context: ReplayContext) -> Deriver:
    return EmaBest()
