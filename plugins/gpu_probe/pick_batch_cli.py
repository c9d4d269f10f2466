"""``vrx probe pick-batch``: per (ant tier, expert heads), the batch that fills the GPU to the target.

Each probe is a real ``vrx probe run`` in a subprocess (an OOM or a crash stays in the child) into
its own run root under ``--out-root``; PASS/FAIL and the ratio are read from its artifacts, never
from its exit code. The search itself is :mod:`.pick_batch`. Without a GPU there is no
reserved-VRAM ratio to aim at, so the command says so and exits 69 before probing anything.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vrx_core.errors import ExitCode
from vrx_core.log.atomic import atomic_write

from ..workloads.contract import is_probe_pass
from .args import PRECISIONS
from .pick_batch import (
    Band,
    PickBatchError,
    PickResult,
    ProbeOutcome,
    failed_pick,
    pick_batch,
    target_row,
    targets_document,
)

TIER_PRESETS = {"small": "OD1_CANON_SMALL", "real": "OD1_CANON_REAL", "stress": "OD1_CANON_STRESS"}
TARGETS_FILE = "ant_ratio_batch_targets_v0.json"
NO_GPU = int(ExitCode.UNAVAILABLE)
USAGE = int(ExitCode.USAGE)

DESCRIPTION = """\
For every ant tier x expert heads, find the batch whose peak reserved VRAM / total VRAM lands in
the accept band (default target 0.85, band [0.82, 0.88]) while the probe PASSes: probe B=1, double
while below the band, bracket, then bisect with at most 6 more probes (--max-calls in all). A ratio
that drops as the batch grows stops the refinement (note "non_monotonic_ratio_detected; abort
refinement"). Each probe is `vrx probe run` in a subprocess, into OUT_ROOT/runs/<tier>_E<heads>/.
Writes ant_ratio_batch_targets_v0.json (the input of `vrx sweep --batch-targets`) after every
configuration.

Exit status: 0 when the file was written (unusable rows included); 2 usage; 69 no GPU here
(VRX_FORCE_DEVICE=cpu, or CUDA not available): there is no VRAM ratio without one.
"""


def add_pick_batch_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``pick-batch`` to the ``vrx probe`` subcommands."""
    p = sub.add_parser(
        "pick-batch",
        parents=parents,
        help="pick the batch that fills the GPU to a target reserved-VRAM ratio (needs a GPU)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    grid = p.add_argument_group("configurations")
    grid.add_argument("--ant-tiers", default="small,real,stress", metavar="T,...", help="small, real, stress")
    grid.add_argument("--expert-heads", default="1,2,4,8,16", metavar="N,...", help="out-dim values")
    grid.add_argument("--colony", default="OD1_CANON_REAL", metavar="SPEC", help="preset | file | JSON")
    grid.add_argument("--precision", default="fp16", choices=PRECISIONS)
    grid.add_argument("--amp", type=int, default=1, choices=(0, 1))
    grid.add_argument("--warmup-steps", type=int, default=5, metavar="W")
    grid.add_argument("--measure-steps", type=int, default=50, metavar="M")
    search = p.add_argument_group("search")
    search.add_argument("--target", type=float, default=0.85, help="target reserved-VRAM ratio")
    search.add_argument("--accept-low", type=float, default=0.82, help="accept band, low end")
    search.add_argument("--accept-high", type=float, default=0.88, help="accept band, high end")
    search.add_argument("--max-calls", type=int, default=10, help="probe runs per configuration, at most")
    out = p.add_argument_group("output")
    out.add_argument("--out-root", metavar="DIR", help="probe run roots (default runs/pick-batch-<UTC time>)")
    out.add_argument("--out", metavar="FILE", help=f"the targets file (default OUT_ROOT/{TARGETS_FILE})")
    out.add_argument("--probe-timeout-s", type=float, default=900.0, metavar="S", help="per probe; 0: none")
    out.add_argument("--telemetry-interval", type=float, default=1.0, metavar="S", help="passed to the probe")
    p.set_defaults(handler=cmd_pick_batch)


@dataclass(frozen=True)
class ProbeSettings:
    """What every probe of one pick-batch command shares."""

    colony: str
    precision: str
    amp: int
    warmup_steps: int
    measure_steps: int
    timeout_s: float
    telemetry_interval: float


def cmd_pick_batch(ns: argparse.Namespace) -> int:
    try:
        tiers, heads, band = _check(ns)
    except ValueError as exc:
        print(f"ERROR: invalid args: {exc}", file=sys.stderr)
        return USAGE
    if (problem := gpu_problem()) is not None:
        print(
            f"vrx probe pick-batch: no GPU here ({problem}): there is no reserved-VRAM ratio without "
            "one, so no batch can be picked (run it on a machine with CUDA)",
            file=sys.stderr,
        )
        return NO_GPU
    out_root = Path(ns.out_root or f"runs/pick-batch-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}")
    out_file = Path(ns.out) if ns.out else out_root / TARGETS_FILE
    settings = ProbeSettings(
        colony=ns.colony, precision=ns.precision, amp=ns.amp, warmup_steps=ns.warmup_steps,
        measure_steps=ns.measure_steps, timeout_s=ns.probe_timeout_s,
        telemetry_interval=ns.telemetry_interval,
    )
    pick_all(tiers, heads, band, settings, out_root=out_root, out_file=out_file, max_calls=ns.max_calls)
    print(f"wrote: {shlex.quote(str(out_file))}")
    return int(ExitCode.OK)


def _check(ns: argparse.Namespace) -> tuple[list[str], list[int], Band]:
    tiers = [t.strip().lower() for t in ns.ant_tiers.split(",") if t.strip()]
    unknown = [t for t in tiers if t not in TIER_PRESETS]
    if unknown or not tiers:
        raise ValueError(f"--ant-tiers: unknown tier(s) {unknown} (expected small,real,stress)")
    try:
        heads = [int(h) for h in ns.expert_heads.split(",") if h.strip()]
    except ValueError:
        raise ValueError(f"--expert-heads: comma-separated integers, not {ns.expert_heads!r}") from None
    if not heads or min(heads) < 1:
        raise ValueError("--expert-heads must be integers >= 1")
    band = Band(target=ns.target, low=ns.accept_low, high=ns.accept_high)
    if not 0.0 < band.low <= band.target <= band.high:
        raise ValueError("the band must satisfy 0 < --accept-low <= --target <= --accept-high")
    if ns.max_calls < 1:
        raise ValueError("--max-calls must be >= 1")
    if ns.amp != (0 if ns.precision == "fp32" else 1):
        raise ValueError("fp32 needs --amp 0; fp16/bf16 need --amp 1")
    return tiers, heads, band


def gpu_problem() -> str | None:
    """Why no VRAM ratio can be measured here, or None when a CUDA device is usable."""
    if os.environ.get("VRX_FORCE_DEVICE", "").strip().lower() == "cpu":
        return "VRX_FORCE_DEVICE=cpu"
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    return None if bool(torch.cuda.is_available()) else "CUDA is not available"


Prober = Callable[[str, int, Path], Callable[[int], ProbeOutcome]]


def pick_all(
    tiers: list[str],
    heads: list[int],
    band: Band,
    settings: ProbeSettings,
    *,
    out_root: Path,
    out_file: Path,
    max_calls: int,
    prober: Prober | None = None,
) -> dict[str, Any]:
    """Search every configuration, rewriting ``out_file`` after each; returns the document.

    ``prober(tier, heads, runs_dir)`` gives the probe function of one configuration (default:
    ``vrx probe run`` subprocesses); tests pass a stand-in.
    """
    make = prober or (lambda tier, eh, runs: subprocess_prober(settings, tier, eh, runs))
    rows: list[dict[str, Any]] = []
    doc: dict[str, Any] = {}
    for tier in tiers:
        for eh in heads:
            result = _search(make(tier, eh, out_root / "runs" / f"{tier}_E{eh}"), band, max_calls)
            _progress(tier, eh, result)
            rows.append(
                target_row(
                    ant_tier=tier, colony=settings.colony, expert_heads=eh, precision=settings.precision,
                    amp=settings.amp, band=band, result=result,
                )
            )
            doc = targets_document(rows, out_root=str(out_root), generated_utc=_utc_now())
            # Rewritten after each configuration, so an interrupted pick keeps what it found.
            atomic_write(out_file, _stable_json(doc))
    return doc


def _search(probe: Callable[[int], ProbeOutcome], band: Band, max_calls: int) -> PickResult:
    try:
        return pick_batch(probe, band, max_calls=max_calls)
    except (PickBatchError, OSError) as exc:
        return failed_pick(exc)


def _progress(tier: str, eh: int, r: PickResult) -> None:
    calls = len(r.observations)
    if r.chosen_batch is not None and r.chosen_ratio is not None:
        what = f"B={r.chosen_batch} ratio {r.chosen_ratio:.3f}"
    else:
        what = "no batch"
    flag = " (unusable)" if r.unusable else ""
    notes = f"; {'; '.join(r.notes)}" if r.notes else ""
    print(f"[pick-batch {tier} E{eh}] {what}{flag} after {calls} probe(s){notes}", file=sys.stderr)


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _stable_json(doc: dict[str, Any]) -> bytes:
    # The original's bytes: sort_keys, indent 2, ASCII, trailing newline.
    return (json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=True) + "\n").encode("ascii")


# -- one probe: `vrx probe run` in a subprocess ------------------------------------------------


def subprocess_prober(
    settings: ProbeSettings, tier: str, eh: int, runs_dir: Path
) -> Callable[[int], ProbeOutcome]:
    colony_tag = _colony_tag(settings.colony)

    def probe(batch: int) -> ProbeOutcome:
        name = f"{tier}_x_{colony_tag}_E{eh}_B{batch:04d}_{settings.precision}_amp{settings.amp}"
        run_dir = runs_dir / f"{name}_ms{settings.measure_steps}"
        return run_probe(settings, TIER_PRESETS[tier], eh, batch, run_dir)

    return probe


def _colony_tag(colony: str) -> str:
    for tier, preset in TIER_PRESETS.items():
        if colony.strip().upper() == preset:
            return tier
    return "custom"


def run_probe(settings: ProbeSettings, ant: str, eh: int, batch: int, run_dir: Path) -> ProbeOutcome:
    """Run one probe into ``run_dir`` (or read the one already finished there) and read its outcome."""
    if not _finished(run_dir):
        _set_aside(run_dir)
        _run_subprocess(settings, ant, eh, batch, run_dir)
    return read_outcome(run_dir, batch)


def _finished(run_dir: Path) -> bool:
    # A rerun with the same --out-root reads what an earlier pick already measured.
    return (run_dir / "metrics.json").is_file() and (run_dir / "env.json").is_file()


def _set_aside(run_dir: Path) -> None:
    """Keep the remains of an interrupted probe beside it: the probe refuses a used directory."""
    if not run_dir.exists():
        return
    n = 1
    while (aside := run_dir.with_name(f"{run_dir.name}.interrupted-{n}")).exists():
        n += 1
    run_dir.rename(aside)


def probe_argv(settings: ProbeSettings, ant: str, eh: int, batch: int, run_dir: Path) -> list[str]:
    return [
        sys.executable, "-m", "vrx_core", "probe", "run", "--ant", ant, "--colony", settings.colony,
        "--out-dim", str(eh), "--batch", str(batch), "--warmup-steps", str(settings.warmup_steps),
        "--measure-steps", str(settings.measure_steps), "--precision", settings.precision,
        "--amp", str(settings.amp), "--output-dir", str(run_dir),
        "--telemetry-interval", str(settings.telemetry_interval),
    ]


def _run_subprocess(settings: ProbeSettings, ant: str, eh: int, batch: int, run_dir: Path) -> None:
    log = run_dir.with_name(run_dir.name + ".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    timeout = settings.timeout_s if settings.timeout_s > 0 else None
    with log.open("wb") as out:
        try:
            rc = subprocess.run(
                probe_argv(settings, ant, eh, batch, run_dir), stdout=out, stderr=subprocess.STDOUT,
                timeout=timeout, check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            raise PickBatchError(f"probe timeout after {settings.timeout_s:g}s: out_dir={run_dir}") from None
    # Never PASS/FAIL from the exit code; 2 is the probe refusing to run at all.
    if rc == 2:
        raise PickBatchError(f"probe harness rc=2 (invalid args or cannot write): out_dir={run_dir}")


def read_outcome(run_dir: Path, batch: int) -> ProbeOutcome:
    """PASS (the combined rule) and peak reserved / total VRAM from a probe run's artifacts."""
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
        env = json.loads((run_dir / "env.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise PickBatchError(f"probe artifacts missing under out_dir={run_dir}") from None
    return ProbeOutcome(
        pass_=is_probe_pass(metrics),
        ratio=vram_ratio(metrics.get("peak_vram_reserved_bytes"), env.get("total_vram_bytes")),
        run_root=str(run_dir),
        batch=batch,
        fail_reasons=tuple(metrics.get("fail_reasons") or ()),
    )


def vram_ratio(reserved: Any, total: Any) -> float | None:
    ok = type(reserved) is int and type(total) is int and total > 0
    return float(reserved) / float(total) if ok else None
