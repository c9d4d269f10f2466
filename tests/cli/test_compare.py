"""``vrx compare``: merged params, metrics' last/best/at-step values, differences marked, JSON, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vrx_core.engine.runcompare import Better, flatten, key_part
from vrx_core.events import Metric, Params
from vrx_core.log.writer import Recorder


def record(run: Path, *, lr: float, losses: list[float], accs: list[float], name: str | None = None) -> str:
    with Recorder(run, name=name, environment=False) as rec:
        rec.emit(Params(values={"lr": 0.5, "opt": {"name": "adam", "beta": 0.9}, "seed": 1}))
        rec.emit(Params(values={"lr": lr}))  # later params win
        for step, (loss, acc) in enumerate(zip(losses, accs, strict=True), start=1):
            rec.emit(Metric(name="loss", value=loss, step=step))
            rec.emit(Metric(name="acc", value=acc, step=step))
    return str(run)


@pytest.fixture
def two(tmp_path: Path) -> tuple[str, str]:
    a = record(tmp_path / "a", lr=0.1, losses=[1.0, 0.5, 0.7], accs=[0.2, 0.9, 0.8], name="run-a")
    b = record(tmp_path / "b", lr=0.01, losses=[1.0, 0.6, 0.4], accs=[0.2, 0.8, 0.8], name="run-b")
    return a, b


def rows_of(out: str) -> dict[str, tuple[str, list[str]]]:
    """Plain output: label -> (marker, values), the label column as wide as the header says."""
    header, *lines = out.splitlines()
    start = len(header) - len(header.lstrip())
    rows = {}
    for line in lines:
        label = " ".join(line[2:start].split())
        if label:
            rows[label] = (line[0], line[start:].split("  "))
    return rows


def test_plain_text_marks_differing_rows(cli: Any, two: tuple[str, str]) -> None:
    r = cli("compare", *two)
    assert r.code == 0, r.err
    assert r.out.splitlines()[0].split() == ["run-a", "run-b"]
    rows = rows_of(r.out)
    values = {label: [v.strip() for v in vs if v.strip()] for label, (_, vs) in rows.items()}
    marks = {label: mark for label, (mark, _) in rows.items()}
    assert marks["lr"] == "*" and values["lr"] == ["0.1", "0.01"]
    assert marks["opt.name"] == marks["opt.beta"] == marks["seed"] == " "
    assert marks["loss last"] == "*" and values["loss last"] == ["0.7", "0.4"]
    assert marks["acc last"] == " " and values["acc last"] == ["0.8", "0.8"]
    assert marks["acc best (max)"] == "*" and values["acc best (max)"] == ["0.9 (step 2)", "0.8 (step 2)"]
    assert values["loss best (min)"] == ["0.5 (step 2)", "0.4 (step 3)"]
    assert marks["status"] == " " and values["status"] == ["ended", "ended"]
    assert values["path"] == list(two) and values["events"] == ["11", "11"]


def test_only_diff(cli: Any, two: tuple[str, str]) -> None:
    rows = rows_of(cli("compare", *two, "--only-diff").out)
    identity = ("path", "status", "events", "duration", "params", "metrics")
    shown = {label for label in rows if label not in identity}
    assert shown == {"lr", "acc best (max)", "loss last", "loss best (min)"}
    assert all(rows[label][0] == "*" for label in shown)


def test_json_and_step(cli: Any, two: tuple[str, str]) -> None:
    r = cli("compare", *two, "--json", "--step", "2")
    doc = json.loads(r.out)
    assert [run["name"] for run in doc["runs"]] == ["run-a", "run-b"]
    assert [run["path"] for run in doc["runs"]] == list(two)
    assert all(run["status"] == "ended" and run["events"] == 11 for run in doc["runs"])
    assert doc["step"] == 2
    params = {p["key"]: p for p in doc["params"]}
    assert params["lr"] == {"key": "lr", "values": [0.1, 0.01], "missing": [False, False], "differs": True}
    assert params["opt.beta"]["values"] == [0.9, 0.9] and params["opt.beta"]["differs"] is False
    assert doc["config"] == []  # recorded without a config
    metrics = {m["name"]: m for m in doc["metrics"]}
    assert metrics["loss"] == {
        "name": "loss",
        "better": "lower",
        "last": [0.7, 0.4],
        "best": [0.5, 0.4],
        "best_step": [2, 3],
        "at_step": [0.5, 0.6],
        "differs": ["last", "best", "at_step"],
    }
    assert metrics["acc"]["better"] == "higher" and metrics["acc"]["differs"] == ["best", "at_step"]
    only = json.loads(cli("compare", *two, "--json", "--only-diff").out)
    assert [p["key"] for p in only["params"]] == ["lr"]
    assert "at_step" not in only["metrics"][0]


def test_best_rule_overrides(cli: Any, two: tuple[str, str]) -> None:
    args = ("--json", "--higher-is-better", "loss", "--lower-is-better", "a*")
    doc = json.loads(cli("compare", *two, *args).out)
    metrics = {m["name"]: m for m in doc["metrics"]}
    assert metrics["loss"]["better"] == "higher" and metrics["loss"]["best"] == [1.0, 1.0]
    assert metrics["acc"]["better"] == "lower" and metrics["acc"]["best"] == [0.2, 0.2]


def test_rule_words_and_nan() -> None:
    better = Better()
    lower = ["val_loss", "error_rate", "train/ERR", "ppl", "perplexity", "mse", "latency_ms"]
    assert all(better.lower_is_better(n) for n in lower)
    assert not any(better.lower_is_better(n) for n in ("acc", "f1", "throughput"))
    assert Better(lower=("acc",), higher=("acc",)).lower_is_better("acc")  # lower first


def test_nan_is_never_best(cli: Any, tmp_path: Path) -> None:
    a = record(tmp_path / "a", lr=0.1, losses=[float("nan"), 0.5], accs=[0.1, float("nan")])
    b = record(tmp_path / "b", lr=0.1, losses=[0.3, float("nan")], accs=[0.1, 0.2])
    metrics = {m["name"]: m for m in json.loads(cli("compare", a, b, "--json").out)["metrics"]}
    assert metrics["loss"]["best"] == [0.5, 0.3] and metrics["loss"]["last"] == [0.5, "NaN"]
    assert metrics["acc"]["best"] == [0.1, 0.2]


def test_flatten() -> None:
    assert flatten({"a": {"b": {"c": 1}, "d": [1, {"x": 2}]}, "e": {}, "f": None}) == {
        "a.b.c": 1,
        "a.d": [1, {"x": 2}],
        "e": {},
        "f": None,
    }


def test_a_metric_missing_in_one_run_differs(cli: Any, tmp_path: Path) -> None:
    a = record(tmp_path / "a", lr=0.1, losses=[1.0], accs=[0.5])
    with Recorder(tmp_path / "b", environment=False) as rec:
        rec.emit(Metric(name="loss", value=1.0, step=1))
    doc = json.loads(cli("compare", a, str(tmp_path / "b"), "--json").out)
    metrics = {m["name"]: m for m in doc["metrics"]}
    assert metrics["acc"]["last"] == [0.5, None] and "last" in metrics["acc"]["differs"]
    assert metrics["loss"]["differs"] == []
    assert {p["key"]: p["values"] for p in doc["params"]}["lr"] == [0.1, None]


def test_errors(cli: Any, two: tuple[str, str], tmp_path: Path) -> None:
    r = cli("compare", two[0])
    assert r.code == 2 and "two or more runs" in r.err
    r = cli("compare", two[0], str(tmp_path / "missing"))
    assert r.code == 66 and "missing" in r.err
    log = Path(two[1]) / "events.jsonl"
    data = bytearray(log.read_bytes())
    data[len(data) // 2] ^= 0x01  # before the final sync line: corruption, not residue
    log.write_bytes(bytes(data))
    r = cli("compare", *two)
    assert r.code == 65 and r.err.startswith(f"vrx: {log}:") and r.err.count("\n") == 1


def test_flatten_keeps_literal_dotted_keys_apart() -> None:
    """``{"opt": {"lr": ..}}`` is ``opt.lr``; a key holding a dot itself is quoted, never merged."""
    flat = flatten({"opt": {"lr": 0.1}, "opt.lr": 5, "a.b": {"c": 1}, "": 2, "[x]": 3})
    assert flat == {"opt.lr": 0.1, '["opt.lr"]': 5, '["a.b"].c': 1, '[""]': 2, '["[x]"]': 3}
    assert key_part("lr") == "lr" and key_part("é.x") == '["é.x"]'


def test_resolved_config_rows_beside_params(cli: Any, tmp_path: Path) -> None:
    runs = []
    for name, depth in (("a", 4), ("b", 8)):
        config = {"model": {"depth": depth, "heads": 2}, "seed": 1, "data.path": "/d"}
        with Recorder(tmp_path / name, config=config, environment=False) as rec:
            rec.emit(Params(values={"lr": 0.1}))
        runs.append(str(tmp_path / name))
    rows = rows_of(cli("compare", *runs).out)
    assert "config" in rows  # the section's heading, after params
    assert rows["config.model.depth"][0] == "*"
    assert [v.strip() for v in rows["config.model.depth"][1] if v.strip()] == ["4", "8"]
    assert rows["config.model.heads"][0] == rows["config.seed"][0] == " "
    assert rows['config.["data.path"]'][0] == " "
    labels = list(rows)
    assert labels.index("lr") < labels.index("config") < labels.index("config.model.depth")
    doc = json.loads(cli("compare", *runs, "--json").out)
    config = {c["key"]: c for c in doc["config"]}
    assert config["config.model.depth"] == {
        "key": "config.model.depth", "values": [4, 8], "missing": [False, False], "differs": True,
    }  # fmt: skip
    assert [p["key"] for p in doc["params"]] == ["lr"]
    only = rows_of(cli("compare", *runs, "--only-diff").out)
    assert "config.model.depth" in only and "config.seed" not in only and "lr" not in only


def test_literal_dotted_param_keys_are_two_rows(cli: Any, tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        with Recorder(tmp_path / name, environment=False) as rec:
            rec.emit(Params(values={"opt": {"lr": 0.1}, "opt.lr": 5}))
        runs.append(str(tmp_path / name))
    params = {p["key"]: p["values"] for p in json.loads(cli("compare", *runs, "--json").out)["params"]}
    assert params == {"opt.lr": [0.1, 0.1], '["opt.lr"]': [5, 5]}


def test_a_recorded_null_is_not_a_missing_key(cli: Any, tmp_path: Path) -> None:
    with Recorder(tmp_path / "a", environment=False) as rec:
        rec.emit(Params(values={"x": None, "y": None}))
    with Recorder(tmp_path / "b", environment=False) as rec:
        rec.emit(Params(values={"y": None}))
    runs = [str(tmp_path / "a"), str(tmp_path / "b")]
    rows = rows_of(cli("compare", *runs).out)
    assert rows["x"][0] == "*" and [v.strip() for v in rows["x"][1] if v.strip()] == ["null", "-"]
    assert rows["y"][0] == " " and [v.strip() for v in rows["y"][1] if v.strip()] == ["null", "null"]
    params = {p["key"]: p for p in json.loads(cli("compare", *runs, "--json").out)["params"]}
    assert params["x"] == {"key": "x", "values": [None, None], "missing": [False, True], "differs": True}
    assert params["y"]["differs"] is False


def test_identity_rows_that_differ_are_marked(cli: Any, tmp_path: Path) -> None:
    a = record(tmp_path / "a", lr=0.1, losses=[1.0], accs=[0.5])
    b = record(tmp_path / "b", lr=0.1, losses=[1.0, 0.5], accs=[0.5, 0.6])
    rows = rows_of(cli("compare", a, b).out)
    assert rows["events"][0] == "*" and rows["path"][0] == " "
    assert rows["status"][0] == " "
    c = record(tmp_path / "c", lr=0.1, losses=[1.0], accs=[0.5])
    assert rows_of(cli("compare", a, c).out)["events"][0] == " "


def test_duration_is_marked_when_it_differs_as_shown(cli: Any, tmp_path: Path) -> None:
    from vrx_core.cli.compare import _grid
    from vrx_core.engine.runcompare import RunData

    def run(last_t: float) -> RunData:
        return RunData(tmp_path, "r", None, True, None, 3, 0.0, last_t)

    lines = {label: differs for label, _, differs in _grid([run(5.0), run(125.0)], ["ended"] * 2, [], None)}
    assert lines["duration"] is True and lines["events"] is False and lines["path"] is None
    lines = {label: differs for label, _, differs in _grid([run(5.0), run(5.01)], ["ended"] * 2, [], None)}
    assert lines["duration"] is False  # both 5.0s


@pytest.mark.parametrize("step", ["-1", "x", "1.5"])
def test_step_must_be_a_non_negative_integer(cli: Any, two: tuple[str, str], step: str) -> None:
    r = cli("compare", *two, "--step", step)
    assert r.code == 2 and "--step" in r.err and "Traceback" not in r.err
