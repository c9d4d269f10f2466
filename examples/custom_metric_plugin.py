"""A complete custom metric plugin: EMA and best value of every Metric, into ema.json.

Apply it to any run, old ones included:  vrx replay RUN_DIR --plugins-dir examples/
Best is the lowest value, or the highest for names such as train/acc; a run can also say so:
rec.emit(Params(values={"maximize": ["val/dice"]}))."""

import math
import re
from typing import Any

from vrx_core import DerivedFiles, Deriver, ReplayContext, handles, hookimpl
from vrx_core.events import Metric, Params

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
        for name in self.maximize & self.state.keys():
            self.state[name]["direction"] = "max"

    @handles(Metric)  # called once per Metric, in seq order; mypy checks `event: Metric`
    def on_metric(self, event: Metric) -> None:
        s = self.state.get(event.name)
        if s is None:  # first value of this metric: decide its direction once
            higher = event.name in self.maximize or HIGHER_IS_BETTER.search(event.name)
            first = {"ema": event.value, "best": event.value, "best_step": event.step, "n": 0}
            s = self.state[event.name] = first | {"direction": "max" if higher else "min"}
        s["ema"] += ALPHA * (event.value - s["ema"])
        s["n"] += 1
        better = event.value > s["best"] if s["direction"] == "max" else event.value < s["best"]
        if better or math.isnan(s["best"]):
            s["best"], s["best_step"] = event.value, event.step

    def snapshot(self) -> dict[str, Any]:
        return {name: {"ema": s["ema"], "best": s["best"]} for name, s in self.state.items()}

    def finish(self, out: DerivedFiles) -> None:
        out.write_json("ema.json", self.state)


@hookimpl
def vrx_deriver(context: ReplayContext) -> Deriver:
    return EmaBest()
