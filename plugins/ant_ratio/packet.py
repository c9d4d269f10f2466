"""The ``ant_ratio_packet_v0`` packet: one probe run joined with one assoc eval (ORIGINS 2.5).

Pure: :func:`build_packet` takes the four parsed input files and the options, reads no clock, no
file and no git, and returns the packet dict; :func:`packet_json` gives its bytes. ``vrx packet``
(``cli``) and ``vrx sweep`` call it at record time; the deriver (``derive``) calls it again at
replay with the same recorded inputs, so the bytes match.

Every rule is the original's (``Golden Draft/tools/ant_ratio_packet_v0.py`` after ``d719002a``),
``isinstance(x, int)`` included: a JSON ``true`` counts as the int 1 there, as it did upstream.
Malformed containers (a ``canonical_spec`` that is not an object, say) read as empty instead of
crashing, and ``fail_reasons`` must be a list (upstream turned a string into its characters).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from ..workloads.contract import is_probe_pass

SCHEMA_VERSION = "ant_ratio_packet_v0"

#: ``(ring_len, slot_dim)`` of the OD1 templates -> tier; any other shape is ``custom``.
KNOWN_ANT_TIERS: dict[tuple[int, int], str] = {
    (2048, 256): "small",
    (8192, 576): "real",
    (16384, 768): "stress",
}
CUSTOM_TIER = "custom"
#: ``ant_body_cells`` of the small tier: ``ant_body_scale_vs_small`` is relative to it.
SMALL_BODY_CELLS = 2048 * 256

DEFAULT_MIN_STEPS = 50
DEFAULT_MAX_STEPS = 5000

#: The four input files, by the name the packet's errors and the recorded sources use.
METRICS, ENV, RUN_CMD, REPORT = "metrics.json", "env.json", "run_cmd.txt", "report.json"


class PacketError(ValueError):
    """The inputs cannot make a packet; ``source`` names the input file at fault."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(message)
        self.source = source


def build_packet(
    metrics: Mapping[str, Any],
    env: Mapping[str, Any],
    run_cmd: Mapping[str, Any],
    report: Mapping[str, Any],
    *,
    probe_run_root: str | PurePath,
    assoc_run_root: str | PurePath,
    generated_utc: str,
    git_commit: str | None = None,
    repo_root: str | PurePath | None = None,
    ant_tier: str | None = None,
    token_budget: int | None = None,
    min_steps: int = DEFAULT_MIN_STEPS,
    max_steps: int = DEFAULT_MAX_STEPS,
    capability_steps: int | None = None,
) -> dict[str, Any]:
    """The packet of ``metrics.json``, ``env.json``, ``run_cmd.txt`` (parsed) and ``report.json``.

    ``probe_run_root``/``assoc_run_root`` and ``repo_root`` should be absolute, resolved paths
    (``Path.resolve()``; this function never touches the filesystem): a root under ``repo_root``
    is stored repo-relative, any other as given, both as POSIX. ``ant_tier`` overrides the tier
    lookup (blank: none). ``token_budget`` None or <= 0 means off, ``capability_steps`` None or
    <= 0 means not given, as the original's 0 defaults. Raises :class:`PacketError` when a token
    budget meets a batch * seq_len <= 0.
    """
    ring_len, slot_dim = _ant_shape(run_cmd)
    batch, seq_len = _as_int(metrics.get("batch_size")), _as_int(metrics.get("seq_len"))
    budget = token_budget if token_budget is not None and token_budget > 0 else None
    cap_steps = capability_steps if capability_steps is not None and capability_steps > 0 else None
    packet: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generated_utc": generated_utc,
        "git_commit": git_commit,
        **_identity(metrics, ring_len, slot_dim, ant_tier),
        **_cost(metrics, env),
        **_capability(report),
        **token_budget_fields(
            budget, batch, seq_len, min_steps=min_steps, max_steps=max_steps, capability_steps=cap_steps
        ),
        "probe_run_root": repo_relative(probe_run_root, repo_root),
        "assoc_run_root": repo_relative(assoc_run_root, repo_root),
        **_stability(metrics),
        "workload_id": metrics.get("workload_id"),
        "probe_id": metrics.get("probe_id"),
    }
    return packet


def packet_json(packet: Mapping[str, Any]) -> bytes:
    """The packet file: JSON, sorted keys, indent 2, ASCII, trailing newline.

    A non-finite number (JSON has none; Python's parser accepts ``NaN``) is written as null, as
    vrx writes every derived JSON file, where the original would have written invalid JSON.
    """
    text = json.dumps(_finite(dict(packet)), sort_keys=True, indent=2, ensure_ascii=True)
    return (text + "\n").encode("ascii")


def ant_tier_of(ring_len: int | None, slot_dim: int | None, override: str | None = None) -> str | None:
    """The override if given (non-blank), else the tier of the shape; None without a shape."""
    if override is not None and override.strip():
        return override.strip()
    if ring_len is None or slot_dim is None:
        return None
    return KNOWN_ANT_TIERS.get((ring_len, slot_dim), CUSTOM_TIER)


