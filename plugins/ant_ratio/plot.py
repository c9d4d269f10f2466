"""The frontier plot: assoc accuracy against tokens/s per unit of VRAM ratio, as a PNG.

Rankable rows are the points (colour: tier; size: expert heads), with their Pareto frontier
(no other rankable point has both more tokens per VRAM ratio and more accuracy) as a line; rows
that fail the rankable gate are grey crosses, so a reader sees what was left out and why.

matplotlib (the ``plot`` extra) is imported only when a plot is drawn. The bytes are the same for
the same rows: matplotlib's default style whatever the user's matplotlibrc, the bundled DejaVu
font, and no ``Software`` (version) entry in the PNG metadata.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from .rows import as_bool, as_float, as_int

EXTRA_HINT = "pip install 'vrx-core[plot]'"
TIER_COLOURS = {"small": "#1f77b4", "real": "#2ca02c", "stress": "#d62728"}
OTHER_COLOUR = "#9467bd"
EXCLUDED_COLOUR = "#9a9a9a"
X_LABEL = "tokens/s per VRAM ratio (throughput_tokens_per_s / vram_ratio_reserved)"
Y_LABEL = "assoc_byte disjoint accuracy"


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


def frontier_points(rows: Sequence[Mapping[str, Any]]) -> list[tuple[float, float]]:
    """The Pareto frontier of the rankable rows, by increasing tokens per VRAM ratio."""
    points = sorted(
        {_xy(r) for r in rows if as_bool(r.get("rankable"))}, key=lambda p: (-p[0], -p[1])
    )
    frontier: list[tuple[float, float]] = []
    for x, y in points:  # right to left: a point is on the frontier if it beats all to its right
        if not frontier or y > frontier[-1][1]:
            frontier.append((x, y))
    return frontier[::-1]


def frontier_png(rows: Sequence[Mapping[str, Any]], *, title: str = "ant ratio frontier v0") -> bytes:
    """The plot of ``rows`` as PNG bytes. Raises :class:`PlotUnavailable` without matplotlib."""
    try:
        import matplotlib
        import matplotlib.style
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise PlotUnavailable(f"the frontier plot needs matplotlib: {EXTRA_HINT}") from exc
    with matplotlib.style.context("default"), matplotlib.rc_context({"font.family": "DejaVu Sans"}):
        fig = Figure(figsize=(9.0, 6.0), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        _draw(ax, rows)
        ax.set_title(title)
        ax.set_xlabel(X_LABEL)
        ax.set_ylabel(Y_LABEL)
        ax.grid(True, alpha=0.3)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _draw(ax: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    kept = [r for r in rows if as_bool(r.get("rankable"))]
    left_out = [r for r in rows if not as_bool(r.get("rankable"))]
    for tier in sorted({_tier(r) for r in kept}, key=_tier_order):
        mine = [r for r in kept if _tier(r) == tier]
        ax.scatter(
            [_xy(r)[0] for r in mine], [_xy(r)[1] for r in mine],
            s=[_size(r) for r in mine], c=TIER_COLOURS.get(tier, OTHER_COLOUR), label=tier or "(no tier)",
            alpha=0.85, edgecolors="black", linewidths=0.5,
        )
    if left_out:
        ax.scatter(
            [_xy(r)[0] for r in left_out], [_xy(r)[1] for r in left_out], marker="x",
            c=EXCLUDED_COLOUR, label="not rankable", linewidths=1.0,
        )
    frontier = frontier_points(rows)
    if len(frontier) > 1:
        ax.plot([p[0] for p in frontier], [p[1] for p in frontier], "k--", linewidth=1.0, label="frontier")
    if rows:
        ax.legend(loc="best", fontsize="small")
    else:
        ax.text(0.5, 0.5, "no rows", transform=ax.transAxes, ha="center", va="center")


def _xy(row: Mapping[str, Any]) -> tuple[float, float]:
    return as_float(row.get("tokens_per_vram_ratio")), as_float(row.get("assoc_byte_disjoint_accuracy"))


def _tier(row: Mapping[str, Any]) -> str:
    return str(row.get("ant_tier") or "")


def _tier_order(tier: str) -> tuple[int, str]:
    return (list(TIER_COLOURS).index(tier) if tier in TIER_COLOURS else len(TIER_COLOURS), tier)


def _size(row: Mapping[str, Any]) -> float:
    return 20.0 + 8.0 * max(0, min(16, as_int(row.get("expert_heads"))))
