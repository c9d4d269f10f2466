"""Event kinds of a GPU capacity probe run (objective_contract_v1, ORIGINS 2.2).

Everything the original probe kept in memory and wrote at the end is an event here, so
``metrics.json``, ``metrics.csv``, ``env.json``, ``run_cmd.txt`` and ``summary.md`` are derived by
replay. The order of the events is the order of the original's steps: start, env, device, warmup
steps, watchdog armed, measure steps (a re-arm after the fifth on CPU), measure window, VRAM
peaks, end; an error or a stall may cut it short.
"""

from __future__ import annotations

from typing import Any, Literal

from vrx_core.events import Event

Phase = Literal["warmup", "measure"]


class ProbeStarted(Event, frozen=True, kw_only=True, tag="probe.start"):
    """The probe's resolved inputs: what ``run_cmd.txt`` holds and the ids every artifact names.

    ``argv`` is the command as typed (``vrx probe run ...``); ``resolved_spec`` the workload after
    the ``--batch``/``--precision`` overrides, ``canonical_spec`` its canonical form. ``variant``
    (``dense``, ``compact``), ``compile`` and ``model`` (``MODULE:FACTORY`` or None for the
    ring-pointer model) are vrx extras, named in ``probe_id`` when not the defaults.
    """

    argv: list[str]
    resolved_spec: dict[str, Any]
    canonical_spec: dict[str, Any]
    workload_id: str
    probe_id: str
    out_dim: int
    warmup_steps: int
    measure_steps: int
    precision: str
    amp: int
    variant: str = "dense"
    compile: bool = False
    model: str | None = None
    debug_stall_after_step: int = -1
    debug_stall_s: float = 0.0
    debug_stall_threshold_s: float = 0.0
    vram_guard_ratio: float = 0.92


class ProbeEnv(Event, frozen=True, kw_only=True, tag="probe.env"):
    """The ``env.json`` object (exactly the v1 key set), captured once before compute."""

    env: dict[str, Any]


class ProbeDevice(Event, frozen=True, kw_only=True, tag="probe.device"):
    """Where the model runs (``cuda``/``cpu``) and how steps are timed (``cuda_events``/``perf_counter``)."""

    device: str
    step_time_mode: str


class ProbeStep(Event, frozen=True, kw_only=True, tag="probe.step"):
    """One training step: its phase and index in that phase, duration, loss and allocator state.

    ``finite`` is False when the loss is NaN or Inf (the ``loss`` field then holds it as such).
    The ``mem_*`` fields are the CUDA caching allocator's current and peak figures after the
    step (None on CPU); peaks are reset when the measure window starts.
    """

    phase: Phase
    index: int
    step_time_s: float
    loss: float
    finite: bool
    mem_allocated_bytes: int | None = None
    mem_reserved_bytes: int | None = None
    mem_peak_allocated_bytes: int | None = None
    mem_peak_reserved_bytes: int | None = None


class ProbeWatchdogArmed(Event, frozen=True, kw_only=True, tag="probe.watchdog_armed"):
    """The heartbeat watchdog was (re-)armed with ``threshold_s``.

    ``basis``: ``warmup`` (max(60, 10 x warmup median)), ``debug`` (the debug threshold),
    ``measure`` (CPU re-arm from the median of the first five measured steps).
    """

    threshold_s: float
    basis: Literal["warmup", "debug", "measure"]


class ProbeMeasured(Event, frozen=True, kw_only=True, tag="probe.measured"):
    """The measure window closed: its wall time between the synchronised start and end."""

    wall_time_s: float


class ProbeVram(Event, frozen=True, kw_only=True, tag="probe.vram"):
    """Peak CUDA memory of the measure window, or why it could not be read (``error``)."""

    peak_reserved_bytes: int | None = None
    peak_allocated_bytes: int | None = None
    error: str | None = None


class ProbeError(Event, frozen=True, kw_only=True, tag="probe.error"):
    """The run raised: ``message`` is ``"<ExceptionType>: <text>"`` (``runtime_exception_msg``).

    ``oom`` follows the original's rule: the lower-cased message contains "out of memory",
    "cuda oom" or "cuda out of memory" (a ``MemoryError`` on CPU counts too).
    """

    exception_type: str
    message: str
    oom: bool


class ProbeStall(Event, frozen=True, kw_only=True, tag="probe.stall"):
    """The watchdog saw no progress for longer than ``threshold_s`` (age ``last_progress_age_s``).

    The run's metrics are those at this moment plus ``heartbeat_stall``, as when the original
    wrote its artifacts from the watchdog and exited.
    """

    threshold_s: float
    last_progress_age_s: float


class ProbeEnded(Event, frozen=True, kw_only=True, tag="probe.end"):
    """The heartbeat's final snapshot, taken after the run (stats, VRAM or error) finished."""

    armed: bool
    threshold_s: float
    last_progress_age_s: float
    stalled: bool


KINDS: list[type[Event]] = [
    ProbeStarted,
    ProbeEnv,
    ProbeDevice,
    ProbeStep,
    ProbeWatchdogArmed,
    ProbeMeasured,
    ProbeVram,
    ProbeError,
    ProbeStall,
    ProbeEnded,
]
