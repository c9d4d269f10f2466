"""An assoc run's events folded into what its report needs; state stays small whatever the run's length.

Training keeps a count, the samples seen and the last 50 losses (the ``loss_slope`` window); the
eval keeps three sums. Sums are taken in seq order, so a replay gives the same floats.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from vrx_core.events import Checkpoint

from .ckpt import SLOPE_WINDOW
from .events import AssocData, AssocEnded, AssocEvalBatch, AssocLoaded, AssocModel, AssocStarted, AssocStep
from .report import eval_block, loss_slope, report_dict


class AssocFold:
    def __init__(self) -> None:
        self.started: AssocStarted | None = None
        self.model: AssocModel | None = None
        self.data: dict[str, AssocData] = {}
        self.loaded: AssocLoaded | None = None
        self.checkpoint: Checkpoint | None = None
        self.ended: AssocEnded | None = None
        self.steps = 0
        self.samples = 0
        self.last_loss: float | None = None
        self.losses: deque[float] = deque(maxlen=SLOPE_WINDOW)
        self.batches = 0
        self.seen = 0
        self.correct = 0
        self.loss_sum = 0.0

    def on_start(self, event: AssocStarted) -> None:
        self.started = event

    def on_model(self, event: AssocModel) -> None:
        self.model = event

    def on_data(self, event: AssocData) -> None:
        self.data[event.split] = event

    def on_loaded(self, event: AssocLoaded) -> None:
        self.loaded = event

    def on_checkpoint(self, event: Checkpoint) -> None:
        if self.started is not None:
            self.checkpoint = event

    def on_step(self, event: AssocStep) -> None:
        self.steps += 1
        self.samples += event.samples
        self.last_loss = event.loss
        self.losses.append(event.loss)

    def on_eval_batch(self, event: AssocEvalBatch) -> None:
        self.batches += 1
        self.seen += event.n
        self.correct += event.correct
        self.loss_sum += event.loss_sum

    def on_end(self, event: AssocEnded) -> None:
        self.ended = event

    @property
    def complete(self) -> bool:
        """An assoc run that ended ``ok``: the only kind that gets a report."""
        return (
            self.started is not None
            and self.model is not None
            and self.ended is not None
            and self.ended.status == "ok"
        )

    def train_block(self) -> dict[str, Any]:
        if self.loaded is not None:  # a post-mortem eval: the checkpoint's own training
            return {"steps": self.loaded.step, "loss_slope": loss_slope(self.loaded.last_losses)}
        return {"steps": self.steps, "loss_slope": loss_slope(list(self.losses))}

    def report(self) -> dict[str, Any]:
        started, model = self.started, self.model
        assert started is not None and model is not None  # callers check `complete`
        main = self.data.get("train" if started.mode == "run" else "eval")
        seq_len = main.seq_len if main is not None else int(started.settings["seq_len"])
        return report_dict(
            started=started,
            model=model,
            seq_len=seq_len,
            train=self.train_block(),
            evaluation=eval_block(self.seen, self.correct, self.loss_sum),
            extras=self.extras(),
        )

    def extras(self) -> dict[str, Any]:
        """The report's ``vrx`` block: the start's extras and what the run measured."""
        assert self.started is not None
        out = dict(self.started.extras)
        ended = self.ended
        out["train_wall_time_s"] = ended.train_wall_time_s if ended is not None else None
        out["eval_wall_time_s"] = ended.eval_wall_time_s if ended is not None else None
        out["eval_batches"] = self.batches
        out["data"] = {split: _data_summary(d) for split, d in sorted(self.data.items())}
        if self.started.mode == "run":
            out["samples_trained"] = self.samples
            train = self.data.get("train")
            out["tokens_trained"] = self.samples * train.seq_len if train is not None else 0
        out["checkpoint"] = self._checkpoint()
        return out

    def _checkpoint(self) -> dict[str, Any] | None:
        if self.checkpoint is not None:
            c = self.checkpoint
            return {"path": c.path, "step": c.step, "size_bytes": c.size_bytes, "sha256": c.sha256}
        if self.loaded is not None:
            return {"path": self.loaded.path, "layout": self.loaded.layout, "step": self.loaded.step}
        return None

    def snapshot(self) -> dict[str, Any]:
        """What ``vrx tail`` shows: phase, step, last loss, eval progress and accuracy so far."""
        started = self.started
        if started is None:
            return {}
        phase = "done" if self.ended is not None else "eval" if "eval" in self.data else "train"
        snap: dict[str, Any] = {"mode": started.mode, "phase": phase}
        if started.mode == "run":
            snap["step"] = self.steps
            snap["steps"] = started.extras.get("train", {}).get("steps")
            snap["loss"] = self.last_loss
        if self.seen:
            snap["eval_n"] = self.seen
            snap["eval_acc"] = self.correct / self.seen
        return snap


def _data_summary(d: AssocData) -> dict[str, Any]:
    return {
        "rows": d.rows,
        "seq_len": d.seq_len,
        "requested_seq_len": d.requested_seq_len,
        "bumps": d.bumps,
        "seed": d.seed,
        "source": d.source,
    }
