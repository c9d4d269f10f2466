"""vrx regressions, the logic: extraction fallbacks, classification and resolution, as mgr regressions
codes them (ORIGINS.md 3.1), plus vrx's default memory rule against --mgr-compat."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from vrx_plugins.run_telemetry.regressions import (
    DEFAULTS,
    METRICS,
    InvalidSummary,
    SummaryNotFound,
    Thresholds,
    classify,
    compare,
    extract_metric,
    failing_metrics,
    finite,
    load_summary,
    loss_series,
    provenance,
    resolve_summary,
)


def mgr_summary(
    losses: list[Any], tps: Any, tflops: Any, mem: Any, **results: Any
) -> dict[str, Any]:
    """An mgr.telemetry.v1 summary as nanochat's train writes it."""
    return {
        "schema_version": "mgr.telemetry.v1",
        "meta": {"run_id": "r", "kind": "baseline", "git": {"commit": "abc1234", "dirty": False}},
        "results": {
            "losses": losses,
            "tokens_per_second": tps,
            "tflops_per_second_est": tflops,
            "peak_memory_allocated_gb": mem,
            **results,
        },
    }


BASE = mgr_summary([3.0, 2.0], 1000, 1.0, 2.0)
CAND = mgr_summary([3.0, 2.1], 950, 0.95, 2.2)


def statuses(rows: list[Any]) -> dict[str, str]:
    return {row.metric: row.status for row in rows}


# -- the smoke test and the metric table ------------------------------------------------------


def test_metrics_are_upstreams_in_order() -> None:
    """Four metrics, upstream's keys, labels and directions, in upstream's order."""
    assert [(m.key, m.label, m.direction) for m in METRICS] == [
        ("final_loss", "Final loss", "lower"),
        ("tokens_per_second", "Tokens/s", "higher"),
        ("tflops_per_second_est", "TFLOP/s (est)", "higher"),
        ("peak_memory_allocated_gb", "Peak mem (GB)", "lower"),
    ]
    assert DEFAULTS.as_dict() == {
        "loss_abs": 0.01, "loss_rel": 0.01, "throughput_rel": 0.05, "tflops_rel": 0.05, "memory_rel": 0.05,
    }


def test_smoke_loss_and_memory_regress_throughput_exactly_at_5pct_does_not() -> None:
    """ORIGINS 3.1 smoke case: tps 950 vs 1000 and tflops 0.95 vs 1.0 sit exactly on the strict
    -5 % boundary (ok); loss 2.0 -> 2.1 and memory 2.0 -> 2.2 regress, in both modes."""
    for compat in (False, True):
        rows = compare(BASE, CAND, mgr_compat=compat)
        assert statuses(rows) == {
            "final_loss": "regression",
            "tokens_per_second": "ok",
            "tflops_per_second_est": "ok",
            "peak_memory_allocated_gb": "regression",
        }
    tps = rows[1]
    assert (tps.baseline, tps.candidate, tps.delta, tps.delta_rel) == (1000.0, 950.0, -50.0, -0.05)
    assert failing_metrics(rows) == ["final_loss", "peak_memory_allocated_gb"]


# -- classification ---------------------------------------------------------------------------

LOSS, TPS, TFLOPS, MEM = METRICS


@pytest.mark.parametrize(
    ("b", "c", "status"),
    [
        (2.0, 2.0, "ok"),
        (2.0, 1.0, "ok"),  # improvements are just ok
        (10.0, 10.009, "ok"),  # +0.009 abs, +0.09 %
        (10.0, 10.011, "regression"),  # > b + loss_abs
        (0.5, 0.5059, "regression"),  # +0.0059 abs but +1.18 % rel
        (100.0, 100.5, "regression"),  # +0.5 abs
    ],
)
def test_lower_is_better_loss_rule(b: float, c: float, status: str) -> None:
    """final_loss regresses if c > b + loss_abs or delta_rel > loss_rel."""
    assert classify(LOSS, b, c).status == status


def test_lower_rule_with_b_zero_uses_the_absolute_threshold_only() -> None:
    """delta_rel is None when b == 0; the absolute rule still applies."""
    row = classify(LOSS, 0.0, 0.005)
    assert (row.delta, row.delta_rel, row.status) == (0.005, None, "ok")
    assert classify(LOSS, 0.0, 0.02).status == "regression"


