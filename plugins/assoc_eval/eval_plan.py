"""The plan of ``vrx assoc eval``: a checkpoint, the task it was trained on, and where to record.

Each setting comes from the first source that has it:

- task knobs (keys, pairs, val_range, seq_len, max_samples): the flags, then the checkpoint's
  ``vrx_assoc`` block (written by ``vrx assoc run``), then the ``[synth]`` header of a
  ``vraxion.log`` beside the checkpoint (the original's run root);
- the split: ``--disjoint``/``--subset`` (``forced``), else the checkpoint's record, else
  ``[eval] split=disjoint`` in ``vraxion.log``, else subset (all ``inferred``, as the original);
- the seed: ``--seed``, the checkpoint's record, ``seed<N>`` in the checkpoint's path, its step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vrx_core.errors import ExitCode, RunExists, VrxError
from vrx_core.log.rundir import RunDir

from .ckpt import (
    Loaded,
    infer_shape,
    last_losses,
    load_checkpoint,
    log_says_disjoint,
    seed_from_path,
    synth_header,
)
from .plans import BENCHMARK_EVAL, check_device, environment, settings_block, task_of
from .settings import InvalidArgs

TASK_KEYS = ("keys", "pairs", "val_range", "seq_len", "max_samples")
LOG_NAME = "vraxion.log"
DEFAULT_DIR = "assoc_eval"
#: The original's ``[synth]`` header names two knobs differently.
HEADER_NAMES = {"val_range": "vals", "max_samples": "rows"}


class CheckpointMissing(VrxError):
    """No checkpoint file at the given path (exit 66)."""

    exit_code = ExitCode.NOINPUT


@dataclass(frozen=True)
class Found:
    """A value and where it came from."""

    value: Any
    source: str


def eval_out_dir(checkpoint: Path, run_root: str | None) -> Path:
    """``--run-root`` (which must hold no run), else the first free ``assoc_eval[-N]`` by the checkpoint."""
    if run_root is not None:
        out = Path(run_root)
        if RunDir(out).log.exists() or (out / "report.json").exists():
            raise RunExists(f"{out} already holds a run or a report.json; choose another --run-root")
        return out
    base = checkpoint.parent
    for n in range(1, 10_000):
        out = base / (DEFAULT_DIR if n == 1 else f"{DEFAULT_DIR}-{n}")
        if not out.exists():
            return out
    raise RunExists(f"no free {DEFAULT_DIR}-N directory left in {base}; give --run-root")


def _log_text(checkpoint: Path) -> str | None:
    path = checkpoint.parent / LOG_NAME
    if not path.is_file():
        return None
    return path.read_bytes()[:2_000_000].decode("utf-8", errors="replace")  # the original's read limit


def _task_values(
    flags: Mapping[str, Any], meta: Mapping[str, Any], header: Mapping[str, int] | None
) -> dict[str, Found]:
    found: dict[str, Found] = {}
    for key in TASK_KEYS:
        if flags.get(key) is not None:
            found[key] = Found(int(flags[key]), "flag")
        elif isinstance(meta.get(key), int):
            found[key] = Found(int(meta[key]), "checkpoint")
        elif header is not None and HEADER_NAMES.get(key, key) in header:
            found[key] = Found(int(header[HEADER_NAMES.get(key, key)]), LOG_NAME)
    missing = [k for k in TASK_KEYS[:4] if k not in found]
    if missing:
        flags_needed = ", ".join(f"--{k.replace('_', '-')}" for k in missing)
        raise InvalidArgs(
            f"cannot tell the task from the checkpoint (no vrx_assoc record, no {LOG_NAME} with a "
            f"[synth] header beside it): give {flags_needed}"
        )
    return found


def _split(flag: bool | None, meta: Mapping[str, Any], log_text: str | None) -> tuple[bool, str, str]:
    """(disjoint, eval_split_source, where the inference came from)."""
    if flag is not None:
        return flag, "forced", "flag"
    if isinstance(meta.get("eval_disjoint"), bool):
        return bool(meta["eval_disjoint"]), "inferred", "checkpoint"
    if log_text is not None:
        return log_says_disjoint(log_text), "inferred", LOG_NAME
    return False, "inferred", "none"


def _seed(flag: int | None, meta: Mapping[str, Any], checkpoint: Path, step: int) -> Found:
    if flag is not None:
        return Found(flag, "flag")
    if isinstance(meta.get("seed"), int):
        return Found(int(meta["seed"]), "checkpoint")
    from_path = seed_from_path(checkpoint.resolve().parent)
    return Found(from_path, "path") if from_path is not None else Found(step, "checkpoint_step")


def _sources(checkpoint: Path) -> list[Any]:
    from vrx_core.events import Source

    out = []
    for path in (checkpoint, checkpoint.parent / LOG_NAME):
        if path.is_file():
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            out.append(Source(path=path.resolve().as_posix(), sha256=digest, size_bytes=len(data)))
    return out


def eval_plan(flags: Mapping[str, Any], *, argv: list[str], out_dir: Path) -> Any:
    """The plan of ``vrx assoc eval`` (``flags``: the parsed options, None where not given)."""
    checkpoint = Path(flags["checkpoint"])
    if not checkpoint.is_file():
        raise CheckpointMissing("checkpoint not found", path=checkpoint)
    loaded = load_checkpoint(checkpoint)
    shape = infer_shape(loaded.state)
    log_text = _log_text(checkpoint)
    header = synth_header(log_text) if log_text is not None else None
    found = _task_values(flags, loaded.meta, header)
    task = task_of({k: f.value for k, f in found.items()})
    if task.val_range > shape["num_classes"]:
        raise InvalidArgs(
            f"--val-range {task.val_range} gives labels the checkpoint's head "
            f"({shape['num_classes']} classes) cannot score"
        )
    inputs = _Inputs(checkpoint, loaded, shape, task, found, log_text, header)
    return _plan(flags, argv=argv, out_dir=out_dir, inputs=inputs)


@dataclass(frozen=True)
class _Inputs:
    """What the checkpoint and its directory say."""

    checkpoint: Path
    loaded: Loaded
    shape: Mapping[str, int]
    task: Any
    found: Mapping[str, Found]
    log_text: str | None
    header: Mapping[str, int] | None


def _plan(flags: Mapping[str, Any], *, argv: list[str], out_dir: Path, inputs: _Inputs) -> Any:
    from .events import AssocLoaded, AssocStarted
    from .report import POSTMORTEM_NOTES
    from .session import EvalSpec, Plan

    checkpoint, loaded, shape, task, found = (
        inputs.checkpoint,
        inputs.loaded,
        inputs.shape,
        inputs.task,
        inputs.found,
    )
    eval_samples, batch = int(flags["eval_samples"]), int(flags["batch_size"])
    offset = int(flags["eval_seed_offset"])
    if eval_samples < 1 or batch < 1 or offset < 0 or flags["threads"] < 0:
        raise InvalidArgs(
            "--eval-samples and --batch-size must be >= 1, --eval-seed-offset and --threads >= 0"
        )
    disjoint, split_source, split_from = _split(flags.get("split"), loaded.meta, inputs.log_text)
    seed = _seed(flags.get("seed"), loaded.meta, checkpoint, loaded.step)
    train_rows = found["max_samples"].value if "max_samples" in found else eval_samples
    rows = max(eval_samples, train_rows) if disjoint else train_rows
    device = check_device(flags["device"])
    ptr_dtype = flags.get("ptr_dtype") or str(loaded.meta.get("ptr_dtype") or "fp64")
    spec = EvalSpec(disjoint, eval_samples, rows, int(seed.value), offset, batch)
    settings = settings_block(
        task=task,
        device=device,
        seed=spec.seed,
        shape=shape,
        batch_size=batch,
        max_samples=rows,
        eval_samples=eval_samples,
        lr=0.0,
        mq_dup=int(inputs.header["mq_dup"]) if inputs.header is not None else 1,
        disjoint=disjoint,
        split_source=split_source,
        eval_seed_offset=offset,
    )
    extras = {
        "checkpoint_layout": loaded.layout,
        "variant": flags["variant"],
        "ptr_dtype": ptr_dtype,
        "out_dim": shape["expert_heads"],
        "eval_batch_size": batch,
        "seed_source": seed.source,
        "split_from": split_from,
        "threads": flags["threads"],
        "task_sources": {k: f.source for k, f in sorted(found.items())},
    }
    started = AssocStarted(
        mode="eval",
        benchmark=BENCHMARK_EVAL,
        argv=argv,
        run_root=out_dir.resolve().as_posix(),
        settings=settings,
        extras=extras,
        notes=POSTMORTEM_NOTES,
        **environment(),
    )
    loaded_event = AssocLoaded(
        path=checkpoint.resolve().as_posix(),
        layout=loaded.layout,
        step=loaded.step,
        last_losses=last_losses(loaded.losses),
        losses_total=len(loaded.losses),
    )
    return Plan(
        started=started,
        shape=shape,
        ptr_dtype=ptr_dtype,
        variant=flags["variant"],
        device=device,
        task=task,
        eval=spec,
        sources=tuple(_sources(checkpoint)),
        loaded=loaded_event,
        state=loaded.state,
        threads=int(flags["threads"]),
    )
