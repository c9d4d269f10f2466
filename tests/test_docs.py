"""Docs stay in sync with the code: every event kind has a section, every command its --help."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vrx_core.events import CORE_KINDS
from vrx_plugins.ant_ratio.events import KINDS as PACKET_KINDS
from vrx_plugins.ant_ratio.sweep_events import KINDS as SWEEP_KINDS
from vrx_plugins.assoc_eval.events import KINDS as ASSOC_KINDS
from vrx_plugins.frame_triage.events import KINDS as TRIAGE_KINDS
from vrx_plugins.gpu_probe.events import KINDS as PROBE_KINDS
from vrx_plugins.telemetry.events import KINDS as TELEMETRY_KINDS

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize(
    ("doc", "kinds"),
    [
        ("events.md", CORE_KINDS),
        ("frame_triage.md", TRIAGE_KINDS),
        ("gpu_probe.md", PROBE_KINDS),
        ("ant_ratio.md", PACKET_KINDS),
        ("ant_ratio.md", SWEEP_KINDS),
        ("assoc_eval.md", ASSOC_KINDS),
        ("telemetry.md", TELEMETRY_KINDS),
    ],
)
def test_every_event_kind_is_documented(doc: str, kinds: tuple[type, ...]) -> None:
    """Each event kind's tag has a `## `tag`` section in its reference doc."""
    text = (DOCS / doc).read_text()
    for cls in kinds:
        tag = cls.__struct_config__.tag
        assert re.search(rf"^## `{re.escape(tag)}`", text, re.M), f"{tag} missing from docs/{doc}"


COMMANDS = [
    "verify", "ingest", "replay", "events", "plugins", "tail", "demo", "triage", "workload", "probe",
    "packet", "sweep", "assoc", "ls", "compare", "fleet", "plot", "query", "serve",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_and_is_in_cli_doc(cli, command: str) -> None:
    """`vrx COMMAND --help` exits 0 with a description, and docs/cli.md mentions the command."""
    r = cli(command, "--help")
    assert r.code == 0 and len(r.out) > 200
    assert f"`vrx {command}" in (DOCS / "cli.md").read_text()