@pytest.mark.parametrize(
    ("spec", "b", "c", "thr", "status"),
    [
        (TPS, 1000.0, 950.0, 0.05, "ok"),  # exactly at the boundary: strict comparison
        (TPS, 1000.0, 949.999, 0.05, "regression"),
        (TPS, 1000.0, 2000.0, 0.05, "ok"),
        (TPS, 1000.0, 900.0, 0.10, "ok"),  # --throughput-rel 0.10
        (TPS, 1000.0, 899.0, 0.10, "regression"),
        (TFLOPS, 1.0, 0.95, 0.05, "ok"),
        (TFLOPS, 1.0, 0.94, 0.05, "regression"),
    ],
)
def test_higher_is_better_rule(spec: Any, b: float, c: float, thr: float, status: str) -> None:
    """Higher is better: regression iff c < b * (1 - thr); tflops* keys take tflops_rel."""
    key = "tflops_rel" if spec.key.startswith("tflops") else "throughput_rel"
    other = "throughput_rel" if key == "tflops_rel" else "tflops_rel"
    thresholds = Thresholds(**{key: thr, other: 0.99})  # the other threshold must not matter
    assert classify(spec, b, c, thresholds=thresholds).status == status


def test_throughput_and_tflops_take_their_own_thresholds() -> None:
    t = Thresholds(throughput_rel=0.0, tflops_rel=0.5)
    assert classify(TPS, 1.0, 0.9, thresholds=t).status == "regression"
    assert classify(TFLOPS, 1.0, 0.9, thresholds=t).status == "ok"


@pytest.mark.parametrize(
    ("b", "c", "memory_rel", "default", "compat"),
    [
        (2.0, 2.05, 0.10, "ok", "regression"),  # +0.05 GB > loss_abs: upstream's quirk
        (2.0, 2.015, 0.05, "ok", "regression"),  # +0.75 % but +0.015 GB
        (2.0, 2.1, 0.05, "ok", "regression"),  # exactly +5 %: not > b * 1.05
        (2.0, 2.2, 0.05, "regression", "regression"),
        (2.0, 2.3, 0.10, "regression", "regression"),
        (2.0, 2.005, 0.05, "ok", "ok"),
        (40.0, 40.2, 0.0, "regression", "regression"),  # memory_rel 0: any growth
        (0.0, 0.001, 0.05, "regression", "regression"),  # b == 0: c > 0
    ],
)
def test_memory_default_rule_vs_mgr_compat(
    b: float, c: float, memory_rel: float, default: str, compat: str
) -> None:
    """vrx judges peak memory by memory_rel alone; --mgr-compat also applies the loss thresholds."""
    t = Thresholds(memory_rel=memory_rel)
    assert classify(MEM, b, c, thresholds=t).status == default
    assert classify(MEM, b, c, thresholds=t, mgr_compat=True).status == compat


def test_mgr_compat_memory_rel_cannot_relax_memory() -> None:
    """Upstream's quirk: a huge --memory-rel still leaves the +1 % / +0.01 GB loss rule."""
    t = Thresholds(memory_rel=10.0)
    assert classify(MEM, 2.0, 2.5, thresholds=t, mgr_compat=True).status == "regression"
    assert classify(MEM, 2.0, 2.5, thresholds=t).status == "ok"


def test_mgr_compat_changes_nothing_but_memory() -> None:
    for b, c in [(2.0, 2.05), (1000.0, 940.0), (1.0, 1.0)]:
        for spec in (LOSS, TPS, TFLOPS):
            assert classify(spec, b, c) == classify(spec, b, c, mgr_compat=True)


@pytest.mark.parametrize(("b", "c"), [(None, 1.0), (1.0, None), (None, None)])
def test_missing_has_no_delta(b: float | None, c: float | None) -> None:
    for spec in METRICS:
        row = classify(spec, b, c)
        assert (row.status, row.delta, row.delta_rel) == ("missing", None, None)
        assert (row.baseline, row.candidate) == (b, c)


def test_b_zero_gives_null_delta_rel_for_every_metric() -> None:
    for spec in METRICS:
        row = classify(spec, 0.0, 1.0)
        assert row.delta == 1.0 and row.delta_rel is None


def test_statuses_are_only_ok_regression_missing() -> None:
    seen = {
        classify(spec, b, c, mgr_compat=m).status
        for spec in METRICS
        for b in (None, 0.0, 1.0, 5.0)
        for c in (None, 0.0, 0.5, 1.0, 9.0)
        for m in (False, True)
    }
    assert seen == {"ok", "regression", "missing"}


