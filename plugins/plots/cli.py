"""``vrx plot RUN... [--metric GLOB] [--x step|time] [--smooth K] [--out DIR]``: PNGs of metrics.

Reads each run with the typed reader (CRC checked, a live run's torn tail left out, a multi-rank
run's ranks merged), folds its metrics as the ``plots`` deriver does, and draws each chosen metric
with :func:`.render.metric_png`, so one run plotted with the defaults gives the bytes of its
derived ``plots/<metric>.png``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vrx_core.errors import ExitCode, NoSuchRun, UsageError, VrxError
from vrx_core.hooks.host import Commands

from .series import MetricFold, XAxis, file_name, match_metrics

HELP = "draw metrics as PNGs: one per metric, runs overlaid, NaN and Inf marked"

DESCRIPTION = """\
Draw one PNG per metric, every RUN's series of it overlaid (one colour each, with a legend when
there is more than one); a multi-rank run has one series per rank, labelled RUN@rankN. A run is
named by its run_start (name, else run_id); two runs of the same name are labelled by the paths
given instead. Defaults: every metric, --x step, no smoothing (--smooth 1), --out ./plots.

NaN, +Inf and -Inf values have no y: each is marked at its x on the axis edge in its series'
colour, NaN as X and -Inf as v on the bottom edge, +Inf as ^ on the top edge, and the legend
counts them. They are left out of the line and of the smoothing.

Files are named after the metric: letters, digits, _ - . are kept, every other byte of the name's
UTF-8 (/, space, %, non-ASCII, a leading .) becomes %XX, so train/loss -> train%2Floss.png and no
two metrics share a file. Each path written is printed on stdout; on a terminal, progress bars
for reading many runs and drawing many plots show on stderr.

Plotted with the defaults, a single run gives exactly the bytes the `plots` plugin derives into
RUN/plots/ (`vrx replay RUN`). Needs matplotlib: pip install 'vrx-core[plot]'.

exit codes: 0 plotted; 2 usage (bad --smooth, a --metric GLOB that matches no metric: the message
lists the metrics there are); 65 a corrupt log; 66 no such run, or no metric in the runs;
69 matplotlib is not installed.
"""

EPILOG = "See docs/plots.md."
DEFAULT_OUT = "plots"
#: At most this many metric names in a "matched no metric" message.
LISTED = 20


class NoMetrics(VrxError):
    """The runs recorded no metric at all: nothing to plot (66, like a run that is not there)."""

    exit_code = ExitCode.NOINPUT


def add_plot(commands: Commands) -> argparse.ArgumentParser:
    p = commands.add("plot", help=HELP, description=DESCRIPTION, handler=cmd_plot)
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("runs", metavar="RUN", nargs="+", help="run directories (or their events.jsonl)")
    p.add_argument("--metric", dest="metrics", action="append", default=[], metavar="GLOB",
                   help="plot the metrics whose name matches GLOB (fnmatch, case-sensitive: 'train/*'); "
                   "repeatable (default: every metric)")
    p.add_argument("--x", dest="x_axis", choices=("step", "time"), default="step",
                   help="x axis: the metric's step (its index in its series when it has none), or "
                   "seconds since the run's first event (default: step)")
    p.add_argument("--smooth", type=smooth_window, default=1, metavar="K",
                   help="draw the trailing mean of each point and the K-1 finite points before it, over "
                   "the faint raw line; 1 draws the raw line alone (default: 1)")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"write the PNGs into DIR, created if needed (default: ./{DEFAULT_OUT})")
    return p


def smooth_window(text: str) -> int:
    """``--smooth``: an integer K >= 1 (anything else is a usage error)."""
    try:
        k = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if k < 1:
        raise argparse.ArgumentTypeError(f"{text} is less than 1; K is a number of points (1: no smoothing)")
    return k


def cmd_plot(args: argparse.Namespace) -> int:
    from vrx_core.cli.progress import progress_bar
    from vrx_core.log.atomic import atomic_write

    from .render import EXTRA_HINT, PlotUnavailable, matplotlib_missing, metric_png

    if matplotlib_missing():  # before reading any log: the answer will not change
        raise PlotUnavailable(f"vrx plot needs matplotlib, which is not installed: {EXTRA_HINT}")
    runs = load_runs(args.runs, x_axis=args.x_axis, registry=args.pm_registry())
    chosen = choose_metrics(runs, args.metrics)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with progress_bar("plotting", len(chosen), unit="plots") as update:
        for done, name in enumerate(chosen, 1):
            path = out / file_name(name)
            atomic_write(path, metric_png(runs, name, smooth=args.smooth))
            print(path, flush=True)
            if update is not None:
                update(done)
    return int(ExitCode.OK)


def load_runs(paths: Sequence[str], *, x_axis: XAxis, registry: Any) -> list[tuple[str, MetricFold]]:
    """Each run's label and metric fold, in the order given."""
    from vrx_core.cli.progress import progress_bar

    folds: list[MetricFold] = []
    with progress_bar("reading runs", len(paths) if len(paths) > 1 else 0, unit="runs") as update:
        for done, path in enumerate(paths, 1):
            folds.append(read_run(path, x_axis=x_axis, registry=registry))
            if update is not None:
                update(done)
    return list(zip(run_labels(paths, folds), folds, strict=True))


def read_run(path: str, *, x_axis: XAxis, registry: Any) -> MetricFold:
    from vrx_core.events import Metric, RunStart
    from vrx_core.log.reader import read_events

    if not os.path.exists(path):
        raise NoSuchRun("no such run", path=path)
    fold = MetricFold(x_axis)
    for event in read_events(path, registry=registry):
        if isinstance(event, Metric):
            fold.add(event)
        elif isinstance(event, RunStart):
            fold.run_start(event)
        else:
            fold.start(event.t)
    return fold


def run_labels(paths: Sequence[str], folds: Sequence[MetricFold]) -> list[str]:
    """Each run's name from its log; the path as given where two runs share a name (or have none)."""
    names = [f.name for f in folds]
    return [
        name if name is not None and names.count(name) == 1 else os.path.normpath(path)
        for path, name in zip(paths, names, strict=True)
    ]


def choose_metrics(runs: Sequence[tuple[str, MetricFold]], globs: Sequence[str]) -> list[str]:
    """The metric names to plot; NoMetrics (66) for runs without any, UsageError (2) for globs that
    match none, naming the metrics there are."""
    names = sorted({n for _, fold in runs for n in fold.points})
    if not names:
        raise NoMetrics(f"no metric events in {', '.join(label for label, _ in runs)}")
    chosen = match_metrics(names, globs)
    if not chosen:
        more = f", ... ({len(names) - LISTED} more)" if len(names) > LISTED else ""
        what = " or ".join(repr(g) for g in globs)
        listed = ", ".join(names[:LISTED])
        raise UsageError(f"--metric {what} matched no metric; the runs have: {listed}{more}")
    return chosen
