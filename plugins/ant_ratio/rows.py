"""Published rows (``ant_ratio_db_row_v0``): a packet (and a sweep's summary row) as one public,
rankable datapoint, and the ``db_v0.csv``/``db_v0.jsonl`` pair they are published in.

The columns, the number coercions (``as_int``/``as_float``/``as_bool``), the rankable gate,
the derived columns, the merge key and the row order are those of the original
``ant_ratio_publish_v0.py``. Rows hold no paths: a root only contributes its ``seedN`` number
(``cap_seed``). Nothing here reads a clock, so republishing the same inputs gives the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from vrx_core.log.atomic import atomic_write

ROW_SCHEMA = "ant_ratio_db_row_v0"
DB_CSV = "db_v0.csv"
DB_JSONL = "db_v0.jsonl"
VRAM_TARGET = 0.85
#: The rankable gate: a capability number means something only with enough training and eval.
MIN_RANKABLE_STEPS = 30
MIN_RANKABLE_EVAL_N = 512

DB_FIELDS: tuple[str, ...] = (
    "schema_version", "run_tag", "generated_utc", "ant_tier", "expert_heads", "batch", "steps",
    "cap_seed", "status", "cap_train_rc", "cap_train_nonzero_rc", "cap_eval_device",
    "eval_heartbeat_seen", "attempt_eval_count", "probe_pass", "vram_ratio_reserved",
    "throughput_tokens_per_s", "tokens_per_vram_ratio", "assoc_byte_disjoint_accuracy", "assoc_eval_n",
    "token_budget_steps", "vram_target_abs_error", "assoc_acc_per_token_per_s",
    "assoc_acc_per_vram_ratio", "rankable",
)
TIER_ORDER = {"small": 0, "real": 1, "stress": 2}
_SEED = re.compile(r"seed(\d+)", re.IGNORECASE)
_TRUE = frozenset({"1", "true", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "no", "n", "off"})


def db_row(
    packet: Mapping[str, Any] | None,
    *,
    run_tag: str,
    summary: Mapping[str, Any] | None = None,
    status: str | None = None,
    generated_utc: str | None = None,
    vram_target: float = VRAM_TARGET,
) -> dict[str, Any]:
    """One ``ant_ratio_db_row_v0`` row, its keys in ``DB_FIELDS`` order.

    Each column comes from ``summary`` (a sweep's per-config row: ``status``, ``steps``,
    ``cap_train_rc``, ``cap_eval_device``, ``eval_heartbeat_seen``, ``attempt_eval_count``, ...)
    when it has a usable value, else from ``packet``, else a zero default. ``status`` overrides
    both; without any, a packet that passed is ``ok`` and any other ``error``. ``generated_utc``
    defaults to the packet's (never the clock's). ``run_tag`` names the batch of results (the
    original used the sweep directory's name).
    """
    s, p = summary or {}, packet or {}

    def pick(parse: Any, key: str, default: Any, *, packet_key: str | None = None) -> Any:
        return parse(s.get(key), parse(p.get(packet_key or key), default))

    steps = pick(as_int, "steps", 0, packet_key="token_budget_steps")
    cap_train_rc = pick(as_int, "cap_train_rc", 0)
    row = {
        "schema_version": ROW_SCHEMA,
        "run_tag": run_tag,
        "generated_utc": str(generated_utc or s.get("generated_utc") or p.get("generated_utc") or ""),
        "ant_tier": _lower(s.get("ant_tier") or p.get("ant_tier")),
        "expert_heads": pick(as_int, "expert_heads", 0),
        "batch": as_int(s.get("batch"), as_int(s.get("batch_size"), as_int(p.get("batch_size"), 0))),
        "steps": steps,
        "cap_seed": cap_seed(s.get("assoc_run_root")) or cap_seed(p.get("assoc_run_root")),
        "status": _lower(status or s.get("status") or _packet_status(p)),
        "cap_train_rc": cap_train_rc,
        "cap_train_nonzero_rc": pick(as_bool, "cap_train_nonzero_rc", cap_train_rc != 0),
        "cap_eval_device": _lower(s.get("cap_eval_device") or p.get("cap_eval_device")),
        "eval_heartbeat_seen": pick(as_bool, "eval_heartbeat_seen", False),
        "attempt_eval_count": pick(as_int, "attempt_eval_count", 0),
        "probe_pass": pick(as_bool, "probe_pass", False, packet_key="stability_pass"),
        "vram_ratio_reserved": pick(as_float, "vram_ratio_reserved", 0.0),
        "throughput_tokens_per_s": pick(as_float, "throughput_tokens_per_s", 0.0),
        "assoc_byte_disjoint_accuracy": pick(as_float, "assoc_byte_disjoint_accuracy", 0.0),
        "assoc_eval_n": pick(as_int, "assoc_eval_n", 0),
        "token_budget_steps": pick(as_int, "token_budget_steps", steps),
    }
    row.update(derived_columns(row, vram_target))
    return {field: row[field] for field in DB_FIELDS}


def _packet_status(packet: Mapping[str, Any]) -> str:
    return "ok" if as_bool(packet.get("stability_pass")) else "error"


def derived_columns(row: Mapping[str, Any], vram_target: float = VRAM_TARGET) -> dict[str, Any]:
    """``tokens_per_vram_ratio``, ``vram_target_abs_error``, ``assoc_acc_per_token_per_s``,
    ``assoc_acc_per_vram_ratio`` (0.0 where the divisor is not positive) and ``rankable``."""
    vram, tps = row["vram_ratio_reserved"], row["throughput_tokens_per_s"]
    acc = row["assoc_byte_disjoint_accuracy"]
    return {
        "tokens_per_vram_ratio": tps / vram if vram > 0.0 else 0.0,
        "vram_target_abs_error": abs(vram - float(vram_target)),
        "assoc_acc_per_token_per_s": acc / tps if tps > 0.0 else 0.0,
        "assoc_acc_per_vram_ratio": acc / vram if vram > 0.0 else 0.0,
        "rankable": is_rankable(
            row["status"], row["probe_pass"], row["token_budget_steps"], row["assoc_eval_n"]
        ),
    }


def is_rankable(status: str, probe_pass: bool, token_budget_steps: int, assoc_eval_n: int) -> bool:
    """``status == "ok" and probe_pass and token_budget_steps >= 30 and assoc_eval_n >= 512``."""
    return (
        status == "ok"
        and probe_pass
        and token_budget_steps >= MIN_RANKABLE_STEPS
        and assoc_eval_n >= MIN_RANKABLE_EVAL_N
    )


def cap_seed(root: Any) -> int:
    """The ``seedN`` number in an assoc run root (0 without one): all a row keeps of a path."""
    m = _SEED.search(str(root or ""))
    return int(m.group(1)) if m else 0


# -- the database ----------------------------------------------------------------------------------


def row_key(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """Rows with the same key are one datapoint: a republished one replaces the old."""
    return (str(row.get("run_tag") or ""), _lower(row.get("ant_tier")), as_int(row.get("expert_heads"), 0),
            as_int(row.get("cap_seed"), 0))


def sort_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The database order: run tag, tier (small, real, stress, others), heads, seed, batch, steps."""

    def key(row: Mapping[str, Any]) -> tuple[Any, ...]:
        return (
            str(row.get("run_tag") or ""),
            TIER_ORDER.get(_lower(row.get("ant_tier")), 99),
            *(as_int(row.get(f), 0) for f in ("expert_heads", "cap_seed", "batch", "steps")),
        )

    return [dict(r) for r in sorted(rows, key=key)]


def merge_rows(
    existing: Iterable[Mapping[str, Any]], new: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """``existing`` with ``new`` added (a row with an existing key replaces it), sorted."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in [*existing, *new]:
        merged[row_key(row)] = {field: row.get(field) for field in DB_FIELDS}
    return sort_rows(merged.values())


def db_jsonl(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """One JSON object per line (sorted keys, ASCII), a newline after each."""
    lines = (json.dumps(dict(r), sort_keys=True, ensure_ascii=True) + "\n" for r in rows)
    return "".join(lines).encode("ascii")


def db_csv(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """A header of ``DB_FIELDS``, one line per row (``str()`` cells: ``True``, ``0.85``; null empty),
    as Python's csv writer writes them (``\\r\\n`` line ends)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(DB_FIELDS), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def read_db(db_dir: Path) -> list[dict[str, Any]]:
    """The rows of ``db_dir/db_v0.jsonl`` (none when it does not exist), restricted to ``DB_FIELDS``."""
    path = db_dir / DB_JSONL
    if not path.exists():
        return []
    return [{f: row.get(f) for f in DB_FIELDS} for row in read_jsonl(path) if isinstance(row, dict)]


def write_db(rows: Iterable[Mapping[str, Any]], db_dir: Path) -> list[dict[str, Any]]:
    """Merge ``rows`` into the database in ``db_dir`` and write both files atomically; the rows."""
    db_dir.mkdir(parents=True, exist_ok=True)
    merged = merge_rows(read_db(db_dir), rows)
    atomic_write(db_dir / DB_JSONL, db_jsonl(merged))
    atomic_write(db_dir / DB_CSV, db_csv(merged))
    return merged


def read_jsonl(path: Path) -> list[Any]:
    """The JSON values of a JSON lines file (blank lines skipped); ValueError names the line."""
    values = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                values.append(json.loads(line))
            except ValueError as exc:
                raise ValueError(f"line {n}: {exc}") from None
    return values


# -- the original's lenient coercions (also used by rank, view and plot) ------------------------


def as_int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    number = as_float(value, math.nan)
    return int(number) if math.isfinite(number) else default


def as_float(value: Any, default: float = 0.0) -> float:
    # A non-finite number counts as missing: the database stays standard JSON.
    if isinstance(value, bool):
        return default
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and value.strip():
        try:
            number = float(value.strip())
        except ValueError:
            return default
    else:
        return default
    return number if math.isfinite(number) else default


def as_bool(value: Any, default: bool = False) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
    return default


def _lower(value: Any) -> str:
    return str(value or "").strip().lower()
