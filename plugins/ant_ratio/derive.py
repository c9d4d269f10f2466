"""The packet deriver: a packet run's start event and recorded sources -> ``packet.json``.

Only a packet run (one with ``ant_ratio.packet_start``) whose four inputs were all recorded
gets the file; any other run, one with ``source`` events of its own included, gets nothing.
The inputs are parsed from the recorded texts, never read from disk.
"""

from __future__ import annotations

import json
from typing import Any

from vrx_core.events import Source
from vrx_core.hooks.api import DerivedFiles, Deriver, handles

from .events import PacketStarted
from .packet import ENV, METRICS, REPORT, RUN_CMD, build_packet, packet_json

PACKET_FILE = "packet.json"
INPUT_NAMES = (METRICS, ENV, RUN_CMD, REPORT)


class PacketDeriver(Deriver):
    """ant_ratio.packet_start + source events -> packet.json."""

    outputs = frozenset({PACKET_FILE})

    def __init__(self) -> None:
        self.started: PacketStarted | None = None
        self.texts: dict[str, str] = {}

    @handles(PacketStarted)
    def on_start(self, event: PacketStarted) -> None:
        self.started = event
        self.texts = {}

    @handles(Source)
    def on_source(self, event: Source) -> None:
        # Sources before the start event, or of other files, are not this packet's inputs.
        if self.started is None or event.text is None:
            return
        for name, path in self.started.inputs.items():
            if path == event.path and name in INPUT_NAMES:
                self.texts[name] = event.text

    def complete(self) -> bool:
        return self.started is not None and all(name in self.texts for name in INPUT_NAMES)

    def run_outputs(self) -> frozenset[str]:
        return self.outputs if self.complete() else frozenset()

    def finish(self, out: DerivedFiles) -> None:
        if self.started is not None and self.complete():
            out.write_bytes(PACKET_FILE, packet_json(packet_from_log(self.started, self.texts)))

    def snapshot(self) -> dict[str, Any]:
        if self.started is None:
            return {}
        return {"inputs": f"{len(self.texts)}/{len(INPUT_NAMES)}"}


def packet_from_log(started: PacketStarted, texts: dict[str, str]) -> dict[str, Any]:
    """The packet of a packet run's recorded start event and input texts."""
    parsed = {name: json.loads(texts[name]) for name in INPUT_NAMES}
    return build_packet(
        parsed[METRICS],
        parsed[ENV],
        parsed[RUN_CMD],
        parsed[REPORT],
        probe_run_root=started.probe_run_root,
        assoc_run_root=started.assoc_run_root,
        generated_utc=started.generated_utc,
        git_commit=started.git_commit,
        repo_root=started.repo_root,
        ant_tier=started.ant_tier,
        token_budget=started.token_budget,
        min_steps=started.min_steps,
        max_steps=started.max_steps,
        capability_steps=started.capability_steps,
    )
