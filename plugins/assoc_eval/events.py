"""Event kinds of an assoc-byte capability run (ORIGINS 2.6), recorded by ``vrx assoc run|eval``.

Everything ``report.json`` holds is in these events (plus the core ``checkpoint`` and ``source``
events), so the report is derived by replay: the settings as resolved before any compute, the
model's shape and parameter counts, the generated data sets, every training step, every eval
batch and the end. Clock readings (step times, wall times), the git revision and the platform are
recorded here, never read during replay.
"""

from __future__ import annotations

from typing import Any, Literal

from vrx_core.events import Event

Mode = Literal["run", "eval"]
Layout = Literal["vrx", "vraxion", "state_dict"]


class AssocStarted(Event, frozen=True, kw_only=True, tag="assoc.start"):
    """The resolved inputs of the run, before compute.

    ``mode`` is ``run`` (``vrx assoc run``: train, then evaluate) or ``eval`` (``vrx assoc eval``:
    the post-mortem eval of a checkpoint). ``settings`` is the report's ``settings`` block with
    the requested ``seq_len`` (the generated length, after any bump, comes with ``assoc.data``);
    ``extras`` the report's ``vrx`` block as known at the start.
    """

    mode: Mode
    benchmark: str
    argv: list[str]
    run_root: str
    git_rev: str | None
    python: str
    os: str
    settings: dict[str, Any]
    extras: dict[str, Any]
    notes: str


class AssocModel(Event, frozen=True, kw_only=True, tag="assoc.model"):
    """The model built: the report's ``model_shape`` and ``params`` blocks."""

    model_shape: dict[str, Any]
    params: dict[str, int]


class AssocData(Event, frozen=True, kw_only=True, tag="assoc.data"):
    """A data set: ``train`` (the training rows) or ``eval`` (what the eval reads).

    ``seq_len`` is the generated length, ``requested_seq_len`` the one asked for; ``bumps`` counts
    the placement-failure bumps of ``max(2, pairs) * 2`` (a raise to ``2 * pairs + 1`` is not one).
    ``source`` is ``generated`` (made with ``seed``) or ``train_subset`` (the first ``rows`` rows
    of the training set).
    """

    split: Literal["train", "eval"]
    rows: int
    seq_len: int
    requested_seq_len: int
    bumps: int
    seed: int
    source: Literal["generated", "train_subset"]


class AssocStep(Event, frozen=True, kw_only=True, tag="assoc.step"):
    """One training step (1-based): its mean cross-entropy loss, batch rows and duration."""

    step: int
    loss: float
    samples: int
    step_time_s: float


class AssocLoaded(Event, frozen=True, kw_only=True, tag="assoc.loaded"):
    """The checkpoint an eval read: where, in which layout, and what it says of its training.

    ``layout`` is ``vrx`` (written by ``vrx assoc run``), ``vraxion`` (the original's
    ``{"model": state_dict, "step", "losses", ...}``) or ``state_dict`` (a bare state dict).
    ``last_losses`` are the last 50 of its ``losses`` (non-finite ones as null), what
    ``train.loss_slope`` is computed from; ``losses_total`` how many it held.
    """

    path: str
    layout: Layout
    step: int
    last_losses: list[float | None]
    losses_total: int


class AssocEvalBatch(Event, frozen=True, kw_only=True, tag="assoc.eval_batch"):
    """One eval batch (0-based ``index``): rows, correct argmax predictions, and ``loss_sum``.

    ``loss_sum`` is the batch's mean cross-entropy times ``n``, as the original accumulates it.
    """

    index: int
    n: int
    correct: int
    loss_sum: float


class AssocEnded(Event, frozen=True, kw_only=True, tag="assoc.end"):
    """The run finished (``ok``) or raised (``error``, with ``"<Type>: <message>"``).

    ``report.json`` is derived only from a run that ended ``ok``.
    """

    status: Literal["ok", "error"]
    error: str | None = None
    train_wall_time_s: float | None = None
    eval_wall_time_s: float | None = None


KINDS: list[type[Event]] = [
    AssocStarted,
    AssocModel,
    AssocData,
    AssocStep,
    AssocLoaded,
    AssocEvalBatch,
    AssocEnded,
]
