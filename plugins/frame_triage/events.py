"""Event kinds of a camera capture; the frame fields frame_id, ts_ns, size_bytes, dropped are public."""

from __future__ import annotations

from vrx_core.events import Event


class TriageScenario(Event, frozen=True, kw_only=True, tag="triage.scenario"):
    """The scenario a capture ran with: its exact text (``scenario.json`` is a byte copy of it).

    ``source_name`` is the scenario file's name stem (labops wrote it into ``run.json``);
    ``bundle_run_id`` is the ``run-<epoch ms>`` id; ``created_ns`` the run's creation time.
    """

    scenario_id: str
    source_name: str
    raw: str
    bundle_run_id: str
    created_ns: int


class TriageConfigApplied(Event, frozen=True, kw_only=True, tag="triage.config_applied"):
    """Parameters applied to the camera backend, in the order they were applied."""

    backend: str
    params: dict[str, str]


class TriageStreamStarted(Event, frozen=True, kw_only=True, tag="triage.stream_started"):
    """The stream started: ``started_ns`` is its epoch-ns start; ``duration_ms`` the planned window."""

    backend: str
    fps: int
    duration_ms: int
    seed: int
    started_ns: int


class TriageFrame(Event, frozen=True, kw_only=True, tag="triage.frame"):
    """One frame sample as the backend returned it (possibly reordered); dropped frames have size 0."""

    frame_id: int
    ts_ns: int
    size_bytes: int
    dropped: bool
    reason: str | None = None


class TriageStreamStopped(Event, frozen=True, kw_only=True, tag="triage.stream_stopped"):
    """The stream stopped, with the backend's own counters (checked against the frames seen)."""

    frames_total: int
    frames_received: int
    frames_dropped: int
    stopped_ns: int


class TriageImported(Event, frozen=True, kw_only=True, tag="triage.imported"):
    """This run was converted from a bundle written by another tool (``vrx triage import``)."""

    source: str
    source_format: str
    notes: str


KINDS: list[type[Event]] = [
    TriageScenario,
    TriageConfigApplied,
    TriageStreamStarted,
    TriageFrame,
    TriageStreamStopped,
    TriageImported,
]
