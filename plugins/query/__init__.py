"""query: each run's metrics.parquet, derived by replay, and `vrx query` (SQL over runs). See docs/query.md.

Hook glue only: the fold is ``table``, the deriver ``derive``, DuckDB ``duck``, the runs and their
sources ``sources``, the read-only database ``database``, the command ``cli`` and its output
``output``. duckdb is an optional extra (``sql``): without it replay derives no metrics.parquet
(one warning per process) and every other plugin's files are derived as usual; ``vrx query`` exits 69.
"""

from __future__ import annotations

from vrx_core import hookimpl
from vrx_core.hooks.api import Deriver, ReplayContext
from vrx_core.hooks.host import Commands


@hookimpl
def vrx_deriver(context: ReplayContext) -> Deriver | None:
    """The metrics.parquet deriver, or None without duckdb (the other plugins' files are still
    derived) and for a live run (a tail writes no file: keeping every point would be waste)."""
    from vrx_core.hooks.discovery import importable

    from .derive import MetricsDeriver

    if context.live:
        return None
    if context.run_dir is not None and not importable("duckdb"):
        from vrx_core.log.diagnostics import warn_once

        from .duck import EXTRA_HINT

        warn_once(f"query: metrics.parquet not derived: duckdb is not installed ({EXTRA_HINT})")
        return None
    return MetricsDeriver()


@hookimpl
def vrx_add_commands(commands: Commands) -> None:
    from .cli import add_query

    add_query(commands)
