"""summary.json (mgr.telemetry.v1): the fold, the settings lookup and ORIGINS.md 3.2's formulas,
on events with chosen times (docs/summary.md)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from vrx_core.events import (
    Config,
    Environment,
    Event,
    GitInfo,
    Metric,
    Params,
    RunEnd,
    RunLayout,
    RunStart,
    TorchInfo,
    UnknownEvent,
    WriterInfo,
)
from vrx_plugins.run_telemetry.regressions import compare, extract_metric, provenance
from vrx_plugins.run_telemetry.summary import SCHEMA_VERSION, TelemetryFold, build_summary, lookup

T0 = 1_767_268_800.0  # 2026-01-01T12:00:00Z


def start(t: float = T0, **kw: Any) -> RunStart:
    return RunStart(
        run_id=kw.pop("run_id", "train-1"),
        format_major=1,
        format_minor=0,
        writer=WriterInfo(host="h", pid=1),
        argv=kw.pop("argv", ["train.py", "--lr", "3e-4"]),
        t=t,
        **kw,
    )


def loss(step: int | None, value: float, t: float, name: str = "loss") -> Metric:
    return Metric(name, value, step, t=t)


def fold_of(*events: Event | UnknownEvent) -> TelemetryFold:
    fold = TelemetryFold()
    for event in events:
        fold.add(event)
    return fold


def summary_of(*events: Event | UnknownEvent) -> dict[str, Any]:
    return build_summary(fold_of(*events))


def training(params: dict[str, Any], n: int = 5, dt: float = 2.0) -> list[Event]:
    """run_start at T0, params, then loss steps 0..n-1 at T0 + 10 + i*dt."""
    events: list[Event] = [start(), Params(values=params, t=T0 + 1)]
    events += [loss(i, 4.0 - i * 0.5, T0 + 10 + i * dt) for i in range(n)]
    return events


def test_top_level_keys_are_upstreams() -> None:
    s = summary_of(*training({}))
    assert list(s) == [
        "schema_version",
        "meta",
        "hparams",
        "compile",
        "config",
        "dataset",
        "budget",
        "results",
        "numerics",
    ]
    assert s["schema_version"] == SCHEMA_VERSION == "mgr.telemetry.v1"


def test_budget_and_rates_follow_the_formulas() -> None:
    """flops/step, planned FLOPs, measured steps/tokens/time, tokens/s and TFLOP/s (ORIGINS 3.2)."""
    p = {"tokens_per_step": 1000, "flops_per_token": 2_000_000, "warmup_steps": 2, "max_steps": 5}
    s = summary_of(*training(p))
    b, r = s["budget"], s["results"]
    assert b == {
        "max_steps": 5,
        "warmup_steps": 2,
        "target_flops": None,
        "flops_per_token_est": 2_000_000,
        "tokens_per_step_global": 1000,
        "flops_per_step_est": 2_000_000_000,
        "planned_total_flops_est": 10_000_000_000,
    }
    assert r["measured_steps"] == 3
    assert r["measured_tokens"] == 3000
    # From the 2nd loss (end of warmup, T0+12) to the last (T0+18).
    assert r["measured_time_s"] == 6.0
    assert r["tokens_per_second"] == 500.0
    assert r["tflops_per_second_est"] == pytest.approx(2_000_000 * 500 / 1e12)
    assert r["step_times_s"] == [2.0, 2.0, 2.0, 2.0]
    assert r["losses"] == [4.0, 3.5, 3.0, 2.5, 2.0]
    assert r["final_loss"] == r["train_ce_final"] == 2.0


def test_without_warmup_time_runs_from_run_start() -> None:
    s = summary_of(*training({"tokens_per_step": 100}, n=3))
    r = s["results"]
    assert s["budget"]["max_steps"] == 3  # default: the number of losses
    assert s["budget"]["warmup_steps"] == 0
    assert r["measured_time_s"] == 14.0  # T0 -> T0 + 14
    assert r["tokens_per_second"] == pytest.approx(300 / 14)
    assert r["tflops_per_second_est"] is None  # no flops_per_token


def test_aliases_and_config_fallback() -> None:
    """Params win over the config's top level; the mgr spellings are aliases."""
    events = [
        start(),
        Config(composed={}, resolved={"tokens_per_step_global": 64, "max_steps": 9, "seed": 5}, t=T0),
        Params(values={"flops_per_token_est": 10, "max_steps": 3}, t=T0),
        *[loss(i, 1.0, T0 + i + 1) for i in range(3)],
    ]
    s = summary_of(*events)
    assert s["budget"]["tokens_per_step_global"] == 64
    assert s["budget"]["flops_per_token_est"] == 10
    assert s["budget"]["max_steps"] == 3
    assert s["meta"]["seed"] == 5
    assert s["config"] == {"tokens_per_step_global": 64, "max_steps": 9, "seed": 5}
    assert lookup({"tokens_per_step": None}, {"tokens_per_step": 7}, "tokens_per_step") == 7