def test_failing_metrics_counts_missing_only_when_asked() -> None:
    rows = compare(BASE, {"results": {"losses": [2.5]}})
    assert statuses(rows) == {
        "final_loss": "regression",
        "tokens_per_second": "missing",
        "tflops_per_second_est": "missing",
        "peak_memory_allocated_gb": "missing",
    }
    assert failing_metrics(rows) == ["final_loss"]
    assert failing_metrics(rows, fail_on_missing=True) == [m.key for m in METRICS]


# -- extraction -------------------------------------------------------------------------------


def test_finite_rejects_bools_strings_and_non_finite() -> None:
    assert finite(3) == 3.0 and isinstance(finite(3), float)
    assert finite(2.5) == 2.5
    for bad in (True, False, "1.0", None, [1.0], {"a": 1}, math.nan, math.inf, -math.inf, 10**400):
        assert finite(bad) is None


def test_final_loss_is_the_last_finite_loss() -> None:
    s = {"results": {"losses": [3.0, 2.5, math.nan, math.inf], "final_loss": 9.0}}
    assert extract_metric(s, "final_loss") == 2.5


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        ({"results": {"losses": [], "final_loss": 1.5}}, 1.5),
        ({"results": {"final_loss": 1.5, "loss": 2.0}}, 1.5),
        ({"results": {"loss": 2.0, "score": 3.0}}, 2.0),
        ({"results": {"score": 3.0}, "final_loss": 4.0}, 3.0),
        ({"results": {}, "final_loss": 4.0, "score": 5.0}, 4.0),
        ({"score": 5.0}, 5.0),
        ({"results": {"losses": [math.nan], "final_loss": True, "loss": "1"}, "score": 5.0}, 5.0),
        ({"results": "not a dict", "final_loss": 4.0}, 4.0),
        ({}, None),
    ],
)
def test_final_loss_fallback_chain(summary: dict[str, Any], expected: float | None) -> None:
    """losses[-1 finite] -> results.final_loss -> results.loss -> results.score -> final_loss -> score."""
    assert extract_metric(summary, "final_loss") == expected


def test_zero_falls_through_like_python_or() -> None:
    """A value of exactly 0.0 falls through to the next source, and to None when no later source
    has one; the last source of a chain keeps its 0.0."""
    assert extract_metric({"results": {"losses": [1.0, 0.0], "final_loss": 0.7}}, "final_loss") == 0.7
    assert extract_metric({"results": {"losses": [0.0]}}, "final_loss") is None
    assert extract_metric({"results": {"losses": [0.0]}, "score": 0.0}, "final_loss") == 0.0
    tps = {"results": {"tokens_per_second": 0, "tokens_per_s": 12.0}}
    assert extract_metric(tps, "tokens_per_second") == 12.0
    assert extract_metric({"results": {"tokens_per_second": 0.0}}, "tokens_per_second") is None
    assert extract_metric({"results": {"tflops_per_second_est": 0.0}}, "tflops_per_second_est") is None
    mem = {"results": {"peak_memory_allocated_gb": 0.0, "peak_mem_mb": 512}}
    assert extract_metric(mem, "peak_memory_allocated_gb") == 0.5
    assert extract_metric({"results": {"peak_mem_mb": 0}}, "peak_memory_allocated_gb") == 0.0


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        ({"results": {"tokens_per_second": 10.0, "tokens_per_s": 20.0}, "tokens_per_second": 30.0}, 10.0),
        ({"results": {"tokens_per_s": 20.0}, "tokens_per_second": 30.0}, 20.0),
        ({"results": {}, "tokens_per_second": 30.0, "tokens_per_s": 40.0}, 30.0),
        ({"tokens_per_s": 40.0}, 40.0),
        ({"results": {"tokens_per_second": False}, "tokens_per_s": 40.0}, 40.0),
        ({"results": {"tokens_per_second": math.nan}}, None),
    ],
)
def test_tokens_per_second_fallback_chain(summary: dict[str, Any], expected: float | None) -> None:
    """results.tokens_per_second -> results.tokens_per_s -> tokens_per_second -> tokens_per_s."""
    assert extract_metric(summary, "tokens_per_second") == expected


