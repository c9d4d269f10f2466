"""The assoc deriver: an assoc run's events -> ``report.json``, and a live snapshot for ``vrx tail``.

Only a run with ``assoc.start`` that ended ``ok`` gets the report (a run that raised got none
from the original either); any other run gets nothing, so the file name stays free for others.
"""

from __future__ import annotations

from typing import Any

from vrx_core.events import Checkpoint
from vrx_core.hooks.api import DerivedFiles, Deriver, handles

from .events import AssocData, AssocEnded, AssocEvalBatch, AssocLoaded, AssocModel, AssocStarted, AssocStep
from .fold import AssocFold
from .report import report_json

REPORT = "report.json"


class AssocDeriver(Deriver):
    """assoc.* events (and the run's ``checkpoint``) -> report.json."""

    outputs = frozenset({REPORT})

    def __init__(self) -> None:
        self.fold = AssocFold()

    @handles(AssocStarted)
    def on_start(self, event: AssocStarted) -> None:
        self.fold.on_start(event)

    @handles(AssocModel)
    def on_model(self, event: AssocModel) -> None:
        self.fold.on_model(event)

    @handles(AssocData)
    def on_data(self, event: AssocData) -> None:
        self.fold.on_data(event)

    @handles(AssocLoaded)
    def on_loaded(self, event: AssocLoaded) -> None:
        self.fold.on_loaded(event)

    @handles(Checkpoint)
    def on_checkpoint(self, event: Checkpoint) -> None:
        self.fold.on_checkpoint(event)

    @handles(AssocStep)
    def on_step(self, event: AssocStep) -> None:
        self.fold.on_step(event)

    @handles(AssocEvalBatch)
    def on_eval_batch(self, event: AssocEvalBatch) -> None:
        self.fold.on_eval_batch(event)

    @handles(AssocEnded)
    def on_end(self, event: AssocEnded) -> None:
        self.fold.on_end(event)

    def run_outputs(self) -> frozenset[str]:
        return self.outputs if self.fold.complete else frozenset()

    def finish(self, out: DerivedFiles) -> None:
        if self.fold.complete:
            out.write_bytes(REPORT, report_json(self.fold.report()))

    def snapshot(self) -> dict[str, Any]:
        return self.fold.snapshot()
