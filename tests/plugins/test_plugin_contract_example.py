"""The contract tests applied to the example custom metric plugin, plus its derived values."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from types import ModuleType

from vrx_core.events import Event, Metric, Params
from vrx_core.testing import PluginContract, make_plugins, replay_to_dict, write_log

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "custom_metric_plugin.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("custom_metric_plugin", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestEmaContract(PluginContract):
    plugin = load_example()

    def events(self) -> list[Event]:
        evs: list[Event] = [Params(values={"lr": 0.1})]
        for step in range(1, 40):
            evs.append(Metric("loss", 1.0 / step, step))
            evs.append(Metric("acc", 1 - 1.0 / step, step))
        evs.append(Metric("loss", float("nan"), 40))
        return evs


def test_example_plugin_is_short() -> None:
    """The example stays a complete plugin in under 40 lines."""
    assert len(EXAMPLE.read_text().splitlines()) < 40


def test_ema_and_best_values(tmp_path: Path) -> None:
    """ema.json holds the EMA (alpha 0.1) and best value per metric name."""
    ps = make_plugins(load_example())
    run = write_log(
        tmp_path / "run", [Metric("loss", v, i) for i, v in enumerate([4.0, 2.0, 3.0])], plugins=ps
    )
    files = replay_to_dict(run, ps, tmp_path / "out")
    state = json.loads(files["ema.json"])["loss"]
    ema = 4.0
    for v in (4.0, 2.0, 3.0):
        ema += 0.1 * (v - ema)
    assert math.isclose(state["ema"], ema)
    assert state["best"] == 2.0 and state["best_step"] == 1 and state["n"] == 3