def test_tflops_and_memory_fallbacks() -> None:
    assert extract_metric({"results": {"tflops_per_second_est": 2.0}, "tflops_per_second_est": 3.0},
                          "tflops_per_second_est") == 2.0
    assert extract_metric({"tflops_per_second_est": 3.0}, "tflops_per_second_est") == 3.0
    assert extract_metric({"results": {"peak_memory_allocated_gb": 1.5, "peak_mem_mb": 4096}},
                          "peak_memory_allocated_gb") == 1.5
    assert extract_metric({"results": {"peak_mem_mb": 3072}}, "peak_memory_allocated_gb") == 3.0
    assert extract_metric({"results": {"peak_memory_allocated_gb": None}}, "peak_memory_allocated_gb") is None
    # no top-level fallback for memory
    assert extract_metric({"peak_memory_allocated_gb": 1.0}, "peak_memory_allocated_gb") is None


def test_dict_valued_metrics_take_the_variant() -> None:
    """Perf summaries keep {"sdpa": x, "flex": y} per metric; the variant picks one, none: missing."""
    s = {
        "results": {
            "tokens_per_second": {"sdpa": 100.0, "flex": 120.0},
            "tflops_per_second_est": {"sdpa": 1.0, "flex": 1.2},
            "peak_memory_allocated_gb": {"sdpa": 4.0, "flex": 3.0},
            "tokens_per_s": 7.0,
        },
    }
    assert extract_metric(s, "tokens_per_second", "flex") == 120.0
    assert extract_metric(s, "tflops_per_second_est", "sdpa") == 1.0
    assert extract_metric(s, "peak_memory_allocated_gb", "flex") == 3.0
    assert extract_metric(s, "tokens_per_second", None) == 7.0  # the dict gives nothing: next source
    assert extract_metric(s, "tflops_per_second_est", None) is None
    assert extract_metric(s, "tflops_per_second_est", "other") is None
    rows = compare(s, s, baseline_variant="sdpa", candidate_variant="flex")
    assert statuses(rows)["tokens_per_second"] == "ok"  # 100 -> 120
    assert statuses(rows)["peak_memory_allocated_gb"] == "ok"  # 4 -> 3


SUITE = {
    "schema_version": "mgr.bench.suite.v1",
    "runs": [
        {"attention_type": "standard", "final_loss": 2.0, "tokens_per_second": 1000.0,
         "tflops_per_second_est": 1.0, "peak_memory_allocated_gb": 2.0, "losses": [3.0, 2.0]},
        {"attention_type": "tropical", "score": 2.5, "tokens_per_s": 800.0,
         "tflops_per_second_est": True, "losses": [4.0, 3.0, 2.5]},
        "not a run",
    ],
    "results": {"tokens_per_second": 5.0},
}


def test_suite_runs_pick_the_variant_by_attention_type() -> None:
    assert [extract_metric(SUITE, m.key, "standard") for m in METRICS] == [2.0, 1000.0, 1.0, 2.0]
    assert [extract_metric(SUITE, m.key, "tropical") for m in METRICS] == [2.5, 800.0, None, None]
    assert loss_series(SUITE, "tropical") == [4.0, 3.0, 2.5]
    rows = compare(SUITE, SUITE, baseline_variant="standard", candidate_variant="tropical")
    assert statuses(rows) == {
        "final_loss": "regression",
        "tokens_per_second": "regression",
        "tflops_per_second_est": "missing",  # a bool is not a number
        "peak_memory_allocated_gb": "missing",
    }


def test_suite_without_a_matching_run_falls_back_to_the_summary() -> None:
    assert extract_metric(SUITE, "tokens_per_second", "nope") == 5.0
    assert extract_metric(SUITE, "tokens_per_second", None) == 5.0


def test_legacy_flat_summary_without_schema_version() -> None:
    """Older runs (artifacts/baseline/<run_id>/summary.json): top-level git/results/config."""
    legacy = {
        "run_id": "20251217_221844",
        "git": {"commit": "deadbee", "commit_full": "deadbeef" * 5, "dirty": True},
        "config": {"attention_type": "standard", "use_flex_attention": False, "device": "cuda"},
        "results": {"losses": [5.0, 4.0], "tokens_per_s": 12345.0, "peak_mem_mb": 2048},
    }
    assert [extract_metric(legacy, m.key) for m in METRICS] == [4.0, 12345.0, None, 2.0]
    prov = provenance(legacy)
    assert prov["run_id"] == "20251217_221844"
    assert (prov["commit"], prov["dirty"], prov["device"]) == ("deadbee", True, "cuda")
    assert (prov["attention_type"], prov["use_flex_attention"]) == ("standard", False)


