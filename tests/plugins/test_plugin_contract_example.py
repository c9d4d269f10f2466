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
    """The example stays a complete plugin in under 55 lines (the README says so)."""
    assert len(EXAMPLE.read_text().splitlines()) < 55


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


def test_best_knows_or_is_told_the_direction(tmp_path: Path) -> None:
    """Lower is better for a loss, higher for accuracy-like names and for names the run lists."""
    events: list[Event] = [Params(values={"maximize": ["val/dice"]})]
    for step, x in enumerate([0.2, 0.9, 0.5], 1):
        events += [Metric("train/loss", x, step), Metric("train/acc", x, step), Metric("val/dice", x, step)]
    run = write_log(tmp_path / "run", events)
    ema = json.loads(replay_to_dict(run, make_plugins(load_example()), tmp_path / "out")["ema.json"])
    assert (ema["train/loss"]["best"], ema["train/loss"]["direction"]) == (0.2, "min")
    assert (ema["train/acc"]["best"], ema["train/acc"]["direction"]) == (0.9, "max")
    assert (ema["val/dice"]["best"], ema["val/dice"]["best_step"]) == (0.9, 2)
