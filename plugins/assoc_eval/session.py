"""One assoc run or eval from start to end as a vrx run: the log is the only thing it derives from.

The session records; ``report.json`` is derived from the log afterwards, as ``vrx replay`` would.
An exception during compute is recorded (``assoc.end`` with status ``error``) and the log is
closed before it propagates, so a failed run can still be inspected.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import msgspec

from vrx_core.events import Checkpoint, EventRegistry, Source
from vrx_core.log.writer import Recorder

from .events import AssocData, AssocEnded, AssocEvalBatch, AssocLoaded, AssocModel, AssocStarted, AssocStep
from .task import AssocSet, AssocTask

Progress = Callable[[int], None]
CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class EvalSpec:
    """How the eval set is made and read."""

    disjoint: bool
    eval_samples: int
    rows: int  # rows of the data set the eval set is the head of
    seed: int
    eval_seed_offset: int
    batch_size: int


@dataclass(frozen=True)
class Plan:
    """Everything decided before recording: the start event, the model and the data to make."""

    started: AssocStarted
    shape: Mapping[str, int]
    ptr_dtype: str
    variant: str
    device: str
    task: AssocTask
    eval: EvalSpec
    train: Any = None  # runner.TrainSpec for ``assoc run``; None for an eval
    train_rows: int = 0
    checkpoint_meta: Mapping[str, Any] = field(default_factory=dict)
    sources: tuple[Source, ...] = ()  # the files an eval reads (checkpoint, vraxion.log)
    loaded: AssocLoaded | None = None
    state: Mapping[str, Any] | None = None  # its state dict
    threads: int = 0  # CPU intra-op threads; 0 leaves torch's default

    @property
    def total_units(self) -> int:
        steps = self.train.steps if self.train is not None else 0
        return steps + -(-min(self.eval.eval_samples, self.eval.rows) // self.eval.batch_size)


def open_run(plan: Plan, *, registry: EventRegistry, **placement: Any) -> Recorder:
    """The recorder of a new run for ``plan`` (never appends to an old one).

    ``placement``: ``Recorder``'s ``run_dir=`` or ``layout=`` (a new directory the layout names),
    and ``config=`` / ``environment=`` (:func:`vrx_core.cli.layout_options.recorder_placement`).
    """
    # derive=False: the command derives report.json itself, with its own plugin selection.
    name = f"assoc-{plan.started.mode}"
    return Recorder(**placement, resume="never", registry=registry, name=name, derive=False)


def record(plan: Plan, rec: Recorder, *, progress: Progress | None = None) -> None:
    """Record ``plan`` into ``rec``'s run (:func:`open_run`) and close it; the checkpoint goes into
    the run's directory, whose path is the report's ``run_root``."""
    try:
        import torch

        run_root = rec.run_dir.resolve().as_posix()
        if plan.started.run_root != run_root:  # a layout chose the directory after the plan was made
            plan = replace(plan, started=msgspec.structs.replace(plan.started, run_root=run_root))
        threads = torch.get_num_threads()
        if plan.threads > 0:
            torch.set_num_threads(plan.threads)
        try:
            _record(rec, plan, rec.run_dir, progress)
        finally:
            torch.set_num_threads(threads)  # a process-wide setting: leave it as found
    except BaseException as exc:
        rec.close("interrupted" if isinstance(exc, KeyboardInterrupt) else "error", repr(exc))
        raise
    rec.close("ok")


def _record(rec: Recorder, plan: Plan, out_dir: Path, progress: Progress | None) -> None:
    rec.emit(plan.started)
    for source in plan.sources:
        rec.emit(source)
    if plan.loaded is not None:
        rec.emit(plan.loaded)
    run = _Recording(rec, plan, out_dir, progress)
    try:
        model = run.model()
        train_set = run.train(model) if plan.train is not None else None
        run.eval(model, train_set)
    except Exception as exc:  # recorded, then re-raised for the command to report
        rec.emit(AssocEnded(status="error", error=f"{type(exc).__name__}: {exc}", **run.walls()))
        raise
    rec.emit(AssocEnded(status="ok", **run.walls()))


def _data_event(split: str, data: AssocSet, task: AssocTask, seed: int, source: str) -> AssocData:
    return AssocData(
        split=split,  # type: ignore[arg-type]  # "train" or "eval", from this module only
        rows=data.rows,
        seq_len=data.seq_len,
        requested_seq_len=task.seq_len,
        bumps=data.bumps,
        seed=seed,
        source=source,  # type: ignore[arg-type]  # "generated" or "train_subset"
    )


class _Recording:
    """The compute of one plan, each step and batch recorded as it completes."""

    def __init__(self, rec: Recorder, plan: Plan, out_dir: Path, progress: Progress | None) -> None:
        self.rec, self.plan, self.out_dir, self.progress = rec, plan, out_dir, progress
        self.done = 0
        self.times: dict[str, float] = {}

    def tick(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done)

    def walls(self) -> dict[str, Any]:
        return {"train_wall_time_s": self.times.get("train"), "eval_wall_time_s": self.times.get("eval")}

    def model(self) -> Any:
        from .runner import build, param_counts

        plan = self.plan
        seed = plan.eval.seed if plan.train is not None else None  # a model to train starts seeded
        model = build(plan.shape, ptr_dtype=plan.ptr_dtype, variant=plan.variant, seed=seed)
        if plan.state is not None:
            model.load_state_dict(dict(plan.state), strict=True)
        shape = {**plan.shape, "expert_capacity_hidden_dims": None}
        self.rec.emit(AssocModel(model_shape=shape, params=param_counts(model)))
        return model

    def train(self, model: Any) -> AssocSet:
        import torch

        from .runner import checkpoint_payload, save_checkpoint, train
        from .task import generate

        plan, seed = self.plan, self.plan.eval.seed
        g = torch.Generator().manual_seed(seed)  # the data, then the batch order
        data = generate(plan.task, plan.train_rows, g)
        self.rec.emit(_data_event("train", data, plan.task, seed, "generated"))

        def on_step(step: int, loss: float, samples: int, step_time_s: float) -> None:
            self.rec.emit(AssocStep(step=step, loss=loss, samples=samples, step_time_s=step_time_s))
            self.tick()

        started = time.perf_counter()
        opt, losses = train(model, data, plan.train, g, on_step)
        self.times["train"] = time.perf_counter() - started
        payload = checkpoint_payload(model, opt, len(losses), losses, plan.checkpoint_meta)
        size, digest = save_checkpoint(self.out_dir / CHECKPOINT, payload)
        self.rec.emit(Checkpoint(path=CHECKPOINT, step=len(losses), size_bytes=size, sha256=digest))
        return data

    def eval(self, model: Any, train_set: AssocSet | None) -> None:
        from .runner import evaluate

        spec = self.plan.eval
        data, seed, source = self._eval_set(train_set)
        self.rec.emit(_data_event("eval", data, self.plan.task, seed, source))

        def on_batch(index: int, n: int, correct: int, loss_sum: float) -> None:
            self.rec.emit(AssocEvalBatch(index=index, n=n, correct=correct, loss_sum=loss_sum))
            self.tick()

        started = time.perf_counter()
        evaluate(
            model, data, batch=spec.batch_size, device=self.plan.device, seed=spec.seed, on_batch=on_batch
        )
        self.times["eval"] = time.perf_counter() - started

    def _eval_set(self, train_set: AssocSet | None) -> tuple[AssocSet, int, str]:
        """The disjoint set (seed + offset), the training set's head, or that set made again."""
        import torch

        from .task import generate

        spec = self.plan.eval
        if not spec.disjoint and train_set is not None:
            return train_set.head(spec.eval_samples), spec.seed, "train_subset"
        seed = spec.seed + spec.eval_seed_offset if spec.disjoint else spec.seed
        made = generate(self.plan.task, spec.rows, torch.Generator().manual_seed(seed))
        return made.head(spec.eval_samples), seed, "generated"
