"""What ``vrx assoc run`` runs: two sets of defaults, the token-budget clamp, and the checks.

``QUICK`` is sized to finish in about a minute on a 2-core CPU (a toy ring, a short task);
``SWEEP`` holds the capability-track defaults of ``ant_ratio_sweep_v0.py`` (ORIGINS 2.6), chosen
by ``--sweep-defaults``. A flag given on the command line always wins over either set. No torch
here: the command line is checked before anything heavy is imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from vrx_core.errors import UsageError

#: A toy ring for the CPU default: 64 slots of 32, pointer in fp64 like every OD1 template.
QUICK_ANT: Final = '{"ring_len": 64, "slot_dim": 32, "ptr_dtype": "fp64", "precision": "fp32"}'

QUICK: Final[Mapping[str, Any]] = {
    "keys": 8,
    "pairs": 2,
    "val_range": 8,
    "seq_len": 16,
    "max_samples": 2048,
    "eval_samples": 512,
    "eval_seed_offset": 1000003,
    "disjoint": True,
    "seed": 123,
    "device": "auto",
    "ant": QUICK_ANT,
    "out_dim": 1,
    "precision": "fp32",
    "ptr_dtype": None,
    "variant": "dense",
    "batch": 32,
    "eval_batch_size": 32,
    "lr": 1e-3,
    "steps": 500,
    "token_budget": None,
    "min_steps": 50,
    "max_steps": 2000,
    "threads": 1,
}

SWEEP: Final[Mapping[str, Any]] = {
    "keys": 64,
    "pairs": 4,
    "val_range": 256,
    "seq_len": 256,
    "max_samples": 8192,
    "eval_samples": 4096,
    "eval_seed_offset": 1000003,
    "disjoint": True,
    "seed": 123,
    "device": "auto",
    "ant": "OD1_CANON_SMALL",
    "out_dim": 1,
    "precision": "fp32",
    "ptr_dtype": "fp64",
    "variant": "dense",
    "batch": 16,
    "eval_batch_size": None,
    "lr": 1e-3,
    "steps": None,
    "token_budget": 1_000_000,
    "min_steps": 50,
    "max_steps": 2000,
    "threads": 0,
}

DEVICES: Final = ("auto", "cpu", "cuda")
PRECISIONS: Final = ("fp32", "bf16", "fp16")
VARIANTS: Final = ("dense", "compact")
PTR_DTYPES: Final = ("fp64", "fp32", "fp16", "bf16")
SEED_LIMIT: Final = 2**63


class InvalidArgs(UsageError):
    """A flag value outside its rule (exit 2, nothing recorded)."""


@dataclass(frozen=True)
class Budget:
    """How many training steps, and why: ``--steps`` or the token budget's clamp."""

    steps: int
    source: str  # "steps" or "token_budget"
    token_budget: int | None
    min_steps: int
    max_steps: int
    tokens_per_step: int


def budget_steps(token_budget: int, batch: int, seq_len: int, min_steps: int, max_steps: int) -> int:
    """ORIGINS 2.5: ``clamp(token_budget // (batch * seq_len), min_steps, max_steps)``."""
    tokens_per_step = batch * seq_len
    if tokens_per_step <= 0:
        return min_steps
    return max(min_steps, min(max_steps, token_budget // tokens_per_step))


def merged(explicit: Mapping[str, Any], sweep: bool) -> dict[str, Any]:
    """The defaults of the chosen set overridden by every flag given (a given flag is not None)."""
    out = dict(SWEEP if sweep else QUICK)
    out.update({k: v for k, v in explicit.items() if v is not None and k in out})
    if out["eval_batch_size"] is None:
        out["eval_batch_size"] = out["batch"]  # the sweep evaluates with its training batch
    if explicit.get("steps") is not None:
        out["token_budget"] = None  # an explicit --steps beats a default budget
    elif explicit.get("token_budget") is not None:
        out["steps"] = None  # and an explicit budget beats default steps
    return out


def resolve_budget(values: Mapping[str, Any]) -> Budget:
    """The training steps from ``steps`` or ``token_budget`` (exactly one is set after merging)."""
    batch, seq_len = int(values["batch"]), int(values["seq_len"])
    lo, hi = int(values["min_steps"]), int(values["max_steps"])
    if values["steps"] is not None:
        return Budget(int(values["steps"]), "steps", None, lo, hi, batch * seq_len)
    budget = int(values["token_budget"])
    steps = budget_steps(budget, batch, seq_len, lo, hi)
    return Budget(steps, "token_budget", budget, lo, hi, batch * seq_len)


def check_values(v: Mapping[str, Any]) -> None:
    """Raise :class:`InvalidArgs` naming the first flag outside its rule."""
    rules: list[tuple[str, bool, str]] = [
        ("--max-samples", v["max_samples"] >= 1, ">= 1"),
        ("--eval-samples", v["eval_samples"] >= 1, ">= 1"),
        ("--seed", 0 <= v["seed"] < SEED_LIMIT, "in [0, 2**63)"),
        ("--eval-seed-offset", 0 <= v["seed"] + v["eval_seed_offset"] < SEED_LIMIT, "+ --seed in [0, 2**63)"),
        ("--out-dim", v["out_dim"] >= 1, ">= 1"),
        ("--batch", v["batch"] >= 1, ">= 1"),
        ("--eval-batch-size", v["eval_batch_size"] >= 1, ">= 1"),
        ("--lr", 0.0 < v["lr"] < float("inf"), "a finite number > 0"),
        ("--min-steps", v["min_steps"] >= 0, ">= 0"),
        ("--max-steps", v["max_steps"] >= v["min_steps"], ">= --min-steps"),
        ("--threads", v["threads"] >= 0, ">= 0"),
    ]
    if v["steps"] is not None:
        rules.append(("--steps", v["steps"] >= 0, ">= 0"))
    if v["token_budget"] is not None:
        rules.append(("--token-budget", v["token_budget"] >= 1, ">= 1"))
    for flag, ok, rule in rules:
        if not ok:
            raise InvalidArgs(f"{flag} must be {rule}")
    if v["device"] not in DEVICES or v["precision"] not in PRECISIONS or v["variant"] not in VARIANTS:
        raise InvalidArgs("unknown --device, --precision or --variant")


def resolve_ant(text: str, *, precision: str, ptr_dtype: str | None) -> dict[str, Any]:
    """The ant spec of ``--ant`` (preset, file or inline JSON) with the overrides, validated.

    ``precision`` always replaces the spec's (as the probe's ``--precision`` does); ``ptr_dtype``
    only when given. Raises :class:`InvalidArgs` with the spec's problems, each with its path.
    """
    from ..workloads import SpecLoadError, extract_subspec, load_spec_arg, load_template, validate_spec

    try:
        ant = extract_subspec(load_spec_arg(text), "ant")
    except (SpecLoadError, ValueError) as exc:
        raise InvalidArgs(f"invalid --ant: {exc}") from None
    ant["precision"] = precision
    if ptr_dtype is not None:
        ant["ptr_dtype"] = ptr_dtype
    # The schema validates whole workloads; a shipped colony stands in, and only ant problems count.
    whole = {**load_template("od1_small_v1"), "ant_spec": ant}
    problems = [p for p in validate_spec(whole) if p.path.startswith("$.ant_spec")]
    if problems:
        raise InvalidArgs("invalid --ant: " + "; ".join(f"{p.path}: {p.message}" for p in problems))
    return ant