def test_provenance_of_an_mgr_telemetry_summary() -> None:
    s = {
        "meta": {"run_id": "r1", "kind": "bench", "device": "cuda", "command": "uv run x",
                 "git": {"commit_full": "f" * 40, "dirty": False}},
        "hparams": {"attention_type": "flex", "use_flex_attention": True},
        "compile": {"enabled": False, "backend": "inductor"},
    }
    assert provenance(s) == {
        "run_id": "r1", "kind": "bench", "device": "cuda", "commit": "f" * 40, "dirty": False,
        "attention_type": "flex", "use_flex_attention": True, "compile": False, "command": "uv run x",
    }
    assert provenance(SUITE, "tropical")["attention_type"] == "tropical"
    assert set(provenance({})) == set(provenance(s)) and set(provenance({}).values()) == {None}


def test_loss_series_keeps_finite_values_only() -> None:
    assert loss_series({"results": {"losses": [3.0, math.nan, True, "x", 2]}}) == [3.0, 2.0]
    assert loss_series({"results": {"losses": "nope"}}) == []
    assert loss_series({}) == []


# -- resolution and loading -------------------------------------------------------------------


def write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_resolve_file_dir_and_artifacts_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    f = write(tmp_path / "x" / "my.json", {})
    assert resolve_summary(str(f), artifacts_dir="artifacts", option="--baseline") == f
    d = write(tmp_path / "run" / "summary.json", {}).parent
    assert resolve_summary(str(d), artifacts_dir="artifacts", option="--baseline") == d / "summary.json"
    under = write(tmp_path / "arts" / "baseline" / "nanochat" / "r1" / "summary.json", {})
    got = resolve_summary("baseline/nanochat/r1", artifacts_dir="arts", option="--baseline")
    assert got == Path("arts/baseline/nanochat/r1/summary.json") and got.resolve() == under


def test_resolve_vrx_run_dir_and_its_log(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "train-1"
    write(run / "events.jsonl", "")
    with pytest.raises(SummaryNotFound, match=r"vrx replay .*train-1.* to derive it") as info:
        resolve_summary(str(run), artifacts_dir=tmp_path, option="--candidate")
    assert str(info.value).startswith("--candidate: ") and "\n" not in str(info.value)
    assert info.value.exit_code == 2
    write(run / "summary.json", {})
    assert resolve_summary(str(run), artifacts_dir=tmp_path, option="-c") == run / "summary.json"
    log = str(run / "events.jsonl")
    assert resolve_summary(log, artifacts_dir=tmp_path, option="-c") == run / "summary.json"


def test_resolve_not_found_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(SummaryNotFound) as info:
        resolve_summary(str(tmp_path / "nope"), artifacts_dir=tmp_path / "arts", option="--baseline")
    message = str(info.value)
    assert message.startswith("--baseline: ") and str(tmp_path / "nope") in message
    (tmp_path / "empty").mkdir()
    with pytest.raises(SummaryNotFound, match=r"no summary\.json at"):
        resolve_summary(str(tmp_path / "empty"), artifacts_dir=tmp_path, option="--baseline")


def test_load_summary_errors_are_one_line_with_file_line_and_column(tmp_path: Path) -> None:
    bad = write(tmp_path / "summary.json", '{\n  "results": {\n    "losses": [1.0,, 2.0]\n}')
    with pytest.raises(InvalidSummary) as info:
        load_summary(bad)
    assert str(info.value) == f"{bad}:3: invalid JSON at column 20: Expecting value"
    assert info.value.exit_code == 65
    for text, what in [("[1, 2]", "not a JSON object"), ("", "invalid JSON")]:
        with pytest.raises(InvalidSummary, match=what):
            load_summary(write(tmp_path / "s.json", text))
    binary = tmp_path / "b.json"
    binary.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(InvalidSummary, match="not UTF-8"):
        load_summary(binary)


def test_load_summary_accepts_nan_literals_which_extraction_then_rejects(tmp_path: Path) -> None:
    """Python's json (upstream's reader) parses NaN; a NaN metric is then missing."""
    text = '{"results": {"losses": [NaN], "tokens_per_second": Infinity}}'
    s = load_summary(write(tmp_path / "s.json", text))
    assert extract_metric(s, "final_loss") is None
    assert extract_metric(s, "tokens_per_second") is None
