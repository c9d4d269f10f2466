"""``build_packet``: the upstream test vector (ORIGINS 2.5), every key, the PASS rule, the token budget."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from test_packet_fixtures import (
    VECTOR_ENV,
    VECTOR_METRICS,
    VECTOR_REPORT,
    VECTOR_RUN_CMD,
    VECTOR_TOKEN_BUDGET,
)

from vrx_plugins.ant_ratio.packet import (
    PacketError,
    ant_tier_of,
    build_packet,
    packet_json,
    repo_relative,
)
from vrx_plugins.workloads.contract import is_probe_pass

#: Every key of the final upstream version (after d719002a), ant_body_* and assoc_eval_n included.
PACKET_KEYS = {
    "schema_version",
    "generated_utc",
    "git_commit",
    "ant_tier",
    "ant_ring_len",
    "ant_slot_dim",
    "ant_body_cells",
    "ant_body_scale_vs_small",
    "expert_heads",
    "batch_size",
    "precision",
    "amp",
    "seq_len",
    "vram_ratio_reserved",
    "peak_vram_reserved_bytes",
    "total_vram_bytes",
    "throughput_tokens_per_s",
    "throughput_samples_per_s",
    "assoc_byte_disjoint_accuracy",
    "assoc_eval_disjoint",
    "assoc_eval_n",
    "token_budget",
    "token_budget_tokens_per_step",
    "token_budget_steps",
    "probe_run_root",
    "assoc_run_root",
    "stability_pass",
    "fail_reasons",
    "had_oom",
    "had_nan",
    "had_inf",
    "workload_id",
    "probe_id",
}


def packet(
    metrics: dict[str, Any] | None = None,
    env: dict[str, Any] | None = None,
    run_cmd: dict[str, Any] | None = None,
    report: dict[str, Any] | None = None,
    **options: Any,
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "probe_run_root": "/repo/runs/probe",
        "assoc_run_root": "/repo/runs/assoc",
        "generated_utc": "2026-02-07T12:00:00Z",
        **options,
    }
    return build_packet(
        VECTOR_METRICS if metrics is None else metrics,
        VECTOR_ENV if env is None else env,
        VECTOR_RUN_CMD if run_cmd is None else run_cmd,
        VECTOR_REPORT if report is None else report,
        **kwargs,
    )


def test_the_upstream_vector() -> None:
    """TokenBudget(256*16*10, min 1, max 10000) on the upstream test's inputs."""
    pkt = packet(token_budget=VECTOR_TOKEN_BUDGET, min_steps=1, max_steps=10_000)
    assert set(pkt) == PACKET_KEYS
    assert pkt["schema_version"] == "ant_ratio_packet_v0"
    assert (pkt["ant_tier"], pkt["ant_body_cells"], pkt["ant_body_scale_vs_small"]) == ("small", 524288, 1.0)
    assert (pkt["expert_heads"], pkt["batch_size"], pkt["seq_len"]) == (4, 16, 256)
    assert pkt["vram_ratio_reserved"] == pytest.approx(0.85, abs=1e-6)
    assert pkt["stability_pass"] is True
    assert pkt["assoc_eval_disjoint"] is True
    assert pkt["assoc_byte_disjoint_accuracy"] == 0.75
    assert pkt["assoc_eval_n"] == 1234
    assert pkt["token_budget"] == VECTOR_TOKEN_BUDGET
    assert pkt["token_budget_steps"] == 10 and isinstance(pkt["token_budget_steps"], int)
    assert pkt["token_budget_tokens_per_step"] == 16 * 256


def test_the_upstream_vector_in_full() -> None:
    pkt = packet(
        token_budget=VECTOR_TOKEN_BUDGET,
        min_steps=1,
        max_steps=10_000,
        git_commit="abc123",
        repo_root="/repo",
    )
    assert pkt == {
        "schema_version": "ant_ratio_packet_v0",
        "generated_utc": "2026-02-07T12:00:00Z",
        "git_commit": "abc123",
        "ant_tier": "small",
        "ant_ring_len": 2048,
        "ant_slot_dim": 256,
        "ant_body_cells": 524288,
        "ant_body_scale_vs_small": 1.0,
        "expert_heads": 4,
        "batch_size": 16,
        "precision": "fp16",
        "amp": 1,
        "seq_len": 256,
        "vram_ratio_reserved": 0.85,
        "peak_vram_reserved_bytes": 8_500_000_000,
        "total_vram_bytes": 10_000_000_000,
        "throughput_tokens_per_s": 123.0,
        "throughput_samples_per_s": 0.5,
        "assoc_byte_disjoint_accuracy": 0.75,
        "assoc_eval_disjoint": True,
        "assoc_eval_n": 1234,
        "token_budget": 40960,
        "token_budget_tokens_per_step": 4096,
        "token_budget_steps": 10,
        "probe_run_root": "runs/probe",
        "assoc_run_root": "runs/assoc",
        "stability_pass": True,
        "fail_reasons": [],
        "had_oom": False,
        "had_nan": False,
        "had_inf": False,
        "workload_id": "wl_x",
        "probe_id": "probe_x",
    }


