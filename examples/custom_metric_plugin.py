"""A complete custom metric plugin: EMA and best value of every Metric, into ema.json.

Apply it to any run, old ones included:  vrx replay RUN_DIR --plugins-dir examples/
Best is the lowest value, or the highest for names such as train/acc; a run can also say so:
rec.emit(Params(values={"maximize": ["val/dice"]}))."""

import math
import re
from typing import Any

from vrx_core import hookimpl
from vrx_core.events import Metric, Params
from vrx_core.hooks.api import DerivedFiles, Deriver, ReplayContext, handles

ALPHA = 0.1  # EMA smoothing factor
# Metric names whose best value is the highest, e.g. train/acc, val_f1, top1.accuracy
HIGHER_IS_BETTER = re.compile(r"(^|[/_.])(acc|accuracy|auc|f1|iou|map|precision|recall|reward|score)(?!\w)")


class EmaBest(Deriver):
    outputs = frozenset({"ema.json"})  # every file finish() writes

    def __init__(self) -> None:
        self.state: dict[str, dict[str, Any]] = {}
        self.maximize: set[str] = set()

    @handles(Params)
    def on_params(self, event: Params) -> None:
        self.maximize.update(str(name) for name in event.values.get("maximize") or ())

    @handles(Metric)  # called once per Metric, in seq order; mypy checks `event: Metric`
    def on_metric(self, event: Metric) -> None:
        higher = event.name in self.maximize or bool(HIGHER_IS_BETTER.search(event.name))
        first = {"ema": event.value, "best": event.value, "best_step": event.step, "n": 0}
        s = self.state.setdefault(event.name, first)
        s["ema"] += ALPHA * (event.value - s["ema"])
        s["n"] += 1
        s["direction"] = "max" if higher else "min"
        if (event.value > s["best"] if higher else event.value < s["best"]) or math.isnan(s["best"]):
            s["best"], s["best_step"] = event.value, event.step

    def snapshot(self) -> dict[str, Any]:
        return {name: {"ema": s["ema"], "best": s["best"]} for name, s in self.state.items()}

    def finish(self, out: DerivedFiles) -> None:
        out.write_json("ema.json", self.state)


@hookimpl
def vrx_deriver(context: ReplayContext) -> Deriver:
    return EmaBest()
