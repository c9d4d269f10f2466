"""The ranking of published rows (``docs/ops/ant_ratio_frontier_v0.md``): rankable rows first
(PASS, enough steps and eval samples), nearest the VRAM target first, then the most tokens/s per
unit of VRAM ratio, then the most accuracy per unit of VRAM ratio. Ties keep the database order,
so a ranking is as stable as the database it reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .rows import as_bool, as_float

#: Missing numbers sort last, as the original's top/bottom table did.
_WORST = 9e9


def rank_key(row: Mapping[str, Any]) -> tuple[bool, float, float, float]:
    """``(not rankable, |vram - target|, -tokens_per_vram_ratio, -assoc_acc_per_vram_ratio)``."""
    return (
        not as_bool(row.get("rankable")),
        as_float(row.get("vram_target_abs_error"), _WORST),
        -as_float(row.get("tokens_per_vram_ratio"), -_WORST),
        -as_float(row.get("assoc_acc_per_vram_ratio"), -_WORST),
    )


def ranked(rows: Iterable[Mapping[str, Any]], *, rankable_only: bool = False) -> list[dict[str, Any]]:
    """``rows`` best first (``sorted`` is stable: ties keep their order), each with its ``rank``
    (1-based) first; with ``rankable_only`` the rows that fail the gate are left out."""
    kept = [r for r in rows if not rankable_only or as_bool(r.get("rankable"))]
    return [{"rank": i, **r} for i, r in enumerate(sorted(kept, key=rank_key), 1)]
