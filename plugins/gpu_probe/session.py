"""One probe run from start to end as a vrx run: the log is the only thing it writes.

The artifacts are derived from the log afterwards (``derive``), as ``vrx replay`` would. A
failing step (an exception, a CUDA OOM, a CPU ``MemoryError``) is an event and the run still
ends normally; a stall is an event too, and a step that never comes back is abandoned after the
watchdog's grace period: the log is closed, the artifacts derived from it, and the process exits 0.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vrx_core.events import EventRegistry
from vrx_core.log.layout import Layout
from vrx_core.log.writer import Recorder

from .args import ProbeArgs, started_fields
from .envinfo import Facts, collect_facts, env_from
from .events import ProbeEnded, ProbeEnv, ProbeError, ProbeStall, ProbeStarted
from .runner import ProbeLoop, Progress, resolve_device
from .stats import is_oom
from .watchdog import Heartbeat, Stall
from .workload import Workload, own_workload, ring_workload


@dataclass(frozen=True)
class ProbePlan:
    """Everything decided before the run starts (arguments checked, workload resolved)."""

    args: ProbeArgs
    argv: list[str]
    resolved_spec: dict[str, Any]
    canonical_spec: dict[str, Any]
    workload_id: str
    probe_id: str
    factory: Callable[..., Any] | None = None

    @property
    def batch(self) -> int:
        return int(self.canonical_spec["colony_spec"]["batch_size"])

    def workload(self) -> Workload:
        ant, colony = self.canonical_spec["ant_spec"], self.canonical_spec["colony_spec"]
        if self.factory is not None:
            return own_workload(self.factory, ant, colony, self.args.out_dim)
        return ring_workload(ant, colony, self.args.out_dim, variant=self.args.variant)

    def started(self) -> ProbeStarted:
        return ProbeStarted(
            argv=self.argv,
            resolved_spec=self.resolved_spec,
            canonical_spec=self.canonical_spec,
            workload_id=self.workload_id,
            probe_id=self.probe_id,
            **started_fields(self.args),
        )


def record_probe(
    plan: ProbePlan,
    run_dir: Path | None = None,
    *,
    layout: Layout | None = None,
    config: Any = None,
    registry: EventRegistry,
    derive: Callable[[Path], None],
    telemetry: Callable[[Recorder], Any] | None = None,
    progress: Progress | None = None,
) -> Path:
    """Record the probe into ``run_dir/events.jsonl``, or a new directory placed by ``layout``
    (a new run: never appends to an old one); return the run's directory.

    ``derive(run_dir)`` derives the artifacts of a run abandoned by the watchdog.
    """
    # torch and git are asked once: the same facts are the run's `environment` event, env.json's
    # and the layout's (the rvinci directory name carries the commit).
    facts = collect_facts()
    # The recorder's own context ends the run as ok, interrupted or error.
    with Recorder(
        run_dir,
        layout=layout,
        config=config,
        resume="never",
        registry=registry,
        name="probe",
        environment=facts.environment,
        derive=False,  # the command derives with its own plugin selection (and the watchdog's path)
    ) as rec:
        _record(rec, plan, facts, lambda: derive(rec.run_dir), telemetry=telemetry, progress=progress)
    return rec.run_dir


def _record(
    rec: Recorder,
    plan: ProbePlan,
    facts: Facts,
    derive: Callable[[], None],
    *,
    telemetry: Callable[[Recorder], Any] | None,
    progress: Progress | None,
) -> None:
    a = plan.args
    rec.emit(plan.started())
    sampler = telemetry(rec) if telemetry is not None else None
    try:
        errors = [sampler.unavailable] if sampler is not None and sampler.unavailable else []
        rec.emit(ProbeEnv(env=env_from(facts, precision=a.precision, amp=a.amp, extra_errors=errors)))

        def on_stall(stall: Stall) -> None:
            rec.emit(ProbeStall(threshold_s=stall.threshold_s, last_progress_age_s=stall.age_s))

        def on_hung() -> None:
            # The stalled step never returned: finish the run from the log and leave. The
            # process must end here whatever happens, or it would hang with the stuck step.
            code = 0
            try:
                rec.close("error", "probe stalled: a step did not return")
                derive()
            except BaseException as exc:
                print(f"ERROR: failed to write artifacts: {exc}", file=sys.stderr)
                code = 2
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)

        hb = Heartbeat(on_stall, on_hung)
        hb.start()
        try:
            _train(rec, plan, hb, progress)
        finally:
            hb.stop()
        beat = hb.snapshot()
        rec.emit(
            ProbeEnded(
                armed=beat.armed,
                threshold_s=beat.threshold_s,
                last_progress_age_s=beat.age_s,
                stalled=beat.stalled,
            )
        )
    finally:
        if sampler is not None:
            sampler.stop()


def _train(rec: Recorder, plan: ProbePlan, hb: Heartbeat, progress: Progress | None) -> None:
    loop = ProbeLoop(rec, plan.args, plan.batch, hb, progress)
    try:
        import torch

        device = resolve_device(torch, plan.args.device, os.environ.get("VRX_FORCE_DEVICE"))
        loop.run(torch, device, plan.workload)
    except Exception as exc:  # the contract: any failure is a recorded FAIL, never a crash
        kind = type(exc).__name__
        message = f"{kind}: {exc}"
        rec.emit(ProbeError(exception_type=kind, message=message, oom=is_oom(kind, message)))
