"""A stand-in for the three commands of a sweep configuration, and the plugin set the tests replay with.

``StandIn`` writes the artifacts the real commands would (probe metrics/env/run_cmd, assoc
report.json, a packet file) in microseconds, and can fail, time out or block on purpose.
``vrx sweep --runner sweep_standin:factory`` selects it in a subprocess; the factory reads:

- ``SWEEP_STANDIN_CALLS``: a file each stage appends ``<stage> <config_id>`` to;
- ``SWEEP_STANDIN_BLOCK``: a config id whose probe blocks forever (after touching
  ``<calls>.blocked``), for the kill test;
- ``SWEEP_STANDIN_FAIL``: JSON ``{config_id: mode}`` (see ``StandIn.fail``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from vrx_core.hooks.manager import PluginSet
from vrx_core.testing import make_plugins
from vrx_plugins import ant_ratio
from vrx_plugins.ant_ratio.sweep_plan import SweepConfig, SweepSettings
from vrx_plugins.ant_ratio.sweep_runner import StageRun

SHAPES = {"small": (2048, 256), "real": (8192, 576), "stress": (16384, 768)}


class StandIn:
    """Fake artifacts per stage. ``fail`` maps a config id to a mode:

    ``probe_rc2`` (the probe refuses), ``probe_fail`` (a FAIL probe: OOM), ``assoc_rc1`` (no report,
    rc 1), ``assoc_rc1_report`` (rc 1 but a report), ``assoc_timeout_report``, ``assoc_flaky`` (the
    first attempt exits 0 without a report), ``packet_missing``, ``raise`` (the runner raises).
    """

    def __init__(
        self, settings: SweepSettings, *, fail: dict[str, str] | None = None, calls: Path | None = None,
        block: str | None = None, on_probe: Any = None,
    ) -> None:  # fmt: skip
        self.s = settings
        self.fail = fail or {}
        self.calls = calls
        self.block = block
        self.on_probe = on_probe
        self.assoc_attempts: dict[str, int] = {}

    def _note(self, stage: str, cfg: SweepConfig) -> None:
        if self.calls is not None:
            with self.calls.open("a") as f:
                f.write(f"{stage} {cfg.config_id}\n")

    def probe(self, cfg: SweepConfig, out_dir: Path, log: Path) -> StageRun:
        self._note("probe", cfg)
        if self.on_probe is not None:
            self.on_probe(cfg)
        if cfg.config_id == self.block:
            assert self.calls is not None
            Path(f"{self.calls}.blocked").touch()
            while True:  # until the test kills the sweep
                time.sleep(0.1)
        mode = self.fail.get(cfg.config_id)
        if mode == "raise":
            raise RuntimeError("stand-in exploded")
        if mode == "probe_rc2":
            log.write_text("ERROR: invalid args: stand-in refuses\n")
            return StageRun(2)
        out_dir.mkdir(parents=True)
        ok = mode != "probe_fail"
        ring, slot = SHAPES[cfg.tier]
        metrics = {
            "batch_size": cfg.batch, "seq_len": 256, "out_dim": cfg.expert_heads, "precision": "fp16",
            "amp": 1,
            "throughput_tokens_per_s": 1000.0 * cfg.batch, "throughput_samples_per_s": 4.0 * cfg.batch,
            "peak_vram_reserved_bytes": 80 + cfg.batch, "stability_pass": ok, "had_oom": not ok,
            "had_nan": False, "had_inf": False, "fail_reasons": [] if ok else ["runtime_exception", "oom"],
            "workload_id": "wl_v1_standin", "probe_id": f"wl_v1_standin__E{cfg.expert_heads}__fp16_amp1",
        }  # fmt: skip
        (out_dir / "metrics.json").write_text(json.dumps(metrics))
        (out_dir / "env.json").write_text(json.dumps({"total_vram_bytes": 100}))
        run_cmd = {"canonical_spec": {"ant_spec": {"ring_len": ring, "slot_dim": slot}}}
        (out_dir / "run_cmd.txt").write_text(json.dumps(run_cmd))
        return StageRun(0)

    def assoc(self, cfg: SweepConfig, out_dir: Path, log: Path) -> StageRun:
        self._note("assoc", cfg)
        n = self.assoc_attempts[cfg.config_id] = self.assoc_attempts.get(cfg.config_id, 0) + 1
        mode = self.fail.get(cfg.config_id)
        out_dir.mkdir(parents=True)
        if mode == "assoc_rc1":
            log.write_text("Traceback ...\nRuntimeError: stand-in training diverged\n")
            return StageRun(1)
        if mode == "assoc_flaky" and n == 1:
            return StageRun(0)
        acc = 0.5 / cfg.expert_heads
        report = {"settings": {"eval_disjoint": True}, "eval": {"eval_acc": acc, "eval_n": 4096}}
        (out_dir / "report.json").write_text(json.dumps(report))
        if mode == "assoc_rc1_report":
            return StageRun(1)
        if mode == "assoc_timeout_report":
            return StageRun(124, timed_out=True)
        return StageRun(0)

    def packet(
        self, cfg: SweepConfig, probe_root: Path, assoc_root: Path, out_file: Path, log: Path
    ) -> StageRun:
        self._note("packet", cfg)
        if self.fail.get(cfg.config_id) == "packet_missing":
            log.write_text("ERROR: report.json: not JSON\n")
            return StageRun(2)
        metrics = json.loads((probe_root / "metrics.json").read_text())
        report = json.loads((assoc_root / "report.json").read_text())
        ring, slot = SHAPES[cfg.tier]
        packet = {
            "schema_version": "ant_ratio_packet_v0", "generated_utc": "2026-02-07T00:00:00Z",
            "git_commit": None,
            "ant_tier": cfg.tier, "ant_ring_len": ring, "ant_slot_dim": slot, "ant_body_cells": ring * slot,
            "ant_body_scale_vs_small": ring * slot / (2048 * 256), "expert_heads": cfg.expert_heads,
            "batch_size": cfg.batch, "seq_len": 256, "precision": "fp16", "amp": 1,
            "vram_ratio_reserved": metrics["peak_vram_reserved_bytes"] / 100,
            "throughput_tokens_per_s": metrics["throughput_tokens_per_s"],
            "assoc_byte_disjoint_accuracy": report["eval"]["eval_acc"], "assoc_eval_disjoint": True,
            "assoc_eval_n": report["eval"]["eval_n"], "token_budget": self.s.token_budget,
            "token_budget_steps": cfg.steps, "stability_pass": metrics["stability_pass"],
            "fail_reasons": metrics["fail_reasons"], "had_oom": metrics["had_oom"], "had_nan": False,
            "had_inf": False, "probe_run_root": str(probe_root), "assoc_run_root": str(assoc_root),
        }  # fmt: skip
        out_file.write_text(json.dumps(packet, sort_keys=True, indent=2) + "\n")
        return StageRun(0)


def factory(settings: SweepSettings) -> StandIn:
    """``--runner sweep_standin:factory``: the stand-in, configured from the environment."""
    calls = os.environ.get("SWEEP_STANDIN_CALLS")
    fail = json.loads(os.environ.get("SWEEP_STANDIN_FAIL") or "{}")
    block = os.environ.get("SWEEP_STANDIN_BLOCK") or None
    return StandIn(settings, fail=fail, calls=Path(calls) if calls else None, block=block)


# -- the plugin set --------------------------------------------------------------------------------


def sweep_plugins() -> PluginSet:
    """The ant_ratio plugin alone: the sweep's kinds, its commands and its deriver."""
    return make_plugins(ant_ratio)
