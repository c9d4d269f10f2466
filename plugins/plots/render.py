"""Drawing: a metric's series as PNG bytes, the same for the same series on any machine setup.

matplotlib (the ``plot`` extra) is imported only here and only when a plot is drawn, through the
Agg canvas directly (no pyplot, so no backend selection and no global figure state). Bytes are a
function of the series alone: matplotlib's built-in default style under an explicit rc context
(a user's matplotlibrc or style cannot reach it), the bundled DejaVu Sans font, a fixed size and
dpi, and no ``Software`` (version) entry in the PNG metadata. Path simplification stays on: it is
deterministic and keeps 100k-point series fast.

Non-finite points have no y, so each is marked at the axis edge at its x, in its series' colour:
NaN ``X`` and -Inf ``v`` on the bottom edge, +Inf ``^`` on the top edge; the legend counts them.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from typing import Any

from vrx_core.errors import ExitCode, VrxError

from .series import X_LABELS, MetricFold, Series, build_series, plot_title

EXTRA_HINT = "pip install 'vrx-core[plot]'"
FIG_SIZE = (8.0, 4.5)
DPI = 100
#: (attribute of Series, y in axes coordinates, marker, legend label) per kind of non-finite point.
EDGE_MARKS = (
    ("nan_x", 0.0, "X", "NaN"),
    ("neg_inf_x", 0.0, "v", "-Inf"),
    ("pos_inf_x", 1.0, "^", "+Inf"),
)
RAW_ALPHA = 0.25  # the unsmoothed line under a smoothed one, faint like TensorBoard's


class PlotUnavailable(VrxError):
    """matplotlib (the ``plot`` extra) is not installed."""

    exit_code = ExitCode.UNAVAILABLE


def matplotlib_missing() -> bool:
    """Whether matplotlib cannot be imported, found without importing it (replay stays light)."""
    from vrx_core.hooks.discovery import importable

    return not importable("matplotlib")


def metric_png(runs: Sequence[tuple[str, MetricFold]], metric: str, *, smooth: int = 1) -> bytes:
    """The plot of ``metric`` across ``runs`` (label, fold; all folded with the same x axis)."""
    x_label = X_LABELS[runs[0][1].x_axis] if runs else X_LABELS["step"]
    return render_png(plot_title(metric, smooth), build_series(runs, metric, smooth), x_label=x_label)


def render_png(title: str, series: Sequence[Series], *, x_label: str) -> bytes:
    """The plot of ``series`` as PNG bytes. Raises :class:`PlotUnavailable` without matplotlib."""
    try:
        import matplotlib.style
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotUnavailable(f"plots need matplotlib, which is not installed: {EXTRA_HINT}") from None
    # On top of the "default" style, pinned so that no rcParams default that might move changes bytes.
    with (
        matplotlib.style.context("default"),
        matplotlib.rc_context({
            "font.family": "DejaVu Sans", "font.size": 10.0, "figure.dpi": DPI, "savefig.dpi": DPI,
            "path.simplify": True, "path.simplify_threshold": 1.0 / 9.0, "agg.path.chunksize": 0,
            "axes.unicode_minus": True,
        }),
        warnings.catch_warnings(),
    ):
        # A metric name in a script DejaVu lacks draws as boxes; that is no reason to fail or warn.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font", category=UserWarning)
        fig = Figure(figsize=FIG_SIZE, dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        colours = [c["color"] for c in matplotlib.rcParams["axes.prop_cycle"]]
        draw_axes(ax, series, colours)
        ax.set_title(title, pad=10.0)  # room for the +Inf marks on the top edge
        ax.set_xlabel(x_label)
        ax.grid(True, alpha=0.3)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def draw_axes(ax: Any, series: Sequence[Series], colours: Sequence[str]) -> None:
    """Draw ``series`` on matplotlib axes ``ax``: lines, edge marks, and the legend when it says something."""
    labelled = len(series) > 1  # one series needs no legend entry: the title names the metric
    for i, s in enumerate(series):
        colour = colours[i % len(colours)]
        _draw_line(ax, s, colour, s.label if labelled else None)
        _draw_edge_marks(ax, s, colour)
    _add_mark_legend_entries(ax, series)
    if not any(s.x for s in series):
        ax.text(0.5, 0.5, "no finite values", transform=ax.transAxes, ha="center", va="center")
    if ax.get_legend_handles_labels()[1]:
        # Outside the axes, so it hides no data; "best" would scan every point (slow, and it warns).
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", borderaxespad=0.0)


def _draw_line(ax: Any, s: Series, colour: str, label: str | None) -> None:
    marker = "o" if len(s.x) == 1 else None  # a lone point draws no line
    if s.smoothed is None:
        ax.plot(s.x, s.y, color=colour, linewidth=1.5, marker=marker, label=label)
        return
    ax.plot(s.x, s.y, color=colour, linewidth=1.0, alpha=RAW_ALPHA, marker=marker)
    ax.plot(s.x, s.smoothed, color=colour, linewidth=1.5, marker=marker, label=label)


def _draw_edge_marks(ax: Any, s: Series, colour: str) -> None:
    edge = ax.get_xaxis_transform()  # x in data coordinates, y in axes coordinates (0 bottom, 1 top)
    for attr, y, marker, _ in EDGE_MARKS:
        xs: list[float] = getattr(s, attr)
        if xs:
            ax.plot(
                xs, [y] * len(xs), linestyle="none", marker=marker, markersize=8, color=colour,
                markeredgecolor="black", markeredgewidth=0.6, transform=edge, clip_on=False, zorder=5,
            )


def _add_mark_legend_entries(ax: Any, series: Sequence[Series]) -> None:
    """One legend entry per kind of non-finite point present, with its count over all series."""
    for attr, _, marker, name in EDGE_MARKS:
        n = sum(len(getattr(s, attr)) for s in series)
        if n:
            ax.plot([], [], linestyle="none", marker=marker, markersize=8, color="white",
                    markeredgecolor="black", markeredgewidth=0.6, label=f"{name} ({n})")
