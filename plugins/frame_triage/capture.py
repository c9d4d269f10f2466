"""Recording a capture into a vrx run: from a backend (`triage run`) or a labops bundle (`import`)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vrx_core.events import EventRegistry
from vrx_core.log.layout import Layout
from vrx_core.log.writer import Recorder

from .backends import CameraBackend
from .events import (
    TriageConfigApplied,
    TriageFrame,
    TriageImported,
    TriageScenario,
    TriageStreamStarted,
    TriageStreamStopped,
)
from .labops import LabopsBundle
from .sim import Frame

IMPORT_NOTES = (
    "converted from a labops bundle: its timestamps have millisecond resolution (ts_ns = ms * 1e6), so "
    "intervals and jitter are multiples of 1000 us; payload values were strings; frame order is the "
    "file's line order"
)


@dataclass(frozen=True)
class ScenarioInput:
    raw: bytes
    doc: Mapping[str, Any]
    source_name: str


_RUN_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def run_id_problem(run_id: str) -> str | None:
    """Why ``run_id`` cannot name a bundle directory inside ``--out`` (None if it can).

    A run id becomes one path component: no separators, no ``.``/``..``, nothing outside
    ``[A-Za-z0-9._-]``, so neither a command line nor an imported bundle can aim a write elsewhere.
    """
    if not _RUN_ID_RE.fullmatch(run_id):
        return f"run id {run_id!r} must be 1-128 characters of [A-Za-z0-9._-], starting alphanumeric"
    return None


def new_run_dir(out: Path, run_id: str | None, created_ns: int) -> tuple[Path, str]:
    """``<out>/<run_id>``, never an existing directory. Without an id: ``run-<epoch ms>``, bumped if taken."""
    out.mkdir(parents=True, exist_ok=True)
    if run_id is not None:
        problem = run_id_problem(run_id)
        if problem is not None:
            raise ValueError(problem)
        path = out / run_id
        path.mkdir()  # FileExistsError: the caller reports it
        return path, run_id
    ms = created_ns // 1_000_000
    while True:
        rid = f"run-{ms}"
        try:
            (out / rid).mkdir()
        except FileExistsError:
            ms += 1
            continue
        return out / rid, rid


def _pace(frames: Iterable[Frame], start_ns: int) -> Iterable[Frame]:
    """Yield frames no earlier than their timestamps (relative to the stream start), for live viewing."""
    t0 = time.monotonic()
    for frame in frames:
        due = t0 + (frame.ts_ns - start_ns) / 1e9
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield frame


def _record_frames(rec: Recorder, frames: Iterable[Frame]) -> tuple[int, int]:
    """Emit one ``triage.frame`` per sample; return (total, received)."""
    total = received = 0
    for f in frames:
        rec.emit(TriageFrame(frame_id=f.frame_id, ts_ns=f.ts_ns, size_bytes=f.size_bytes, dropped=f.dropped))
        total += 1
        received += not f.dropped
    return total, received


def record_capture(
    run_dir: Path | None,
    run_id: str | None,
    scenario: ScenarioInput,
    backend: CameraBackend,
    *,
    created_ns: int,
    registry: EventRegistry,
    realtime: bool = False,
    layout: Layout | None = None,
    config: Any = None,
    environment: bool | None = None,
    on_start: Callable[[Recorder], None] | None = None,
) -> int:
    """Run one capture and record it; return the number of frames.

    The run goes into ``run_dir`` (named ``run_id``), or into a new directory ``layout`` names
    (``run_dir`` and ``run_id`` None: the run id is the directory's name). ``config`` and
    ``environment`` are ``Recorder``'s. ``on_start(rec)`` is called once the run exists, before
    the first frame (with a layout, that is when its directory is known).
    """
    camera = backend.configure(scenario.doc)
    with Recorder(
        run_dir,
        layout=layout,
        config=config,
        environment=environment,
        run_id=run_id,
        name=f"triage {scenario.source_name}",
        registry=registry,
        derive=False,  # the caller derives the bundle (``vrx triage run``: with its plugin selection)
    ) as rec:
        if on_start is not None:
            on_start(rec)
        rec.emit(
            TriageScenario(
                scenario_id=str(scenario.doc.get("scenario_id", scenario.source_name)),
                source_name=scenario.source_name,
                raw=scenario.raw.decode("utf-8"),
                bundle_run_id=rec.run_id,
                created_ns=created_ns,
            )
        )
        rec.emit(TriageConfigApplied(backend=backend.name, params=dict(backend.applied_params(camera))))
        start_ns = time.time_ns()
        rec.emit(
            TriageStreamStarted(
                backend=backend.name,
                fps=camera.fps,
                duration_ms=camera.duration_ms,
                seed=camera.seed,
                started_ns=start_ns,
            )
        )
        frames = backend.frames(camera, start_ns)
        total, received = _record_frames(rec, _pace(frames, start_ns) if realtime else frames)
        rec.emit(
            TriageStreamStopped(
                frames_total=total,
                frames_received=received,
                frames_dropped=total - received,
                stopped_ns=time.time_ns(),
            )
        )
    return total


def record_import(
    run_dir: Path, run_id: str, bundle: LabopsBundle, source: Path, *, registry: EventRegistry
) -> int:
    """Convert a labops bundle into a vrx run; return the number of frames."""
    ev, run = bundle.events, bundle.run
    stream = ev.stream
    if stream is None:
        raise ValueError("events.jsonl has no STREAM_STARTED event")
    started_ns = run.started_at_ns if run else stream.ts_ns
    with Recorder(run_dir, run_id=run_id, name=f"triage import {source.name}", registry=registry) as rec:
        rec.emit(TriageImported(source=str(source), source_format="labops", notes=IMPORT_NOTES))
        if bundle.scenario_raw is not None:
            try:
                raw = bundle.scenario_raw.decode("utf-8")
            except UnicodeDecodeError:
                raw = None
            if raw is not None:
                sid = bundle.scenario.get("scenario_id") if bundle.scenario else None
                rec.emit(
                    TriageScenario(
                        scenario_id=str(sid or stream.scenario_id),
                        source_name=run.scenario_id if run else stream.scenario_id,
                        raw=raw,
                        bundle_run_id=run_id,
                        created_ns=run.created_at_ns if run else started_ns,
                    )
                )
        rec.emit(TriageConfigApplied(backend=stream.backend, params=dict(ev.config_params)))
        rec.emit(
            TriageStreamStarted(
                backend=stream.backend,
                fps=stream.fps,
                duration_ms=stream.duration_ms,
                seed=stream.seed,
                started_ns=started_ns,
            )
        )
        _, received = _record_frames(rec, ev.frames)
        stop = ev.stop
        rec.emit(
            TriageStreamStopped(
                frames_total=stop.frames_total if stop else len(ev.frames),
                frames_received=stop.frames_received if stop else received,
                frames_dropped=stop.frames_dropped if stop else len(ev.frames) - received,
                stopped_ns=run.finished_at_ns if run else (stop.ts_ns if stop else started_ns),
            )
        )
    return len(ev.frames)
