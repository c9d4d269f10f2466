"""``vrx probe run``: the GPU capacity probe (objective_contract_v1), recorded as a vrx run.

Exit codes are the original's: 0 whenever the artifacts were written (a FAIL run included: read
PASS/FAIL from ``metrics.json``, never from the exit code); 2 for invalid arguments or spec, the
overwrite guard, or a failure to write the artifacts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from vrx_core.cli.layout_options import add_layout_options, layout_from_args
from vrx_core.cli.progress import progress_bar
from vrx_core.engine.replay import replay
from vrx_core.errors import ExitCode, UsageError, VrxError
from vrx_core.hooks.host import Commands
from vrx_core.hooks.manager import PluginSet
from vrx_core.log.rundir import RunDir

from .args import DEVICES, PRECISIONS, VARIANTS, InvalidArgs, ProbeArgs, check_args, probe_id
from .pick_batch_cli import add_pick_batch_parser

CONTRACT = "Golden Draft/docs/gpu/objective_contract_v1.md"
SCHEMA = "Golden Draft/docs/gpu/workload_schema_v1.md"
#: Files whose presence in --output-dir means a probe already wrote there (the original's guard).
GUARDED = ("env.json", "metrics.json", "summary.md")
INVALID = int(ExitCode.USAGE)
DESCRIPTION = f"""\
Train the workload for --warmup-steps, then time --measure-steps training steps and judge them
by the objective/stability contract ({CONTRACT}; workload: {SCHEMA}).
Every step is an event in DIR/events.jsonl; metrics.json, metrics.csv, env.json, run_cmd.txt and
summary.md are derived from it (vrx replay DIR rebuilds them byte for byte).
With --layout mgr, --output-dir is the layout's root and the run goes into a new directory
below it (its path is in the "artifacts:" line). --layout rvinci is refused: that layout derives
its own metrics.json.

