"""query: each run's metrics.parquet, derived by replay, and `vrx query` (SQL over runs). See docs/query.md.

Hook glue only: the fold is ``table``, the deriver ``derive``, DuckDB ``duck``, the runs and their
sources ``sources``, the read-only database ``database``, the command ``cli`` and its output
``output``. duckdb is an optional extra (``sql``): without it replay derives no metrics.parquet
(one warning per process) and every other plugin's files are derived as usual; ``vrx query`` exits 69.
"""

from __future__ import annotations

import functools
import importlib.util
import sys

from vrx_core import hookimpl
from vrx_core.hooks.api import Deriver, ReplayContext
from vrx_core.hooks.host import Commands


@hookimpl
def vrx_deriver(context: ReplayContext) -> Deriver | None:
    from .derive import MetricsDeriver

    if context.run_dir is not None and context.out_dir is None:
        return None  # a tail (vrx tail, follow) writes no file: keeping every point would be waste
    if context.run_dir is not None and not _duckdb_available():
        _warn_once()
        return None
    return MetricsDeriver()


def _duckdb_available() -> bool:
    """Whether duckdb can be imported, without importing it (``vrx tail`` asks too, and never needs it)."""
    if "duckdb" in sys.modules:
        return sys.modules["duckdb"] is not None
    try:
        return importlib.util.find_spec("duckdb") is not None
    except (ImportError, ValueError):
        return False


@functools.cache  # once per process, however many runs a fleet worker replays
def _warn_once() -> None:
    from .duck import EXTRA_HINT

    print(
        f"vrx: warning: query: metrics.parquet not derived: duckdb is not installed ({EXTRA_HINT})",
        file=sys.stderr,
    )


@hookimpl
def vrx_add_commands(commands: Commands) -> None:
    from .cli import add_query

    add_query(commands)
