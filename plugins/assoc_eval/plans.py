"""What ``vrx assoc run`` and ``vrx assoc eval`` will record, decided before anything is recorded.

Each returns a :class:`~.session.Plan`: the ``assoc.start`` event with the report's ``settings``
block and vrx's extras, the model shape, the task, and how the eval set is made. The git revision
and the platform are read here, once, and recorded; a replay never reads them again.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vrx_core.capture.git import read_git

from .settings import InvalidArgs, check_values, resolve_ant, resolve_budget

BENCHMARK_RUN = "vrx_assoc_run"
BENCHMARK_EVAL = "eval_ckpt_assoc_byte"
MODEL_KIND = "absolute_hallway"  # the original's name for the ring-pointer model


def git_rev(cwd: Path) -> str | None:
    """``git rev-parse HEAD`` of the repository holding ``cwd``, or None (not a checkout, no git)."""
    return read_git(cwd).commit_full


def environment() -> dict[str, Any]:
    """The start event's provenance fields, as the original's report names them."""
    # As the original: the revision of the code that runs (vrx's checkout; null for an installed vrx).
    return {
        "git_rev": git_rev(Path(__file__).resolve().parent),
        "python": sys.version.split()[0],
        "os": platform.platform(),
    }


def settings_block(
    *,
    task: Any,
    device: str,
    seed: int,
    shape: Mapping[str, int],
    batch_size: int,
    max_samples: int,
    eval_samples: int,
    lr: float,
    mq_dup: int,
    disjoint: bool,
    split_source: str,
    eval_seed_offset: int,
) -> dict[str, Any]:
    """The report's ``settings``, every key of the original's, in its order."""
    return {
        "device": device,
        "dtype": "fp32",
        "seed": seed,
        "model": MODEL_KIND,
        "ring_len": shape["ring_len"],
        "slot_dim": shape["slot_dim"],
        "expert_capacity_hidden_dims": None,
        "batch_size": batch_size,
        "seq_len": task.seq_len,
        "max_samples": max_samples,
        "eval_samples": eval_samples,
        "lr": lr,
        "keys": task.keys,
        "pairs": task.pairs,
        "val_range": task.val_range,
        "assoc_unique_keys": True,  # hard-coded by the original too, although keys may repeat
        "assoc_mq_dup": mq_dup,
        "assoc_mq_grouped": 1,
        "eval_disjoint": disjoint,
        "eval_split_source": split_source,
        "eval_seed_offset": eval_seed_offset,
        "eval_ptr_deterministic": False,
        "abort_after": 0,
        "abort_acc": 0.0,
    }


def check_device(requested: str) -> str:
    from .runner import resolve_device

    device = resolve_device(requested)
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise InvalidArgs("--device cuda: CUDA is not available here (use --device auto or cpu)")
    return device


def task_of(values: Mapping[str, Any]) -> Any:
    from .task import AssocTask, task_problems

    knobs = (int(values[k]) for k in ("keys", "pairs", "val_range", "seq_len"))
    task = AssocTask(*knobs)
    if problems := task_problems(task):
        raise InvalidArgs("; ".join(f"--{p.replace('_', '-')}" for p in problems))
    return task


def run_plan(
    values: Mapping[str, Any], *, argv: list[str], out_dir: Path, split_forced: bool, sweep: bool
) -> Any:
    """The plan of ``vrx assoc run`` from the merged flag values."""
    from .events import AssocStarted
    from .report import RUN_NOTES
    from .runner import TrainSpec
    from .session import EvalSpec, Plan

    task = task_of(values)
    check_values(values)
    ant = resolve_ant(values["ant"], precision=values["precision"], ptr_dtype=values["ptr_dtype"])
    budget = resolve_budget(values)
    device = check_device(values["device"])
    shape = {
        "ring_len": ant["ring_len"],
        "slot_dim": ant["slot_dim"],
        "num_classes": task.val_range,
        "expert_heads": int(values["out_dim"]),
    }
    disjoint = bool(values["disjoint"])
    rows = max(values["eval_samples"], values["max_samples"]) if disjoint else values["max_samples"]
    spec = EvalSpec(
        disjoint,
        values["eval_samples"],
        rows,
        values["seed"],
        values["eval_seed_offset"],
        values["eval_batch_size"],
    )
    settings = settings_block(
        task=task,
        device=device,
        seed=spec.seed,
        shape=shape,
        batch_size=spec.batch_size,
        max_samples=rows,
        eval_samples=spec.eval_samples,
        lr=float(values["lr"]),
        mq_dup=1,
        disjoint=disjoint,
        split_source="forced" if split_forced else "default",
        eval_seed_offset=spec.eval_seed_offset,
    )
    train = {
        "steps": budget.steps,
        "steps_source": budget.source,
        "token_budget": budget.token_budget,
        "min_steps": budget.min_steps,
        "max_steps": budget.max_steps,
        "tokens_per_step": budget.tokens_per_step,
        "batch_size": values["batch"],
        "lr": float(values["lr"]),
        "optimizer": "adam",
        "max_samples": values["max_samples"],
    }
    extras = {
        "defaults": "sweep" if sweep else "quick",
        "ant_spec": ant,
        "out_dim": shape["expert_heads"],
        "variant": values["variant"],
        "ptr_dtype": ant["ptr_dtype"],
        "precision": values["precision"],
        "eval_batch_size": spec.batch_size,
        "threads": values["threads"],
        "train": train,
    }
    started = AssocStarted(
        mode="run",
        benchmark=BENCHMARK_RUN,
        argv=argv,
        run_root=out_dir.resolve().as_posix(),
        settings=settings,
        extras=extras,
        notes=RUN_NOTES,
        **environment(),
    )
    meta = {
        "keys": task.keys,
        "pairs": task.pairs,
        "val_range": task.val_range,
        "seq_len": task.seq_len,
        "max_samples": values["max_samples"],
        "seed": spec.seed,
        "eval_disjoint": disjoint,
        "eval_seed_offset": spec.eval_seed_offset,
        "ant_spec": ant,
        "out_dim": shape["expert_heads"],
        "variant": values["variant"],
        "ptr_dtype": ant["ptr_dtype"],
    }
    return Plan(
        started=started,
        shape=shape,
        ptr_dtype=ant["ptr_dtype"],
        variant=values["variant"],
        device=device,
        task=task,
        eval=spec,
        train=TrainSpec(budget.steps, values["batch"], float(values["lr"]), values["precision"], device),
        train_rows=values["max_samples"],
        checkpoint_meta=meta,
        threads=int(values["threads"]),
    )
