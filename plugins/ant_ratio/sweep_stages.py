"""One configuration of a sweep: probe -> assoc -> packet, judged from the artifacts, never from rc.

The original's rules (``ant_ratio_sweep_v0.py``, "artifact truth"):

- probe: exit 2 is the probe refusing to run (an error); otherwise ``metrics.json`` decides, so a
  FAIL probe still goes on to the assoc run and its packet records ``stability_pass: false``;
- assoc: a ``report.json`` means done, whatever the exit status (kept as ``cap_train_rc``; 124
  after a timeout); none after a clean exit is retried once (``--cap-retry-once``);
- packet: the ``ant_ratio_packet_v0`` file must be there and parse.

Anything else is an ``error`` outcome with its reasons: a row, not a crash.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..workloads.contract import is_probe_pass
from .sweep_events import Status
from .sweep_plan import SweepConfig, SweepSettings
from .sweep_runner import StageRun, SweepRunner

PROBE, ASSOC, PACKET = "probe", "assoc", "packet"


class StageError(Exception):
    """A stage left no usable artifact: the configuration's outcome is ``error``."""


@dataclass(frozen=True)
class ConfigPaths:
    """Where one configuration's commands write, under ``<run-dir>/configs/<config_id>/``.

    The assoc run root names its seed (``assoc-seed123``): published rows keep only that number.
    """

    root: Path
    seed: int

    @property
    def probe(self) -> Path:
        return self.root / "probe"

    @property
    def assoc(self) -> Path:
        return self.root / f"assoc-seed{self.seed}"

    @property
    def packet(self) -> Path:
        return self.root / "packet.json"

    def log(self, stage: str) -> Path:
        return self.root / f"{stage}.log"


@dataclass
class Outcome:
    """What a configuration produced: the fields of its ``sweep.config_result``."""

    status: Status = "ok"
    reasons: list[str] = field(default_factory=list)
    probe_pass: bool | None = None
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    packet: dict[str, Any] | None = None


def run_config(runner: SweepRunner, settings: SweepSettings, cfg: SweepConfig, paths: ConfigPaths) -> Outcome:
    """Run the three stages of ``cfg``; every failure, expected or not, becomes an ``error`` outcome."""
    out = Outcome()
    try:
        paths.root.mkdir(parents=True, exist_ok=True)
        out.probe_pass = _probe(runner, cfg, paths, out)
        assoc_rc = _assoc(runner, settings, cfg, paths, out)
        out.packet = _packet(runner, cfg, paths, out)
        # The sweep's additions to each packet line (ORIGINS 2.5).
        out.packet.update(
            cap_train_rc=assoc_rc, cap_train_nonzero_rc=assoc_rc != 0, cap_eval_device=settings.cap_device
        )
    except StageError as exc:
        out.status, out.reasons = "error", [str(exc), *_log_tail(paths, out)]
    except Exception as exc:  # a runner that raises (a stand-in, a full disk) is a row too
        out.status, out.reasons = "error", [f"{type(exc).__name__}: {exc}", *_log_tail(paths, out)]
    return out


def _timed(out: Outcome, stage: str, call: Callable[[], StageRun]) -> StageRun:
    """Run one command, adding its rc, timeout flag and wall time to the outcome's ``stages``."""
    start = time.monotonic()
    ran = call()
    seconds = round(time.monotonic() - start, 3)
    prev = out.stages.get(stage)
    attempts = prev["attempts"] + 1 if prev else 1
    seconds = round(seconds + (prev["seconds"] if prev else 0.0), 3)
    out.stages[stage] = {"rc": ran.rc, "timed_out": ran.timed_out, "seconds": seconds, "attempts": attempts}
    return ran


def _probe(runner: SweepRunner, cfg: SweepConfig, paths: ConfigPaths, out: Outcome) -> bool:
    ran = _timed(out, PROBE, lambda: runner.probe(cfg, paths.probe, paths.log(PROBE)))
    if ran.rc == 2 and not ran.timed_out:
        raise StageError(f"probe harness rc=2 (invalid args or cannot write): out_dir={paths.probe}")
    metrics = _read_json(paths.probe / "metrics.json")
    if metrics is None:
        if ran.timed_out:
            raise StageError(f"probe timeout after {_seconds(out, PROBE)}: out_dir={paths.probe}")
        raise StageError(f"probe metrics missing: {paths.probe / 'metrics.json'}")
    return is_probe_pass(metrics)


def _assoc(
    runner: SweepRunner, settings: SweepSettings, cfg: SweepConfig, paths: ConfigPaths, out: Outcome
) -> int:
    """The assoc run's exit status once its ``report.json`` exists."""
    report = paths.assoc / "report.json"
    ran = _timed(out, ASSOC, lambda: runner.assoc(cfg, paths.assoc, paths.log(ASSOC)))
    if not report.is_file() and ran.rc == 0 and settings.cap_retry_once:
        # A clean exit without its report (the original saw evals vanish): once more, in a fresh dir.
        set_aside(paths.assoc, "attempt")
        ran = _timed(out, ASSOC, lambda: runner.assoc(cfg, paths.assoc, paths.log(ASSOC)))
    if report.is_file():
        return ran.rc
    if ran.timed_out:
        raise StageError(f"assoc timeout after {_seconds(out, ASSOC)} (run_root={paths.assoc})")
    if ran.rc != 0:
        raise StageError(f"assoc rc={ran.rc} (run_root={paths.assoc})")
    raise StageError(f"missing report.json after assoc run: {report}")


def _packet(runner: SweepRunner, cfg: SweepConfig, paths: ConfigPaths, out: Outcome) -> dict[str, Any]:
    ran = _timed(
        out, PACKET, lambda: runner.packet(cfg, paths.probe, paths.assoc, paths.packet, paths.log(PACKET))
    )
    packet = _read_json(paths.packet)
    if packet is None:
        what = "timeout" if ran.timed_out else f"rc={ran.rc}"
        raise StageError(f"packet {what}: no packet in {paths.packet}")
    cleaned: dict[str, Any] = finite(packet)
    return cleaned


def _seconds(out: Outcome, stage: str) -> str:
    return f"{out.stages[stage]['seconds']:.0f}s"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _log_tail(paths: ConfigPaths, out: Outcome) -> list[str]:
    """The last line the failing command printed (its ``ERROR: ...``), as a second reason."""
    if not out.stages:
        return []
    stage = list(out.stages)[-1]
    try:
        lines = paths.log(stage).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    last = next((ln.strip() for ln in reversed(lines) if ln.strip()), "")
    return [f"{stage} output: {last[:500]}"] if last else []


def finite(value: Any) -> Any:
    """``value`` with NaN/Inf as None: the log takes non-finite floats only in top-level fields."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def set_aside(path: Path, why: str) -> Path | None:
    """Move ``path`` to ``<path>.<why>-<n>`` (the first free n); None when there was nothing."""
    if not path.exists():
        return None
    n = 1
    while (aside := path.with_name(f"{path.name}.{why}-{n}")).exists():
        n += 1
    path.rename(aside)
    return aside
