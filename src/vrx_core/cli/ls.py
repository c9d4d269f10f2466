"""``vrx ls``: every run under some directories, each from the head and the tail of its log.

What one run's status, times and last metrics are is :mod:`vrx_core.engine.runinfo`; this module
finds the runs, asks the plugins for their verdicts, filters, sorts and prints.
"""

from __future__ import annotations

import argparse
import fnmatch
import math
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from vrx_core.errors import ExitCode, NoSuchRun, UsageError
from vrx_core.hooks.host import common_options

if TYPE_CHECKING:
    from vrx_core.engine.runinfo import RunInfo

_STATUSES = ("running", "ended", "crashed", "corrupt", "newer")
_END_STATUSES = ("ok", "error", "interrupted")
SORT_KEYS = ("start", "duration", "name", "status", "path")
#: Metrics shown per run in the table (all of them in --json).
TABLE_METRICS = 3
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")

_DESCRIPTION = """\
List every run (a directory holding events.jsonl) under the DIRs (default: the current directory),
at any depth, one line each: status, start time (UTC), duration, name, path, the last values of
its metrics and the plugins' verdicts. Only the first line and the last 16 KiB of each log are
read, plus writer.lock and derived.json, so thousands of runs list in seconds; `vrx verify RUN`
checks a whole log.

statuses:
  running  no run_end, and the writer holds the lock (its process is alive on this host, or, for
           a writer on another host, its heartbeat is at most 30 s old)
  ended    the last line is a run_end; shown as ended/error or ended/interrupted when the run
           ended with that status (filter those with --status error|interrupted)
  crashed  no run_end and no live writer (a torn last line or crash residue is part of a crash)
  corrupt  line 1 is damaged, a line in the tail window is damaged where crash residue cannot
           be (before a valid sync line), a checked line has the wrong seq or count, or the log
           is shorter than derived.json recorded
  newer    written by a newer major log format than this vrx reads

On a terminal the table is a Rich table, its name, path, metrics and verdicts columns folded to
fit the terminal's width; piped, it is plain columns two spaces apart, never folded.

exit codes: 0 listed (also when no run matched: a note on stderr); 2 usage (a bad --since);
66 a DIR does not exist, or is a file other than a run's events.jsonl (not a directory).
"""


