"""``vrx compare``: merged params, metrics' last/best/at-step values, differences marked, JSON, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vrx_core.engine.runcompare import Better, flatten
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
    assert params["lr"] == {"key": "lr", "values": [0.1, 0.01], "differs": True}
    assert params["opt.beta"] == {"key": "opt.beta", "values": [0.9, 0.9], "differs": False}
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
