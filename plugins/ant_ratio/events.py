"""Event kinds of a packet run (``vrx packet``).

A packet run is a recorded derivation: ``ant_ratio.packet_start`` holds what the packet takes
besides its inputs (the options, and the clock and git readings taken once), then one core
``source`` event per input file carries its path, sha256 and text. ``packet.json`` is derived
from those events alone, so ``vrx replay`` rebuilds it byte for byte and ``vrx replay --check``
proves it still matches its sources (and names a source that changed).
"""

from __future__ import annotations

from vrx_core.events import Event


class PacketStarted(Event, frozen=True, kw_only=True, tag="ant_ratio.packet_start"):
    """A packet run's options and context, captured once when it was recorded.

    ``probe_run_root``/``assoc_run_root`` are the roots as resolved (absolute); ``inputs`` maps
    each input file's name (``metrics.json``, ``env.json``, ``run_cmd.txt``, ``report.json``) to
    the absolute path its ``source`` event names. ``repo_root`` is the git work tree of the
    directory ``vrx packet`` ran in (None outside one): roots under it are stored repo-relative.
    ``git_commit`` is its ``HEAD`` (None without git or commits); ``generated_utc`` the UTC time
    of recording (``%Y-%m-%dT%H:%M:%SZ``). ``ant_tier``, ``token_budget``, ``min_steps``,
    ``max_steps``, ``capability_steps`` are the options (None: not given).
    """

    argv: list[str]
    probe_run_root: str
    assoc_run_root: str
    inputs: dict[str, str]
    generated_utc: str
    git_commit: str | None = None
    repo_root: str | None = None
    ant_tier: str | None = None
    token_budget: int | None = None
    min_steps: int = 50
    max_steps: int = 5000
    capability_steps: int | None = None


KINDS: list[type[Event]] = [PacketStarted]
