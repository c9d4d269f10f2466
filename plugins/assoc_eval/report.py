"""``report.json``: the original's shape (ORIGINS 2.6) from a folded run, and its bytes.

Every key of the original's report is present. Those it fills from features vrx does not have
are null: ``eval.eval_mi_bits``, ``eval_mi_bits_shuffled``, ``eval_ptr_flip_rate`` and
``eval_tei`` (pointer-histogram telemetry), the ``mitosis_*`` keys, ``eval_acc_d0``/``_d1``
(only for ``assoc_mix``), ``expert_capacity_hidden_dims`` (plain linear experts), and
``eval_mid``. vrx's own facts go in one extra top-level block, ``vrx``.

Bytes: ``json.dumps(sort_keys=True, indent=2, ensure_ascii=True)`` plus a newline, non-finite
numbers as null. (The original's ``atomic_json_dump`` kept insertion order and wrote no final
newline; the keys and values are the same.) Pure functions: nothing here reads a file or a clock.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

#: The original's eval keys that come from telemetry vrx's model does not produce.
NULL_EVAL_KEYS = (
    "eval_acc_d0",
    "eval_acc_d1",
    "eval_mi_bits",
    "eval_mi_bits_shuffled",
    "eval_ptr_flip_rate",
    "eval_tei",
    "mitosis_parent_expert",
    "mitosis_hot_addresses",
    "mitosis_expert_imbalance",
)
POSTMORTEM_NOTES = "postmortem eval from checkpoint (no additional training)"
RUN_NOTES = "trained and evaluated by vrx assoc run (vrx_assoc_run); checkpoint.pt holds the weights"


def loss_slope(losses: Sequence[float | None]) -> float | None:
    """Least-squares slope of ``losses`` against 0, 1, 2, ... (the caller passes the last 50).

    0.0 for fewer than two values, as the original; None when one of them is not finite.
    """
    if len(losses) < 2:
        return 0.0
    if any(v is None or not math.isfinite(v) for v in losses):
        return None
    ys = [float(v) for v in losses if v is not None]
    n = float(len(ys))
    sum_x = (n - 1.0) * n / 2.0
    sum_xx = (n - 1.0) * n * (2.0 * n - 1.0) / 6.0
    sum_y = math.fsum(ys)
    sum_xy = math.fsum(i * y for i, y in enumerate(ys))
    denominator = n * sum_xx - sum_x * sum_x
    return 0.0 if denominator == 0.0 else (n * sum_xy - sum_x * sum_y) / denominator


def eval_block(seen: int, correct: int, loss_sum: float) -> dict[str, Any]:
    """The original's ``eval_model`` result for ``seen`` samples."""
    block: dict[str, Any] = {
        "eval_loss": loss_sum / max(seen, 1),
        "eval_acc": correct / max(seen, 1),
        "eval_n": seen,
    }
    block.update(dict.fromkeys(NULL_EVAL_KEYS))
    return block


def report_dict(
    *,
    started: Any,
    model: Any,
    seq_len: int,
    train: Mapping[str, Any],
    evaluation: Mapping[str, Any],
    extras: Mapping[str, Any],
) -> dict[str, Any]:
    """The whole report; ``started`` is the ``assoc.start`` event, ``model`` the ``assoc.model`` one."""
    settings = dict(started.settings)
    settings["seq_len"] = seq_len
    return {
        "benchmark": started.benchmark,
        "run_root": started.run_root,
        "git_rev": started.git_rev,
        "platform": {"python": started.python, "os": started.os},
        "settings": settings,
        "model_shape": dict(model.model_shape),
        "params": dict(model.params),
        "train": dict(train),
        "eval_mid": None,
        "eval": dict(evaluation),
        "notes": started.notes,
        "vrx": dict(extras),
    }


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Mapping):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def report_json(report: Mapping[str, Any]) -> bytes:
    """Sorted keys, indent 2, ASCII escapes, a final newline; NaN and infinities as null."""
    text = json.dumps(_finite(report), sort_keys=True, indent=2, ensure_ascii=True, allow_nan=False)
    return (text + "\n").encode("ascii")