def add_ls(sub: Any) -> None:
    p = sub.add_parser(
        "ls",
        parents=[common_options()],
        help="list runs under directories: status, start, duration, name, metrics, verdicts",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dirs", metavar="DIR", nargs="*", help="directories to search (default: .)")
    p.add_argument(
        "--status",
        dest="statuses",
        action="append",
        default=[],
        choices=(*_STATUSES, *_END_STATUSES),
        metavar="STATUS",
        help="only runs with this status (repeatable): running, ended, crashed, corrupt, newer, or "
        "an ended run's ok, error, interrupted",
    )
    p.add_argument(
        "--name",
        dest="names",
        action="append",
        default=[],
        metavar="GLOB",
        help="only runs whose name matches GLOB (repeatable), e.g. 'train-*'",
    )
    p.add_argument(
        "--since",
        metavar="WHEN",
        help="only runs started at or after WHEN: an ISO date or time (2025-06-01, "
        "2025-06-01T12:00; UTC, like the start column, unless it has Z or an offset such as "
        "+02:00) or an age (90m, 2h, 3d, 1w)",
    )
    p.add_argument("--sort", choices=SORT_KEYS, default="start", help="order (default: start)")
    p.add_argument("--reverse", "-r", action="store_true", help="reverse the order")
    p.add_argument("--json", action="store_true", help="print one JSON array of run objects")
    p.set_defaults(handler=cmd_ls)


def cmd_ls(args: argparse.Namespace) -> int:
    from vrx_core.cli.progress import progress_bar
    from vrx_core.log.rundir import LOG

    now = time.time()
    since = parse_since(args.since, now) if args.since else None
    dirs = args.dirs or ["."]
    for d in dirs:
        if not os.path.exists(d):
            raise NoSuchRun("no such directory", path=d)
        if not os.path.isdir(d) and os.path.basename(d) != LOG:
            raise NoSuchRun("not a directory (nor a run's events.jsonl)", path=d)
    paths = find_all(dirs)
    with progress_bar("listing runs", len(paths) if len(paths) >= 500 else 0, unit="runs") as update:
        runs = inspect_all(
            paths,
            verdicts=args.plugin_run_verdicts,
            wanted=lambda r: _wanted(r, args.statuses, args.names, since),
            now=now,
            progress=update,
        )
    runs = sort_runs(runs, args.sort, now=now, reverse=args.reverse)
    if args.json:
        import msgspec

        sys.stdout.write(msgspec.json.encode([r.to_json(now) for r in runs]).decode() + "\n")
    else:
        print_runs(runs, now=now, out=sys.stdout)
    for r in runs:
        if r.status == "corrupt" and r.problem:
            print(f"vrx: corrupt: {r.problem}", file=sys.stderr)
    if not runs:
        where = ", ".join(dirs)
        if not paths:
            print(f"vrx: no runs found under {where}", file=sys.stderr)
        else:
            found = f"{len(paths)} run{'' if len(paths) == 1 else 's'}"
            print(f"vrx: {found} under {where}; none matched the filters", file=sys.stderr)
    return int(ExitCode.OK)


def find_all(dirs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Every run under ``dirs`` (see :func:`vrx_core.engine.runinfo.find_runs`), each once."""
    from vrx_core.engine.runinfo import find_runs

    found = (p for d in dirs for p in find_runs(Path(d)))
    if len(dirs) == 1:  # one walk never meets a run twice: symlinked directories are not entered
        return [Path(os.path.normpath(p)) for p in found]
    return _unique(found)


def inspect_all(
    paths: Sequence[Path],
    *,
    verdicts: Callable[[Path], dict[str, str]] | None = None,
    wanted: Callable[[RunInfo], bool] | None = None,
    now: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[RunInfo]:
    """:func:`~vrx_core.engine.runinfo.inspect_run` of each path; the plugins' verdicts of those
    ``wanted`` keeps (asked after the cheap filters). The listing of ``vrx ls`` (and bench/ls.py)."""
    from vrx_core.engine.runinfo import Host, inspect_run
    from vrx_core.follow.liveness import DEAD_AFTER_S

    now = time.time() if now is None else now
    host = Host()
    runs: list[RunInfo] = []
    for i, path in enumerate(paths):
        if progress is not None and i % 100 == 0:
            progress(i)
        try:
            info = inspect_run(path, now=now, host=host, stale_after_s=DEAD_AFTER_S)
        except NoSuchRun:
            continue  # removed since its directory was read
        if wanted is None or wanted(info):
            if verdicts is not None:
                info.verdicts = verdicts(info.path)
            runs.append(info)
    return runs


def _unique(paths: Any) -> list[Path]:
    """Each run once (DIRs may overlap), as the path it was found by, normalised."""
    seen: set[str] = set()
    out = []
    for p in paths:
        real = os.path.realpath(p)
        if real not in seen:
            seen.add(real)
            out.append(Path(os.path.normpath(p)))
    return out


def _wanted(info: RunInfo, statuses: Sequence[str], names: Sequence[str], since: float | None) -> bool:
    if (
        statuses
        and info.status not in statuses
        and not (info.status == "ended" and (info.end_status or "ok") in statuses)
    ):
        return False
    if names and not any(fnmatch.fnmatchcase(info.name, g) for g in names):
        return False
    return since is None or (info.start is not None and info.start >= since)


def parse_since(text: str, now: float) -> float:
    """``--since``: an age (``90m``, ``2h``, ``3d``, ``1w``, ``30s``) or an ISO date/time; a Unix time.

    A date or time without a zone is UTC, as the table's start column; ``Z`` or an offset
    (``+02:00``) says otherwise. Raises :class:`UsageError` for anything else.
    """
    m = _RELATIVE.fullmatch(text.strip())
    if m:
        return now - float(m.group(1)) * _UNITS[m.group(2)]
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"--since {text!r}: expected an ISO date or time (2025-06-01, 2025-06-01T12:00Z) or an age"
            " (90m, 2h, 3d, 1w)"
        ) from None
    return (when if when.tzinfo is not None else when.replace(tzinfo=UTC)).timestamp()


def sort_runs(runs: list[RunInfo], key: str, *, now: float, reverse: bool = False) -> list[RunInfo]:
    """Runs in ``key`` order (see SORT_KEYS), unknown values last, ties by path."""
    from vrx_core.engine.runinfo import STATUSES

    def value(r: RunInfo) -> tuple[Any, ...]:
        if key == "start":
            return (r.start is None, r.start or 0.0)
        if key == "duration":
            d = r.duration(now)
            return (d is None, d or 0.0)
        if key == "name":
            return (r.name,)
        if key == "status":
            return (STATUSES.index(r.status), r.end_status or "")
        return ()

    ordered = sorted(runs, key=lambda r: (*value(r), os.fspath(r.path)))
    return ordered[::-1] if reverse else ordered


# -- output -------------------------------------------------------------------------------------

_COLUMNS = ("status", "start (UTC)", "duration", "name", "path", "metrics", "verdicts")
_STYLE = {"running": "green", "crashed": "yellow", "corrupt": "bold red", "newer": "magenta"}
#: The columns a terminal table never wraps or folds.
_FIXED = frozenset({"status", "duration"})
#: How the room left on a narrow terminal is shared by the columns that fold.
_FOLD_WEIGHT = {"path": 3.0, "metrics": 2.0, "name": 1.0, "verdicts": 1.0}


def row_cells(r: RunInfo, now: float) -> list[str]:
    """The table cells of one run (plain strings)."""
    start = "-" if r.start is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.start))
    metrics = [f"{k}={format_number(v)}" for k, v in list(r.metrics.items())[:TABLE_METRICS]]
    if len(r.metrics) > TABLE_METRICS:
        metrics.append(f"+{len(r.metrics) - TABLE_METRICS}")
    return [
        r.shown_status,
        start,
        format_duration(r.duration(now)),
        _printable(r.name),
        _printable(os.fspath(r.path)),
        " ".join(metrics) or "-",
        " ".join(f"{k}:{v}" for k, v in r.verdicts.items()) or "-",
    ]


def print_runs(runs: Sequence[RunInfo], *, now: float, out: TextIO) -> None:
    """A Rich table on a terminal (its long columns folded to the terminal's width), else plain
    columns two spaces apart (piped output is never folded)."""
    if not runs:
        return
    grid = [row_cells(r, now) for r in runs]
    if out.isatty() and os.environ.get("TERM") != "dumb":
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        console = Console(file=out)
        table = Table(box=None, pad_edge=False, highlight=False)
        widths: Sequence[int | None] = fit_widths(grid, console.width) or [None] * len(_COLUMNS)
        for name, width in zip(_COLUMNS, widths, strict=True):
            table.add_column(
                name,
                justify="right" if name == "duration" else "left",
                width=width,
                no_wrap=name in _FIXED,
                overflow="fold",  # a path has no spaces to wrap at
            )
        for r, cells in zip(runs, grid, strict=True):
            table.add_row(*(Text(c) for c in cells), style=_STYLE.get(r.status))
        console.print(table)
        return
    natural = [max(len(c) for c in col) for col in zip(_COLUMNS, *grid, strict=True)]
    for line in [list(_COLUMNS), *grid]:
        parts = [
            c.rjust(w) if i == 2 else c.ljust(w) for i, (c, w) in enumerate(zip(line, natural, strict=True))
        ]
        out.write("  ".join(parts).rstrip() + "\n")


def fit_widths(grid: Sequence[Sequence[str]], width: int) -> list[int] | None:
    """The terminal table's column widths for rows of ``grid`` on a terminal ``width`` wide.

    Each column is as wide as its widest cell when the rows fit. Else status and duration keep
    theirs, start wraps its time under its date, and the other columns start from their header's
    width and grow in turn: the path to 24 characters, the metrics to their longest item, the name
    to 16, start to its whole width; what is left goes by :data:`_FOLD_WEIGHT`, the path first. No
    column is wider than its widest cell; cells wrap at spaces and fold. None when not even that
    fits (Rich squeezes the table then).
    """
    natural = [max(len(c) for c in col) for col in zip(_COLUMNS, *grid, strict=True)]
    gaps = 2 * (len(_COLUMNS) - 1)  # box=None: one space of padding on either side of a column
    if sum(natural) + gaps <= width:
        return natural
    col = {name: i for i, name in enumerate(_COLUMNS)}
    widths = [
        natural[i] if name in _FIXED else min(natural[i], 10 if name == "start (UTC)" else len(name))
        for i, name in enumerate(_COLUMNS)
    ]
    left = width - gaps - sum(widths)
    if left < 0:
        return None
    longest_metric = max(len(w) for cells in grid for w in cells[col["metrics"]].split(" "))
    for name, target in (("path", 24), ("metrics", longest_metric), ("name", 16), ("start (UTC)", 19)):
        i = col[name]
        grow = max(0, min(left, min(target, natural[i]) - widths[i]))
        widths[i] += grow
        left -= grow
    floors = list(widths)
    growing = [col[name] for name in _FOLD_WEIGHT if widths[col[name]] < natural[col[name]]]
    while left > 0 and growing:  # one character at a time, to the least grown by its weight
        i = min(growing, key=lambda j: (widths[j] - floors[j]) / _FOLD_WEIGHT[_COLUMNS[j]])
        widths[i] += 1
        left -= 1
        if widths[i] == natural[i]:
            growing.remove(i)
    return widths


def format_number(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return f"{v:.4g}"


def format_duration(seconds: float | None) -> str:
    """``12.3s``, ``5m03s``, ``2h05m``, ``3d04h``; ``-`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    s = int(seconds)
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _printable(text: str) -> str:
    """A name or path from disk in one cell: control characters escaped, never interpreted."""
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")