Exit status: 0 whenever the artifacts were written, FAIL runs included (read PASS/FAIL from
metrics.json, never from the exit code); 2 for invalid arguments or workload spec
("ERROR: invalid args: ..." / "ERROR: invalid workload spec: ..."), an output directory a probe
already wrote to, or a failure to write the artifacts.
"""

EPILOG = f"""\
presets: OD1_CANON_SMALL, OD1_CANON_REAL, OD1_CANON_STRESS (case-insensitive); a JSON file; or
inline JSON. A full workload object gives its ant_spec/colony_spec; --batch and --precision
override the spec and enter the workload id. VRX_FORCE_DEVICE=cpu forces the CPU.
See {CONTRACT} and docs/gpu_probe.md.
"""


def add_probe_commands(commands: Commands) -> None:
    p = commands.add(
        "probe",
        help="GPU capacity probe: tokens/s and peak VRAM of a model shape, with PASS/FAIL gates",
        description="GPU capacity probe (objective_contract_v1). Subcommands: run (one probe), "
        "pick-batch (the batch whose VRAM ratio lands in the target band).",
        handler=lambda args: _usage(p),
    )
    sub = p.add_subparsers(dest="probe_command", metavar="SUBCOMMAND")
    r = sub.add_parser(
        "run",
        parents=commands.parents,
        help="run the probe and derive its artifacts",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_run_arguments(r)
    r.set_defaults(handler=cmd_run)
    add_pick_batch_parser(sub, commands.parents)


def _add_run_arguments(r: argparse.ArgumentParser) -> None:
    req = r.add_argument_group("required (the original's arguments)")
    req.add_argument("--ant", required=True, metavar="SPEC", help="ant spec: preset | file | inline JSON")
    req.add_argument("--colony", required=True, metavar="SPEC", help="colony spec: preset | file | JSON")
    req.add_argument("--out-dim", required=True, type=int, metavar="N", help="expert head count")
    req.add_argument("--batch", required=True, type=int, metavar="B", help="batch size (overrides the spec)")
    req.add_argument("--warmup-steps", required=True, type=int, metavar="W", help="untimed steps first")
    req.add_argument("--measure-steps", required=True, type=int, metavar="M", help="timed steps")
    req.add_argument("--precision", required=True, choices=PRECISIONS, help="autocast dtype (fp32: none)")
    req.add_argument("--amp", required=True, type=int, choices=(0, 1), help="fp32 needs 0; fp16/bf16 need 1")
    req.add_argument(
        "--output-dir", required=True, metavar="DIR",
        help="run directory for log + artifacts (with --layout: the layout's root)",
    )
    opt = r.add_argument_group("vrx options")
    opt.add_argument("--device", choices=DEVICES, default="auto", help="default auto: CUDA when available")
    opt.add_argument(
        "--variant", choices=VARIANTS, default="dense",
        help="dense (default: the original's math and memory profile) or compact (O(B*T*D) memory, "
        "opt-in; named in probe_id)",
    )
    opt.add_argument("--compile", action="store_true", help="torch.compile the model (named in probe_id)")
    opt.add_argument(
        "--model", metavar="MODULE:FACTORY",
        help="probe your own model: FACTORY(ant_spec=, colony_spec=, out_dim=) -> (model, make_batch)",
    )
    opt.add_argument(
        "--telemetry-interval", type=float, default=1.0, metavar="S",
        help="NVML GPU sample interval in seconds (default 1; 0 turns sampling off)",
    )
    dbg = r.add_argument_group("debug (watchdog self-test; the three go together)")
    dbg.add_argument("--debug-stall-after-step", type=int, default=-1, metavar="I", help="sleep after step I")
    dbg.add_argument("--debug-stall-s", type=float, default=0.0, metavar="S", help="for S seconds")
    dbg.add_argument(
        "--debug-stall-threshold-s", type=float, default=0.0, metavar="S", help="with this stall threshold"
    )
    # The environment is always recorded (env.json is derived from it): --environment changes nothing.
    add_layout_options(r)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return INVALID


def _error(message: str) -> int:
    print(f"ERROR: {message}", file=sys.stderr)
    return INVALID


def probe_args(ns: argparse.Namespace) -> ProbeArgs:
    return ProbeArgs(
        ant=ns.ant, colony=ns.colony, out_dim=ns.out_dim, batch=ns.batch, warmup_steps=ns.warmup_steps,
        measure_steps=ns.measure_steps, precision=ns.precision, amp=ns.amp, device=ns.device,
        variant=ns.variant, compile=ns.compile, model=ns.model,
        debug_stall_after_step=ns.debug_stall_after_step, debug_stall_s=ns.debug_stall_s,
        debug_stall_threshold_s=ns.debug_stall_threshold_s,
    )


def cmd_run(ns: argparse.Namespace) -> int:
    from .session import ProbePlan, record_probe

    plugins: PluginSet = ns.plugins
    a = probe_args(ns)
    try:
        check_args(a)
        factory = _platform_checks(a, ns.telemetry_interval)
        layout = layout_from_args(ns, ns.output_dir)
    except (InvalidArgs, UsageError) as exc:
        return _error(f"invalid args: {exc}")
    out_dir = Path(ns.output_dir)
    # With a layout, DIR is its root and the run gets a new directory there: nothing to guard.
    created = layout is None and not out_dir.exists()
    if layout is None and (problem := _output_dir_problem(out_dir)) is not None:
        return _error(problem)
    try:
        from ..workloads import resolve_probe_spec

        resolved, canonical, wl_id = resolve_probe_spec(a.ant, a.colony, batch=a.batch, precision=a.precision)
    except Exception as exc:  # the original: any failure to resolve the spec is exit 2
        _remove_if_empty(out_dir, created)
        # WorkloadSpecError already says what it is; the original's prefix is printed once.
        return _error(f"invalid workload spec: {str(exc).removeprefix('invalid workload spec: ')}")
    argv = list(ns.argv)
    plan = ProbePlan(a, argv, resolved, canonical, wl_id, probe_id(wl_id, a), factory)
    total = a.warmup_steps + a.measure_steps
    with progress_bar(f"probe {plan.probe_id}", total, unit="steps") as update:
        try:
            run_dir = record_probe(
                plan, None if layout else out_dir, layout=layout, config=ns.config,
                registry=plugins.registry, derive=lambda d: _derive(d, plugins),
                telemetry=_telemetry(ns.telemetry_interval), progress=update,
            )
        except (VrxError, OSError) as exc:
            _remove_if_empty(out_dir, created)  # e.g. a --config that cannot be resolved
            return _error(f"cannot record the probe in {out_dir}: {exc}")
    try:
        _derive(run_dir, plugins)
    except (OSError, VrxError) as exc:
        return _error(f"failed to write artifacts: {exc}")
    _report(run_dir)
    return int(ExitCode.OK)


def _platform_checks(a: ProbeArgs, telemetry_interval: float) -> Any:
    """What can only be checked here: the device, torch.compile, the --model factory."""
    if telemetry_interval < 0:
        raise InvalidArgs("--telemetry-interval must be >= 0")
    if a.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise InvalidArgs("--device cuda: CUDA is not available here (use --device auto or cpu)")
    if a.compile:
        from ..workloads.ring import compile_problem

        if (problem := compile_problem()) is not None:
            raise InvalidArgs(f"--compile is not supported here: {problem}")
    if a.model is None:
        return None
    from .workload import load_factory

    return load_factory(a.model)


def _remove_if_empty(out_dir: Path, created: bool) -> None:
    """A refused run leaves nothing behind: not even the directory it just made."""
    if created:
        with contextlib.suppress(OSError):
            out_dir.rmdir()


def _output_dir_problem(out_dir: Path) -> str | None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create output dir: {exc}"
    for name in GUARDED:
        if (out_dir / name).exists():
            return f"overwrite guard: {name} already exists in output dir"
    if RunDir(out_dir).log.exists():
        return f"overwrite guard: {RunDir(out_dir).log.name} already exists in output dir"
    return None


def _telemetry(interval_s: float) -> Any:
    if interval_s <= 0:
        return None
    from ..telemetry.sampler import GpuSampler

    def start(rec: Any) -> Any:
        sampler = GpuSampler(rec, interval_s=interval_s)
        sampler.start()
        return sampler

    return start


def _derive(out_dir: Path, plugins: PluginSet) -> None:
    replay(out_dir, plugins)


def _report(out_dir: Path) -> None:
    metrics = json.loads((out_dir / "metrics.json").read_text())
    status = "PASS" if metrics.get("stability_pass") else "FAIL"
    reasons = ", ".join(metrics.get("fail_reasons") or []) or "(none)"
    tps = metrics.get("throughput_tokens_per_s")
    rate = f"{tps:,.0f} tokens/s" if isinstance(tps, int | float) else "no throughput"
    print(f"{status} {metrics.get('probe_id')}: {rate}; fail_reasons: {reasons}")
    files = "{metrics.json,metrics.csv,env.json,run_cmd.txt,summary.md}"
    print(f"artifacts: {shlex.quote(str(out_dir))}/{files}")
