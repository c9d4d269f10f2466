"""Recording a packet run: the start event, then one ``source`` event per input file.

The packet itself is not recorded: it is derived from these events (``derive``), here by the
replay ``vrx packet`` runs right after, and by any later ``vrx replay``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vrx_core.events import EventRegistry
from vrx_core.log.writer import Recorder

from .derive import INPUT_NAMES, packet_from_log
from .events import PacketStarted
from .packet import DEFAULT_MAX_STEPS, DEFAULT_MIN_STEPS
from .sources import Inputs


@dataclass(frozen=True)
class PacketOptions:
    """The packet's options, as the original's flags mean them (0 or blank: not given)."""

    ant_tier: str | None = None
    token_budget: int | None = None
    min_steps: int = DEFAULT_MIN_STEPS
    max_steps: int = DEFAULT_MAX_STEPS
    capability_steps: int | None = None

    @classmethod
    def from_flags(
        cls, ant_tier: str, token_budget: int, min_steps: int, max_steps: int, capability_steps: int
    ) -> PacketOptions:
        return cls(
            ant_tier=ant_tier.strip() or None,
            token_budget=token_budget if token_budget > 0 else None,
            min_steps=min_steps,
            max_steps=max_steps,
            capability_steps=capability_steps if capability_steps > 0 else None,
        )


def start_event(
    inputs: Inputs,
    options: PacketOptions,
    *,
    argv: list[str],
    generated_utc: str,
    repo_root: Path | None,
    git_commit: str | None,
) -> PacketStarted:
    return PacketStarted(
        argv=argv,
        probe_run_root=str(inputs.probe_root),
        assoc_run_root=str(inputs.assoc_root),
        inputs={name: str(f.path) for name, f in inputs.files.items()},
        generated_utc=generated_utc,
        git_commit=git_commit,
        repo_root=None if repo_root is None else str(repo_root),
        ant_tier=options.ant_tier,
        token_budget=options.token_budget,
        min_steps=options.min_steps,
        max_steps=options.max_steps,
        capability_steps=options.capability_steps,
    )


def check_packet(started: PacketStarted, inputs: Inputs) -> None:
    """Build the packet once before recording, as the replay will: a PacketError stops here."""
    packet_from_log(started, {name: inputs.files[name].data.decode("utf-8") for name in INPUT_NAMES})


def record_packet(run_dir: Path, started: PacketStarted, inputs: Inputs, *, registry: EventRegistry) -> None:
    """Record the packet run into ``run_dir/events.jsonl`` (a new run: never appends to an old one)."""
    with Recorder(run_dir, resume="never", registry=registry, name="packet") as rec:
        rec.emit(started)
        for name in INPUT_NAMES:
            rec.emit(inputs.files[name].source())