def test_packet_bytes_are_sorted_indented_ascii_with_a_newline() -> None:
    pkt = packet(ant_tier="sm\u00e4ll")
    data = packet_json(pkt)
    assert data == (json.dumps(pkt, sort_keys=True, indent=2, ensure_ascii=True) + "\n").encode()
    assert b'"ant_tier": "sm\\u00e4ll"' in data and data.endswith(b"}\n")


def test_non_finite_numbers_are_written_as_null() -> None:
    pkt = packet(metrics={**VECTOR_METRICS, "throughput_tokens_per_s": math.nan})
    assert b'"throughput_tokens_per_s": null' in packet_json(pkt)


# -- the combined PASS rule: identity checks ---------------------------------------------------------


PASS = {"stability_pass": True, "had_oom": False, "had_nan": False, "had_inf": False}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, True),
        ({"had_oom": None}, False),
        ({"had_nan": None}, False),
        ({"had_inf": None}, False),
        ({"stability_pass": 1}, False),
        ({"stability_pass": "true"}, False),
        ({"had_oom": 0}, False),
        ({"had_inf": True}, False),
        ({"stability_pass": False}, False),
    ],
)
def test_the_pass_rule_uses_identity_checks(change: dict[str, Any], expected: bool) -> None:
    metrics = {k: v for k, v in {**VECTOR_METRICS, **PASS, **change}.items() if v is not None}
    assert is_probe_pass(metrics) is expected
    assert packet(metrics=metrics)["stability_pass"] is expected


@pytest.mark.parametrize("key", ["had_oom", "had_nan", "had_inf", "stability_pass"])
def test_a_missing_key_is_a_fail_and_had_flags_read_false(key: str) -> None:
    metrics = {k: v for k, v in VECTOR_METRICS.items() if k != key}
    pkt = packet(metrics=metrics)
    assert pkt["stability_pass"] is False
    assert (pkt["had_oom"], pkt["had_nan"], pkt["had_inf"]) == (False, False, False)


def test_had_flags_are_coerced_to_bool_and_fail_reasons_copied() -> None:
    reasons = ["vram_guard", "oom"]
    pkt = packet(metrics={**VECTOR_METRICS, "had_oom": 1, "fail_reasons": reasons, "stability_pass": False})
    assert (pkt["had_oom"], pkt["stability_pass"], pkt["fail_reasons"]) == (True, False, reasons)
    assert pkt["fail_reasons"] is not reasons
    assert packet(metrics={**VECTOR_METRICS, "fail_reasons": None})["fail_reasons"] == []


def test_fail_reasons_that_are_not_a_list_are_refused() -> None:
    with pytest.raises(PacketError, match="fail_reasons must be a list") as err:
        packet(metrics={**VECTOR_METRICS, "fail_reasons": "oom"})
    assert err.value.source == "metrics.json"


def test_an_empty_probe_gives_nulls_and_a_fail() -> None:
    pkt = packet(metrics={}, env={}, run_cmd={}, report={})
    assert set(pkt) == PACKET_KEYS
    nulls = {k for k, v in pkt.items() if v is None}
    assert {
        "ant_tier",
        "ant_body_cells",
        "vram_ratio_reserved",
        "assoc_eval_n",
        "token_budget_steps",
    } <= nulls
    assert pkt["stability_pass"] is False and pkt["fail_reasons"] == []


def test_malformed_containers_read_as_empty() -> None:
    pkt = packet(run_cmd={"canonical_spec": [1, 2]}, report={"eval": "x", "settings": None})
    assert (pkt["ant_tier"], pkt["assoc_byte_disjoint_accuracy"], pkt["assoc_eval_disjoint"]) == (
        None,
        None,
        None,
    )


