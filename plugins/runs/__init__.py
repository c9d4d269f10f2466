"""runs: the files of runs placed in a layout, derived by replay.

``config.yaml`` / ``config_resolved.yaml`` for any run that recorded its config;
``run_manifest.json`` and ``metrics.json`` for runs in rvinci's layout. Hook glue only: the
files are pure functions in ``files`` and ``yaml_text``; the deriver in ``derive``.
"""

from __future__ import annotations

from vrx_core import hookimpl
from vrx_core.hooks.api import Deriver, ReplayContext


@hookimpl
def vrx_deriver(context: ReplayContext) -> Deriver:
    from .derive import RunsDeriver

    return RunsDeriver()
