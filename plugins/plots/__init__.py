"""plots: one PNG per metric, derived by replay, and `vrx plot`. See docs/plots.md.

Hook glue only: series, smoothing, non-finite values and file names live in ``series``, drawing in
``render`` (the only module that imports matplotlib, when it draws), the deriver in ``derive``
and the command in ``cli``. Importing this package imports neither matplotlib nor the others.
"""

from __future__ import annotations

import sys

from vrx_core import hookimpl
from vrx_core.hooks.api import Deriver, ReplayContext
from vrx_core.hooks.host import Commands

_warned: list[bool] = []  # once per process: a fleet replay of 1,000 runs says it once


@hookimpl
def vrx_deriver(context: ReplayContext) -> Deriver | None:
    """The plots deriver, or None without matplotlib: the other plugins' files are still derived."""
    from .render import EXTRA_HINT, matplotlib_missing

    if context.run_dir is not None and context.out_dir is None:
        return None  # a tail (vrx tail, follow, vrx serve) writes no file: keeping every point would be waste
    if matplotlib_missing():
        if context.run_dir is not None and not _warned:
            _warned.append(True)
            print(f"vrx: warning: plots: matplotlib is not installed, no plots derived: {EXTRA_HINT}",
                  file=sys.stderr)
        return None
    from .derive import PlotsDeriver

    return PlotsDeriver()


@hookimpl
def vrx_add_commands(commands: Commands) -> None:
    from .cli import add_plot

    add_plot(commands)
