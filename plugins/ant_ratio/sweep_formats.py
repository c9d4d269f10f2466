"""The bytes of a sweep's outputs, from its folded events: pure and deterministic.

``ant_ratio_packets.jsonl``, ``ant_ratio_summary.csv``, ``sweep_failures.json`` and
``sweep_meta.json`` keep the original's names and shapes (``ant_ratio_sweep_v0.py``);
``sweep_summary.md`` is vrx's own page for a person.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterable
from typing import Any

from .sweep_events import SweepConfigResult

SCHEMA_VERSION = "ant_ratio_sweep_v0"
#: The frontier's target reserved-VRAM ratio (the original hard-coded it in the derived columns).
TARGET_RATIO = 0.85
CSV_COLUMNS = (
    "config", "status", "error", "ant_tier", "ant_body_cells", "ant_body_scale_vs_small", "expert_heads",
    "batch", "steps", "cap_train_rc", "cap_train_nonzero_rc", "cap_eval_device", "attempt_eval_count",
    "probe_pass", "vram_ratio_reserved", "vram_target_abs_error", "throughput_tokens_per_s",
    "tokens_per_vram_ratio", "assoc_byte_disjoint_accuracy", "assoc_acc_per_token_per_s",
    "assoc_acc_per_vram_ratio", "probe_run_root", "assoc_run_root",
)


def stable_json(obj: Any) -> bytes:
    """The original's JSON: sort_keys, indent 2, ASCII, trailing newline."""
    return (json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=True) + "\n").encode("ascii")


def utc(t: float) -> str:
    """An event's time as the original's ``generated_utc`` (from the log, never the clock)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def packets_jsonl(results: Iterable[SweepConfigResult]) -> bytes:
    lines = [
        json.dumps(r.packet, sort_keys=True, ensure_ascii=True) + "\n"
        for r in results
        if r.status == "ok" and r.packet is not None
    ]
    return "".join(lines).encode("ascii")


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _positive(v: Any) -> float | None:
    n = _number(v)
    return n if n is not None and n > 0 else None


def derived_columns(packet: dict[str, Any]) -> dict[str, float | None]:
    """The original's per-row ratios; None where a denominator is missing or not positive."""
    ratio = _positive(packet.get("vram_ratio_reserved"))
    tps = _positive(packet.get("throughput_tokens_per_s"))
    acc = _number(packet.get("assoc_byte_disjoint_accuracy"))
    return {
        "vram_target_abs_error": None if ratio is None else abs(ratio - TARGET_RATIO),
        "tokens_per_vram_ratio": None if ratio is None or tps is None else tps / ratio,
        "assoc_acc_per_vram_ratio": None if ratio is None or acc is None else acc / ratio,
        "assoc_acc_per_token_per_s": None if tps is None or acc is None else acc / tps,
    }


def csv_row(r: SweepConfigResult) -> dict[str, Any]:
    """One summary row: the packet's figures for an ok configuration, what is known for an error."""
    p = r.packet or {}
    assoc = r.stages.get("assoc") or {}
    row: dict[str, Any] = {
        "config": r.config_id,
        "status": r.status,
        "error": "; ".join(r.reasons) if r.status != "ok" else "",
        "ant_tier": r.tier,
        "ant_body_cells": p.get("ant_body_cells"),
        "ant_body_scale_vs_small": p.get("ant_body_scale_vs_small"),
        "expert_heads": r.expert_heads,
        "batch": r.batch,
        "steps": r.steps,
        "cap_train_rc": p.get("cap_train_rc"),
        "cap_train_nonzero_rc": p.get("cap_train_nonzero_rc"),
        "cap_eval_device": p.get("cap_eval_device"),
        "attempt_eval_count": assoc.get("attempts"),
        "probe_pass": r.probe_pass,
        "vram_ratio_reserved": p.get("vram_ratio_reserved"),
        "throughput_tokens_per_s": p.get("throughput_tokens_per_s"),
        "assoc_byte_disjoint_accuracy": p.get("assoc_byte_disjoint_accuracy"),
        "probe_run_root": p.get("probe_run_root") or r.probe_run_root,
        "assoc_run_root": p.get("assoc_run_root") or r.assoc_run_root,
    }
    row.update(derived_columns(p))
    return row


def summary_csv(results: Iterable[SweepConfigResult]) -> bytes:
    """Python's csv writer, as the original wrote it: None empty, booleans True/False, ``\\r\\n``."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS)
    w.writeheader()
    for r in results:
        w.writerow(csv_row(r))
    return buf.getvalue().encode("utf-8")


def failures_json(results: Iterable[SweepConfigResult]) -> bytes:
    failures = [
        {"config": r.config_id, "error": "; ".join(r.reasons), "reasons": list(r.reasons)}
        for r in results
        if r.status != "ok"
    ]
    return stable_json({"failures": failures})


def meta_json(meta: dict[str, Any]) -> bytes:
    return stable_json({"schema_version": SCHEMA_VERSION, **meta})


def summary_md(meta: dict[str, Any], results: list[SweepConfigResult]) -> bytes:
    s = meta["settings"]
    lines = [
        "# Ant-ratio sweep (VRA-78)",
        "",
        f"- configurations: {meta['configs_planned']} planned, {meta['configs_done']} done "
        f"({meta['ok']} ok, {meta['error']} error), {len(meta['pending'])} pending",
        f"- probe: colony {s['probe_colony']}, {s['probe_precision']} amp {s['probe_amp']}, "
        f"warmup {s['probe_warmup_steps']}, measure {s['probe_measure_steps']}",
        f"- assoc: {s['cap_precision']} on {s['cap_device']}; token budget {s['token_budget']} "
        f"(seq_len {s['seq_len']}, steps clamped to {s['min_steps']}..{s['max_steps']})",
        f"- updated: {meta['generated_utc']}",
        "",
        "| config | status | probe | vram ratio | tokens/s | assoc acc | steps | reasons |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [_md_row(r) for r in results]
    if meta["pending"]:
        lines += ["", "Pending: " + ", ".join(meta["pending"])]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _md_row(r: SweepConfigResult) -> str:
    p = r.packet or {}
    probe = "-" if r.probe_pass is None else ("PASS" if r.probe_pass else "FAIL")
    cells = [
        r.config_id, r.status, probe, _fmt(p.get("vram_ratio_reserved"), ".3f"),
        _fmt(p.get("throughput_tokens_per_s"), ",.0f"), _fmt(p.get("assoc_byte_disjoint_accuracy"), ".4f"),
        str(r.steps), "; ".join(r.reasons).replace("|", "\\|"),
    ]
    return "| " + " | ".join(cells) + " |"


def _fmt(v: Any, spec: str) -> str:
    n = _number(v)
    return "-" if n is None else format(n, spec)
