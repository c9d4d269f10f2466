"""plots: one PNG per metric, derived by replay, and `vrx plot`. See docs/plots.md.

Hook glue only: series, smoothing, non-finite values and file names live in ``series``, drawing in
``render`` (the only module that imports matplotlib, when it draws), the deriver in ``derive``
and the command in ``cli``. Importing this package imports neither matplotlib nor the others.
"""

from __future__ import annotations

from vrx_core import hookimpl
from vrx_core.hooks.api import Deriver, ReplayContext
from vrx_core.hooks.host import Commands


@hookimpl
def vrx_deriver(context: ReplayContext) -> Deriver | None:
    """The plots deriver, or None without matplotlib (the other plugins' files are still derived)
    and for a live run (a tail writes no file, so it need not hold every point)."""
    from .render import EXTRA_HINT, matplotlib_missing

    if context.live:
        return None
    if matplotlib_missing():
        if context.run_dir is not None:
            from vrx_core.log.diagnostics import warn_once

            warn_once(f"plots: matplotlib is not installed, no plots derived: {EXTRA_HINT}")
        return None
    from .derive import PlotsDeriver

    return PlotsDeriver()


@hookimpl
def vrx_add_commands(commands: Commands) -> None:
    from .cli import add_plot

    add_plot(commands)