def capability_steps_for(token_budget: int, batch: int, seq_len: int, min_steps: int, max_steps: int) -> int:
    """``clamp(token_budget // (batch * seq_len), min_steps, max_steps)``: the fixed token budget
    as training steps, so a bigger batch does not see more data."""
    tokens_per_step = batch * seq_len
    if tokens_per_step <= 0:
        problem = f"invalid tokens_per_step={tokens_per_step} (batch={batch}, seq_len={seq_len})"
        raise PacketError(METRICS, problem)
    return max(min_steps, min(max_steps, token_budget // tokens_per_step))


def token_budget_fields(
    token_budget: int | None,
    batch: int | None,
    seq_len: int | None,
    *,
    min_steps: int,
    max_steps: int,
    capability_steps: int | None,
) -> dict[str, int | None]:
    """``token_budget``, ``token_budget_tokens_per_step``, ``token_budget_steps``.

    Explicit capability steps win over the budget's steps, but the tokens per step are still
    recorded: they are the fairness basis of the comparison either way.
    """
    tokens_per_step = batch * seq_len if batch is not None and seq_len is not None else None
    steps = capability_steps
    if steps is None and token_budget is not None and batch is not None and seq_len is not None:
        steps = capability_steps_for(token_budget, batch, seq_len, min_steps, max_steps)
    per_step = tokens_per_step if token_budget is not None else None
    return {
        "token_budget": token_budget,
        "token_budget_tokens_per_step": per_step,
        "token_budget_steps": steps,
    }


def repo_relative(root: str | PurePath, repo_root: str | PurePath | None) -> str:
    """``root`` relative to ``repo_root`` when under it, else as given; POSIX either way."""
    path = PurePath(root)
    if repo_root is not None:
        try:
            return path.relative_to(PurePath(repo_root)).as_posix()
        except ValueError:
            pass  # outside the repository: keep the path as it is
    return path.as_posix()


# -- the packet's sections -----------------------------------------------------------------------


def _identity(
    metrics: Mapping[str, Any], ring_len: int | None, slot_dim: int | None, override: str | None
) -> dict[str, Any]:
    cells = ring_len * slot_dim if ring_len is not None and slot_dim is not None else None
    return {
        "ant_tier": ant_tier_of(ring_len, slot_dim, override),
        "ant_ring_len": ring_len,
        "ant_slot_dim": slot_dim,
        "ant_body_cells": cells,
        "ant_body_scale_vs_small": None if cells is None else float(cells) / float(SMALL_BODY_CELLS),
        "expert_heads": _as_int(metrics.get("out_dim")),
        "batch_size": _as_int(metrics.get("batch_size")),
        "precision": metrics.get("precision"),
        "amp": _as_int(metrics.get("amp")),
        "seq_len": _as_int(metrics.get("seq_len")),
    }


def _cost(metrics: Mapping[str, Any], env: Mapping[str, Any]) -> dict[str, Any]:
    reserved = _as_int(metrics.get("peak_vram_reserved_bytes"))
    total = _as_int(env.get("total_vram_bytes"))
    ratio: float | None = None
    if reserved is not None and total is not None and total > 0:
        ratio = float(reserved) / float(total)
    return {
        "vram_ratio_reserved": ratio,
        "peak_vram_reserved_bytes": reserved,
        "total_vram_bytes": total,
        "throughput_tokens_per_s": metrics.get("throughput_tokens_per_s"),
        "throughput_samples_per_s": metrics.get("throughput_samples_per_s"),
    }


def _capability(report: Mapping[str, Any]) -> dict[str, Any]:
    ev, settings = _obj(report.get("eval")), _obj(report.get("settings"))
    acc, disjoint = ev.get("eval_acc"), settings.get("eval_disjoint")
    return {
        "assoc_byte_disjoint_accuracy": float(acc) if isinstance(acc, int | float) else None,
        "assoc_eval_disjoint": disjoint if isinstance(disjoint, bool) else None,
        "assoc_eval_n": _as_int(ev.get("eval_n")),
    }


def _stability(metrics: Mapping[str, Any]) -> dict[str, Any]:
    reasons = metrics.get("fail_reasons")
    if reasons and not isinstance(reasons, list):
        raise PacketError(METRICS, f"fail_reasons must be a list, got {type(reasons).__name__}")
    return {
        "stability_pass": is_probe_pass(metrics),
        "fail_reasons": list(reasons or []),
        "had_oom": bool(metrics.get("had_oom") or False),
        "had_nan": bool(metrics.get("had_nan") or False),
        "had_inf": bool(metrics.get("had_inf") or False),
    }


def _ant_shape(run_cmd: Mapping[str, Any]) -> tuple[int | None, int | None]:
    ant = _obj(_obj(run_cmd.get("canonical_spec")).get("ant_spec"))
    return _as_int(ant.get("ring_len")), _as_int(ant.get("slot_dim"))


def _as_int(value: Any) -> int | None:
    # isinstance, not type(): upstream accepted bools as ints, and packets must match its output
    return int(value) if isinstance(value, int) else None


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