def test_unknown_tokens_give_null_rates_and_no_measured_steps_give_zero() -> None:
    assert summary_of(*training({}))["results"]["tokens_per_second"] is None
    # A sixth loss after the 5 warmup steps gives a measured interval, but max_steps leaves no step.
    s = summary_of(*training({"tokens_per_step": 10, "warmup_steps": 5, "max_steps": 5}, n=6))
    assert s["results"]["measured_steps"] == 0
    assert s["results"]["measured_time_s"] == 2.0
    assert s["results"]["tokens_per_second"] == 0.0
    assert s["results"]["tflops_per_second_est"] is None


def test_no_measured_time_gives_null_rates_even_without_measured_steps() -> None:
    """warmup 10 and 2 losses: max_steps defaults to 2, so no measured step, and no interval
    either: the rates are null (``vrx regressions`` then says missing), never 0.0."""
    p = {"tokens_per_step": 100, "flops_per_token": 1000, "warmup_steps": 10}
    r = summary_of(*training(p, n=2))["results"]
    assert r["measured_steps"] == 0
    assert r["measured_time_s"] is None
    assert r["tokens_per_second"] is None and r["tflops_per_second_est"] is None
    s = summary_of(*training(p, n=2))
    status = {row.metric: row.status for row in compare(s, s)}
    assert status["tokens_per_second"] == status["tflops_per_second_est"] == "missing"


def test_a_run_that_ends_during_warmup_has_no_measured_rate() -> None:
    """max_steps says 100 but only 3 losses were recorded, all in warmup: no interval to divide by."""
    s = summary_of(*training({"tokens_per_step": 10, "warmup_steps": 4, "max_steps": 100}, n=3))
    r = s["results"]
    assert r["measured_steps"] == 96
    assert r["measured_time_s"] is None
    assert r["tokens_per_second"] is None


def test_measured_time_has_a_floor() -> None:
    events = [start(), Params(values={"tokens_per_step": 1}, t=T0), loss(0, 1.0, T0)]
    assert summary_of(*events)["results"]["measured_time_s"] == 1e-9


def test_series_are_in_step_order_and_a_repeated_step_replaces() -> None:
    """A resumed run re-records steps 2..3: the later values win; out-of-order steps are sorted."""
    events = [
        start(),
        loss(0, 5.0, T0 + 1),
        loss(1, 4.0, T0 + 2),
        loss(2, 3.0, T0 + 3),
        loss(3, 2.0, T0 + 4),
        loss(2, 3.5, T0 + 10),
        loss(3, 2.5, T0 + 11),
        loss(4, 1.5, T0 + 12),
    ]
    r = summary_of(*events)["results"]
    assert r["losses"] == [5.0, 4.0, 3.5, 2.5, 1.5]
    assert r["step_times_s"] == [1.0, 8.0, 1.0, 1.0]


def test_losses_without_steps_keep_their_recorded_order() -> None:
    r = summary_of(start(), loss(None, 3.0, T0 + 1), loss(None, 2.0, T0 + 2))["results"]
    assert r["losses"] == [3.0, 2.0]


def test_val_losses_are_step_value_pairs() -> None:
    events = [*training({}), loss(1, 3.9, T0 + 13, "val_loss"), loss(4, 2.2, T0 + 19, "val_loss")]
    r = summary_of(*events)["results"]
    assert r["val_losses"] == [[1, 3.9], [4, 2.2]]
    assert r["val_ce_final"] == 2.2


