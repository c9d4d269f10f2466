"""How a sweep runs a configuration's commands: ``vrx probe run``, ``vrx assoc run``, ``vrx packet``.

Each is a subprocess (``python -m vrx_core ...``) with a timeout, as the original ran its tools:
an OOM, a crash or a hung kernel ends the child, never the sweep. The runner only runs commands
and reports how they exited; what the outcome was is read from the artifacts by ``sweep_stages``.

A runner is anything with the three methods of :class:`SweepRunner`. ``vrx sweep --runner
MODULE:FACTORY`` (hidden; for tests) swaps in ``FACTORY(settings)``, a stand-in that writes fake
artifacts, so the sweep's own logic is tested in seconds.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .sweep_plan import SweepConfig, SweepSettings

#: The exit status recorded for a command killed at its timeout (GNU timeout's).
TIMEOUT_RC = 124


@dataclass(frozen=True)
class StageRun:
    """How one command ended: its exit status (124 when killed at the timeout)."""

    rc: int
    timed_out: bool = False


class SweepRunner(Protocol):
    def probe(self, cfg: SweepConfig, out_dir: Path, log: Path) -> StageRun:
        """Run the probe of ``cfg`` into ``out_dir`` (metrics.json, env.json, run_cmd.txt)."""
        ...

    def assoc(self, cfg: SweepConfig, out_dir: Path, log: Path) -> StageRun:
        """Train and evaluate the capability run of ``cfg`` into ``out_dir`` (report.json)."""
        ...

    def packet(
        self, cfg: SweepConfig, probe_root: Path, assoc_root: Path, out_file: Path, log: Path
    ) -> StageRun:
        """Join the two run roots into the ``ant_ratio_packet_v0`` JSON file ``out_file``."""
        ...


def vrx_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "vrx_core", *args]


def probe_argv(s: SweepSettings, cfg: SweepConfig, out_dir: Path) -> list[str]:
    return vrx_argv(
        "probe", "run", "--ant", cfg.ant_preset, "--colony", s.probe_colony,
        "--out-dim", str(cfg.expert_heads), "--batch", str(cfg.batch),
        "--warmup-steps", str(s.probe_warmup_steps), "--measure-steps", str(s.probe_measure_steps),
        "--precision", s.probe_precision, "--amp", str(s.probe_amp), "--output-dir", str(out_dir),
        "--device", s.probe_device, "--telemetry-interval", str(s.probe_telemetry_interval),
    )


def assoc_argv(s: SweepSettings, cfg: SweepConfig, out_dir: Path) -> list[str]:
    # The sweep computes the steps from the token budget itself (as the original did) and passes
    # them to the packet as --capability-steps, so the two always agree. --sweep-defaults covers
    # what the sweep does not set (the eval batch is the training batch, as in the original).
    split = "--disjoint" if s.cap_force_disjoint else "--subset"
    return vrx_argv(
        "assoc", "run", "--sweep-defaults", "--output-dir", str(out_dir), "--ant", cfg.ant_preset,
        "--out-dim", str(cfg.expert_heads), "--batch", str(cfg.batch), "--precision", s.cap_precision,
        "--steps", str(cfg.steps), "--seq-len", str(s.cap_synth_len), "--keys", str(s.cap_assoc_keys),
        "--pairs", str(s.cap_assoc_pairs), "--val-range", str(s.cap_assoc_val_range),
        "--eval-samples", str(s.cap_eval_samples), "--eval-seed-offset", str(s.cap_eval_seed_offset),
        "--max-samples", str(s.cap_max_samples), "--ptr-dtype", s.cap_ptr_dtype,
        "--seed", str(s.cap_seed), "--device", s.cap_device, split,
    )


def packet_argv(
    s: SweepSettings, cfg: SweepConfig, probe_root: Path, assoc_root: Path, out_file: Path
) -> list[str]:
    # The packet run (vrx packet records one) goes beside the packet, not into the working directory.
    return vrx_argv(
        "packet", "--probe-run-root", str(probe_root), "--assoc-run-root", str(assoc_root),
        "--out", str(out_file), "--run-dir", str(out_file.with_name("packet-run")),
        "--ant-tier", cfg.tier, "--token-budget", str(s.token_budget),
        "--min-steps", str(s.min_steps), "--max-steps", str(s.max_steps),
        "--capability-steps", str(cfg.steps),
    )


def run_command(argv: list[str], timeout_s: float, log: Path) -> StageRun:
    """Run ``argv`` with its output in ``log``; kill it after ``timeout_s`` seconds (0: no limit)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        try:
            timeout = timeout_s if timeout_s > 0 else None
            done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return StageRun(TIMEOUT_RC, timed_out=True)
    return StageRun(done.returncode)


class SubprocessRunner:
    """The real runner: each command a ``python -m vrx_core`` child with its own timeout."""

    def __init__(self, settings: SweepSettings) -> None:
        self.s = settings

    def probe(self, cfg: SweepConfig, out_dir: Path, log: Path) -> StageRun:
        return run_command(probe_argv(self.s, cfg, out_dir), self.s.probe_timeout_s, log)

    def assoc(self, cfg: SweepConfig, out_dir: Path, log: Path) -> StageRun:
        return run_command(assoc_argv(self.s, cfg, out_dir), self.s.cap_timeout_s, log)

    def packet(
        self, cfg: SweepConfig, probe_root: Path, assoc_root: Path, out_file: Path, log: Path
    ) -> StageRun:
        argv = packet_argv(self.s, cfg, probe_root, assoc_root, out_file)
        return run_command(argv, self.s.packet_timeout_s, log)


def load_runner(ref: str | None, settings: SweepSettings) -> SweepRunner:
    """The runner ``MODULE:FACTORY`` names (``FACTORY(settings)``), or the subprocess runner."""
    if not ref:
        return SubprocessRunner(settings)
    module, _, name = ref.partition(":")
    if not module or not name:
        raise ValueError(f"--runner must be MODULE:FACTORY, got {ref!r}")
    try:
        factory = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"--runner {ref}: {exc}") from None
    runner: SweepRunner = factory(settings)
    return runner
