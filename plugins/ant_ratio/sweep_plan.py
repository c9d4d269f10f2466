"""What a sweep runs: its settings (the original's defaults, ORIGINS 2.6) and its configurations.

Pure: no subprocess, no clock. A configuration is (ant tier, expert heads, batch); its capability
steps follow the fixed token budget, so a bigger batch does not see more data:
``steps = clamp(token_budget // (batch * seq_len), min_steps, max_steps)``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from itertools import product
from pathlib import Path
from typing import Any

TIER_PRESETS = {"small": "OD1_CANON_SMALL", "real": "OD1_CANON_REAL", "stress": "OD1_CANON_STRESS"}
#: Settings a resumed sweep may change: they bound the work or its plan, not what a row measures.
RESUME_MAY_CHANGE = frozenset({"tiers", "expert_heads", "batch", "cap_retry_once"}) | frozenset(
    {"probe_timeout_s", "cap_timeout_s", "packet_timeout_s"}
)


@dataclass(frozen=True)
class SweepSettings:
    """Every knob of a sweep; the defaults are the original's (``ant_ratio_sweep_v0.py``)."""

    tiers: tuple[str, ...] = ("small", "real", "stress")
    expert_heads: tuple[int, ...] = (1, 2, 4, 8, 16)
    #: The batch of every configuration when no --batch-targets file gives one per configuration.
    batch: int | None = None
    # probe track
    probe_colony: str = "OD1_CANON_REAL"
    probe_precision: str = "fp16"
    probe_amp: int = 1
    probe_warmup_steps: int = 5
    probe_measure_steps: int = 50
    probe_device: str = "auto"
    probe_telemetry_interval: float = 1.0
    # capability track (vrx assoc run: train, then the disjoint eval)
    cap_device: str = "cuda"
    cap_precision: str = "fp32"
    cap_seed: int = 123
    cap_synth_len: int = 256
    cap_assoc_keys: int = 64
    cap_assoc_pairs: int = 4
    cap_assoc_val_range: int = 256
    cap_max_samples: int = 8192
    cap_ptr_dtype: str = "fp64"
    cap_eval_samples: int = 4096
    cap_eval_seed_offset: int = 1_000_003
    cap_force_disjoint: bool = True
    cap_retry_once: bool = True
    # fairness
    token_budget: int = 1_000_000
    seq_len: int = 256
    min_steps: int = 50
    max_steps: int = 2000
    # timeouts, seconds; 0 means none
    probe_timeout_s: float = 900.0
    cap_timeout_s: float = 900.0
    packet_timeout_s: float = 900.0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tiers"], d["expert_heads"] = list(self.tiers), list(self.expert_heads)
        return d

    def steps_for_batch(self, batch: int) -> int:
        tokens_per_step = batch * self.seq_len
        if tokens_per_step <= 0:
            return self.min_steps
        return max(self.min_steps, min(self.max_steps, self.token_budget // tokens_per_step))


@dataclass(frozen=True)
class SweepConfig:
    """One configuration: the probe and the assoc run of (tier, expert heads, batch)."""

    tier: str
    expert_heads: int
    batch: int
    steps: int

    @property
    def config_id(self) -> str:
        """The original's config tag, which also names the configuration's directory."""
        return f"{self.tier}_E{self.expert_heads}_B{self.batch:04d}"

    @property
    def ant_preset(self) -> str:
        return TIER_PRESETS[self.tier]

    def as_dict(self) -> dict[str, Any]:
        return {"config_id": self.config_id, **asdict(self)}


class PlanError(ValueError):
    """The configurations cannot be planned (no batch, an unreadable targets file)."""


def plan(settings: SweepSettings, targets: dict[str, Any] | None = None) -> list[SweepConfig]:
    """The configurations in order: the targets file's usable rows, else tiers x expert heads."""
    if targets is not None:
        configs = _from_targets(settings, targets)
    elif settings.batch is None:
        raise PlanError("give --batch B (one batch for every configuration) or --batch-targets FILE")
    else:
        b, grid = settings.batch, product(settings.tiers, settings.expert_heads)
        configs = [SweepConfig(t, h, b, settings.steps_for_batch(b)) for t, h in grid]
    unique: dict[str, SweepConfig] = {}
    for c in configs:
        unique.setdefault(c.config_id, c)  # a configuration listed twice runs once
    return list(unique.values())


def _from_targets(settings: SweepSettings, targets: dict[str, Any]) -> list[SweepConfig]:
    rows = targets.get("rows")
    if not isinstance(rows, list):
        raise PlanError("batch targets: no rows[] list (is it an ant_ratio_batch_targets_v0 file?)")
    configs = []
    for row in rows:
        # The original skipped unusable rows and rows it could not read, silently; so does the plan.
        if not isinstance(row, dict) or row.get("unusable"):
            continue
        tier = str(row.get("ant_tier") or "").strip().lower()
        heads, batch = row.get("expert_heads"), row.get("chosen_batch")
        if tier not in settings.tiers or type(heads) is not int or type(batch) is not int or batch < 1:
            continue
        if heads in settings.expert_heads:
            configs.append(SweepConfig(tier, heads, batch, settings.steps_for_batch(batch)))
    return configs


def load_targets(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlanError(f"cannot read batch targets {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise PlanError(f"batch targets {path}: not a JSON object")
    return doc


def changed_settings(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """Settings that differ from the sweep being resumed and would make its rows incomparable."""
    keys = (set(before) | set(now)) - RESUME_MAY_CHANGE
    return sorted(k for k in keys if before.get(k) != now.get(k))