# -- identity, cost, capability ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ring", "slot", "override", "tier"),
    [
        (2048, 256, None, "small"),
        (8192, 576, None, "real"),
        (16384, 768, None, "stress"),
        (32, 16, None, "custom"),
        (2048, None, None, None),
        (None, None, " real ", "real"),
        (2048, 256, "", "small"),
        (2048, 256, "stress", "stress"),
    ],
)
def test_tier_lookup(ring: int | None, slot: int | None, override: str | None, tier: str | None) -> None:
    assert ant_tier_of(ring, slot, override) == tier


def test_body_cells_and_scale() -> None:
    spec = {"canonical_spec": {"ant_spec": {"ring_len": 8192, "slot_dim": 576}}}
    pkt = packet(run_cmd=spec)
    assert (pkt["ant_tier"], pkt["ant_body_cells"], pkt["ant_body_scale_vs_small"]) == ("real", 4718592, 9.0)


@pytest.mark.parametrize(
    ("reserved", "total", "ratio"),
    [(8_500_000_000, 10_000_000_000, 0.85), (None, 10, None), (5, 0, None), (5.0, 10, None), (5, "10", None)],
)
def test_vram_ratio_needs_two_ints_and_a_positive_total(reserved: Any, total: Any, ratio: Any) -> None:
    pkt = packet(
        metrics={**VECTOR_METRICS, "peak_vram_reserved_bytes": reserved}, env={"total_vram_bytes": total}
    )
    assert pkt["vram_ratio_reserved"] == ratio


def test_capability_fields() -> None:
    pkt = packet(report={"settings": {"eval_disjoint": 1}, "eval": {"eval_acc": 1, "eval_n": 4096.0}})
    assert (pkt["assoc_byte_disjoint_accuracy"], pkt["assoc_eval_disjoint"], pkt["assoc_eval_n"]) == (
        1.0,
        None,
        None,
    )


# -- token budget ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, (None, None, None)),
        ({"token_budget": 0}, (None, None, None)),
        ({"token_budget": 1_000_000}, (1_000_000, 4096, 244)),
        ({"token_budget": 4096}, (4096, 4096, 50)),  # clamped up to min_steps
        ({"token_budget": 10**9}, (10**9, 4096, 5000)),  # clamped down to max_steps
        ({"token_budget": 1_000_000, "max_steps": 2000, "min_steps": 300}, (1_000_000, 4096, 300)),
        ({"token_budget": 1_000_000, "capability_steps": 81}, (1_000_000, 4096, 81)),
        ({"capability_steps": 81}, (None, None, 81)),
        ({"capability_steps": 0, "token_budget": -5}, (None, None, None)),
    ],
)
def test_token_budget_fields(options: dict[str, Any], expected: tuple[Any, Any, Any]) -> None:
    pkt = packet(**options)
    assert (pkt["token_budget"], pkt["token_budget_tokens_per_step"], pkt["token_budget_steps"]) == expected


def test_a_budget_without_a_shape_has_no_steps() -> None:
    pkt = packet(metrics={**VECTOR_METRICS, "batch_size": None}, token_budget=1000)
    assert (pkt["token_budget"], pkt["token_budget_tokens_per_step"], pkt["token_budget_steps"]) == (
        1000,
        None,
        None,
    )


def test_a_budget_with_zero_tokens_per_step_is_an_error() -> None:
    with pytest.raises(PacketError, match=r"invalid tokens_per_step=0 \(batch=0, seq_len=256\)"):
        packet(metrics={**VECTOR_METRICS, "batch_size": 0}, token_budget=1000)
    assert (
        packet(metrics={**VECTOR_METRICS, "batch_size": 0}, token_budget=1000, capability_steps=5)[
            "token_budget_steps"
        ]
        == 5
    )


# -- roots -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("root", "repo", "shown"),
    [
        ("/repo/runs/probe", "/repo", "runs/probe"),
        ("/repo", "/repo", "."),
        ("/elsewhere/probe", "/repo", "/elsewhere/probe"),
        ("/repo-other/probe", "/repo", "/repo-other/probe"),
        ("/repo/runs/probe", None, "/repo/runs/probe"),
    ],
)
def test_roots_are_repo_relative_under_the_repo_else_absolute(
    root: str, repo: str | None, shown: str
) -> None:
    assert repo_relative(root, repo) == shown