def test_metric_names_are_settings() -> None:
    """loss_metric / val_loss_metric / peak_memory_metric choose the series."""
    params = {"loss_metric": "train/loss", "val_loss_metric": "val/loss", "peak_memory_metric": "mem"}
    events = [
        start(),
        Params(values=params, t=T0),
        loss(0, 2.0, T0 + 1, "train/loss"),
        loss(0, 9.0, T0 + 1),  # "loss" is just another metric now
        loss(0, 2.5, T0 + 2, "val/loss"),
        loss(0, 3.25, T0 + 3, "mem"),
        loss(0, 7.0, T0 + 3, "peak_memory_allocated_gb"),
    ]
    r = summary_of(*events)["results"]
    assert r["losses"] == [2.0]
    assert r["val_losses"] == [[0, 2.5]]
    assert r["peak_memory_allocated_gb"] == 3.25
    assert r["metrics_final"] == {
        "loss": 9.0,
        "mem": 3.25,
        "peak_memory_allocated_gb": 7.0,
        "train/loss": 2.0,
        "val/loss": 2.5,
    }


def test_peak_memory_is_the_last_value_or_null() -> None:
    assert summary_of(*training({}))["results"]["peak_memory_allocated_gb"] is None
    events = [*training({}), loss(1, 1.5, T0 + 20, "peak_memory_allocated_gb")]
    events.append(loss(2, 1.75, T0 + 21, "peak_memory_allocated_gb"))
    assert summary_of(*events)["results"]["peak_memory_allocated_gb"] == 1.75


def test_non_finite_losses() -> None:
    """final_loss is the last finite loss; train_ce_final the last loss (upstream); numerics counts."""
    events = [start(), loss(0, 2.0, T0 + 1), loss(1, math.nan, T0 + 2), loss(2, math.inf, T0 + 3)]
    events.append(loss(0, math.nan, T0 + 4, "grad_norm"))
    s = summary_of(*events)
    assert s["results"]["final_loss"] == 2.0
    assert math.isinf(s["results"]["train_ce_final"])
    assert s["numerics"] == {
        "check_numerics": None,
        "detect_anomaly": None,
        "non_finite_losses": 2,
        "first_non_finite_loss_step": 1,
        "non_finite_metrics": {"grad_norm": 1, "loss": 2},
    }


def test_meta_defaults_without_environment_or_layout() -> None:
    m = summary_of(*training({}))["meta"]
    assert m["run_id"] == "train-1"
    assert m["kind"] == "baseline"
    assert m["topic"] == "train-1"  # no layout, no run name: the run id
    assert m["device"] == "unknown"
    assert m["git"] == {
        "commit": "unknown",
        "commit_full": "unknown",
        "branch": "unknown",
        "dirty": None,
        "message": "unknown",
    }
    assert m["gpu"] == {"available": False}
    assert m["command"] == m["command_argv"] == "train.py --lr 3e-4"
    assert m["argv"] == ["train.py", "--lr", "3e-4"]
    assert m["generated_at"] == "2026-01-01T12:00:18Z"  # the last event's time, never the clock
    assert m["ddp"] == {"enabled": False, "world_size": 1, "rank": 0, "local_rank": 0}


def test_generated_at_is_the_last_events_time() -> None:
    events = [*training({}), RunEnd(count=7, bytes_before=1, sha256="x", t=T0 + 3600)]
    assert summary_of(*events)["meta"]["generated_at"] == "2026-01-01T13:00:00Z"


def environment(cuda: bool = True) -> Environment:
    torch = TorchInfo(
        version="2.13.0",
        cuda_version="12.8",
        cuda_available=cuda,
        devices=[{"name": "NVIDIA H200", "total_memory_bytes": 2 * 1024**3, "capability": "9.0"}]
        if cuda
        else [],
    )
    return Environment(
        git=GitInfo(commit_full="0123456789abcdef" * 2 + "01234567", branch="main", dirty=True, message="m"),
        python={"executable": "/usr/bin/python3", "version": "3.11.7", "implementation": "CPython"},
        host={
            "hostname": "node1",
            "platform": "Linux-x86_64",
            "machine": "x86_64",
            "cpu_count": 16,
            "memory_bytes": 64 * 1024**3,
            "user": "me",
        },
        cwd="/src",
        env_vars={"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "CUDA_VISIBLE_DEVICES": "0,1"},
        torch=torch,
        t=T0,
    )


def test_meta_from_environment_and_layout() -> None:
    layout = RunLayout(style="mgr", run_id="20260101_120000", kind="bench", topic="nanochat", t=T0)
    m = summary_of(start(name="my run"), layout, environment(), *training({})[1:])["meta"]
    assert (m["run_id"], m["kind"], m["topic"]) == ("20260101_120000", "bench", "nanochat")
    assert m["git"]["commit"] == "0123456"
    assert m["git"]["dirty"] is True
    assert m["system"] == {
        "hostname": "node1",
        "platform": "Linux-x86_64",
        "python_version": "3.11.7",
        "torch_version": "2.13.0",
        "cpu_count": 16,
        "cpu_count_logical": 16,
        "memory_gb": 64.0,
        "user": "me",
    }
    assert m["gpu"] == {
        "available": True,
        "count": 1,
        "names": ["NVIDIA H200"],
        "memory_gb": [2.0],
        "cuda_version": "12.8",
    }
    assert m["python"] == {"executable": "/usr/bin/python3", "version": "3.11.7"}
    assert m["device"] == "cuda"
    assert m["ddp"] == {"enabled": True, "world_size": 4, "rank": 1, "local_rank": 1}
    assert m["env"]["CUDA_VISIBLE_DEVICES"] == "0,1"


def test_topic_falls_back_to_the_project_then_the_run_name() -> None:
    rv = RunLayout(style="rvinci", run_id="2026-01-01_12-00-00_abc1234", project="vision", t=T0)
    assert summary_of(start(), rv, *training({})[1:])["meta"]["topic"] == "vision"
    assert summary_of(start(name="sweep a"), *training({})[1:])["meta"]["topic"] == "sweep a"
    params = {"topic": "fixed_flops", "kind": "perf", "device": "cuda:1"}
    m = summary_of(start(), rv, *training(params)[1:])["meta"]
    assert (m["topic"], m["kind"], m["device"]) == ("fixed_flops", "perf", "cuda:1")


def test_device_without_cuda_is_cpu() -> None:
    assert summary_of(start(), environment(cuda=False), *training({})[1:])["meta"]["device"] == "cpu"


def test_sections_from_params() -> None:
    compile_ = {"enabled": True, "backend": "inductor", "mode": "max-autotune"}
    params = {"compile": compile_, "dataset": {"name": "fineweb"}, "check_numerics": True, "lr": 0.1}
    s = summary_of(*training(params))
    assert s["compile"] == compile_
    assert s["dataset"] == {"name": "fineweb"}
    assert s["hparams"] == params
    assert s["numerics"]["check_numerics"] is True
    assert summary_of(*training({"compile": True}))["compile"] == {}


def test_params_merge_last_wins() -> None:
    events = [*training({"a": 1, "b": 2}), Params(values={"b": 3}, t=T0 + 30)]
    assert summary_of(*events)["hparams"] == {"a": 1, "b": 3}


def test_unknown_events_are_ignored() -> None:
    odd = UnknownEvent(seq=9, t=T0 + 99, type="x.y", v=1, data={})
    s = summary_of(*training({}), odd)
    assert s["meta"]["generated_at"] == "2026-01-01T12:00:18Z"


def test_bad_setting_values_fall_back_to_defaults() -> None:
    params = {"max_steps": "ten", "warmup_steps": 1.5, "tokens_per_step": True, "flops_per_token": math.nan}
    b = summary_of(*training(params))["budget"]
    assert (b["max_steps"], b["warmup_steps"]) == (5, 0)
    assert b["tokens_per_step_global"] is None
    assert b["flops_per_token_est"] is None


def test_snapshot() -> None:
    assert TelemetryFold().snapshot() == {}
    snap = fold_of(*training({}), loss(0, 1.5, T0, "peak_memory_allocated_gb")).snapshot()
    assert snap == {"losses": 5, "loss": 2.0, "val_loss": None, "peak_memory_allocated_gb": 1.5}


def test_vrx_regressions_reads_what_the_summary_writes() -> None:
    """The guardrail's extraction and provenance find every metric of a derived summary."""
    params = {
        "tokens_per_step": 1000,
        "flops_per_token": 2_000_000,
        "warmup_steps": 2,
        "attention_type": "flex",
        "compile": {"enabled": True},
    }
    events = [*training(params), loss(4, 1.25, T0 + 20, "peak_memory_allocated_gb")]
    s = summary_of(*events)
    assert extract_metric(s, "final_loss") == 2.0
    assert extract_metric(s, "tokens_per_second") == 500.0
    assert extract_metric(s, "tflops_per_second_est") == pytest.approx(1e-3)
    assert extract_metric(s, "peak_memory_allocated_gb") == 1.25
    prov = provenance(s)
    assert prov["attention_type"] == "flex"
    assert prov["compile"] is True
    assert prov["run_id"] == "train-1"


def test_a_step_beyond_64_bits_is_kept() -> None:
    r = summary_of(start(), loss(1, 2.0, T0 + 1), loss(2**70, 1.0, T0 + 2))["results"]
    assert r["losses"] == [2.0, 1.0]
