"""``vrx sweep``: tiers x expert heads, each a probe run, an assoc run and a packet, resumable.

Every default is the original's (``ant_ratio_sweep_v0.py``, ORIGINS 2.6) and every one is a flag.
Exit status: 0 when every configuration has an outcome (error rows included: failures are rows,
not crashes); 2 usage (no batch, an unreadable targets file, a run directory holding another run
or a sweep with other settings); 75 the sweep is running elsewhere; 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from vrx_core.errors import ExitCode
from vrx_core.hooks.host import Commands

from .sweep_plan import TIER_PRESETS, PlanError, SweepConfig, SweepSettings, load_targets, plan

USAGE = int(ExitCode.USAGE)

DESCRIPTION = """\
Run every configuration (ant tier x expert heads, with a batch from --batch-targets or --batch):
`vrx probe run` (cost), `vrx assoc run` (capability, a fixed token budget), `vrx packet` (the
joined ant_ratio_packet_v0), each a subprocess with a timeout. The sweep is a vrx run in --run-dir:
each configuration's outcome (ok, or error with its reasons) is an event, and the outputs are
derived from the log after every configuration: ant_ratio_packets.jsonl, ant_ratio_summary.csv,
sweep_failures.json, sweep_meta.json, sweep_summary.md. Run it again with the same --run-dir to
resume: finished configurations are skipped, an interrupted one is run again.

Exit status: 0 every configuration has an outcome (error rows included); 2 usage, or a --run-dir
holding another run or a sweep with other settings; 75 the sweep is running elsewhere; 130
interrupted (rerun to resume).
"""

_D = SweepSettings()


def add_sweep_commands(commands: Commands) -> None:
    """Add ``vrx sweep``."""
    p = commands.add("sweep", help="ant-ratio sweep: probe + assoc + packet per configuration, resumable",
                     handler=cmd_sweep)
    p.description = DESCRIPTION
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--run-dir", required=True, metavar="DIR", help="the sweep's run: new, or one to resume")
    p.add_argument("--dry-run", action="store_true", help="list the configurations; run nothing")
    p.add_argument("--runner", metavar="MODULE:FACTORY", help=argparse.SUPPRESS)  # tests: a stand-in runner
    _add_plan_arguments(p.add_argument_group("configurations"))
    _add_probe_arguments(p.add_argument_group("probe track (vrx probe run)"))
    _add_cap_arguments(p.add_argument_group("capability track (vrx assoc run)"))
    _add_budget_arguments(p.add_argument_group("fairness and timeouts"))


def _add_plan_arguments(g: Any) -> None:
    g.add_argument("--batch-targets", metavar="FILE", help="the output of vrx probe pick-batch")
    g.add_argument("--batch", type=int, metavar="B", help="one batch for all, without targets")
    g.add_argument("--tiers", default=",".join(_D.tiers), metavar="T,...", help="small, real, stress")
    g.add_argument("--expert-heads", default=",".join(map(str, _D.expert_heads)), metavar="N,...")


def _add_probe_arguments(g: Any) -> None:
    g.add_argument("--probe-colony", default=_D.probe_colony, metavar="SPEC")
    g.add_argument("--probe-precision", default=_D.probe_precision, choices=("fp32", "bf16", "fp16"))
    g.add_argument("--probe-amp", type=int, default=_D.probe_amp, choices=(0, 1))
    g.add_argument("--probe-warmup-steps", type=int, default=_D.probe_warmup_steps, metavar="W")
    g.add_argument("--probe-measure-steps", type=int, default=_D.probe_measure_steps, metavar="M")
    g.add_argument("--probe-device", default=_D.probe_device, choices=("auto", "cuda", "cpu"))
    g.add_argument("--probe-telemetry-interval", type=float, default=_D.probe_telemetry_interval, metavar="S")


def _add_cap_arguments(g: Any) -> None:
    g.add_argument("--cap-device", default=_D.cap_device, choices=("cuda", "cpu", "auto"))
    g.add_argument("--cap-precision", default=_D.cap_precision, choices=("fp32", "bf16", "fp16"))
    g.add_argument("--cap-seed", type=int, default=_D.cap_seed)
    g.add_argument("--cap-synth-len", type=int, default=_D.cap_synth_len, metavar="L", help="assoc --seq-len")
    g.add_argument("--cap-assoc-keys", type=int, default=_D.cap_assoc_keys, metavar="K")
    g.add_argument("--cap-assoc-pairs", type=int, default=_D.cap_assoc_pairs, metavar="P")
    g.add_argument("--cap-assoc-val-range", type=int, default=_D.cap_assoc_val_range, metavar="V")
    g.add_argument("--cap-max-samples", type=int, default=_D.cap_max_samples, metavar="N")
    g.add_argument("--cap-ptr-dtype", default=_D.cap_ptr_dtype, choices=("fp64", "fp32", "fp16", "bf16"))
    g.add_argument("--cap-eval-samples", type=int, default=_D.cap_eval_samples, metavar="N")
    g.add_argument("--cap-eval-seed-offset", type=int, default=_D.cap_eval_seed_offset, metavar="N")
    yes_no = argparse.BooleanOptionalAction
    g.add_argument("--cap-force-disjoint", action=yes_no, default=_D.cap_force_disjoint,
                   help="evaluate on a disjoint set (default: yes)")
    g.add_argument("--cap-retry-once", action=yes_no, default=_D.cap_retry_once,
                   help="rerun an assoc run that exited 0 without report.json, once (default: yes)")


def _add_budget_arguments(g: Any) -> None:
    g.add_argument("--token-budget", type=int, default=_D.token_budget, metavar="T")
    g.add_argument("--seq-len", type=int, default=_D.seq_len, metavar="L", help="the budget's seq_len")
    g.add_argument("--min-steps", type=int, default=_D.min_steps)
    g.add_argument("--max-steps", type=int, default=_D.max_steps)
    for name in ("probe", "cap", "packet"):
        g.add_argument(f"--{name}-timeout-s", type=float, default=900.0, metavar="S", help="0: none")


def settings_from(ns: argparse.Namespace) -> SweepSettings:
    tiers = tuple(t.strip().lower() for t in ns.tiers.split(",") if t.strip())
    if not tiers or any(t not in TIER_PRESETS for t in tiers):
        raise PlanError(f"--tiers: expected some of small,real,stress, got {ns.tiers!r}")
    try:
        heads = tuple(int(h) for h in ns.expert_heads.split(",") if h.strip())
    except ValueError:
        raise PlanError(f"--expert-heads: comma-separated integers, not {ns.expert_heads!r}") from None
    if not heads or min(heads) < 1 or (ns.batch is not None and ns.batch < 1):
        raise PlanError("--expert-heads and --batch must be >= 1")
    if ns.min_steps < 1 or ns.max_steps < ns.min_steps or ns.seq_len < 1 or ns.token_budget < 0:
        raise PlanError("need 1 <= --min-steps <= --max-steps, --seq-len >= 1 and --token-budget >= 0")
    return SweepSettings(
        tiers=tiers, expert_heads=heads, batch=ns.batch, probe_colony=ns.probe_colony,
        probe_precision=ns.probe_precision, probe_amp=ns.probe_amp, probe_warmup_steps=ns.probe_warmup_steps,
        probe_measure_steps=ns.probe_measure_steps, probe_device=ns.probe_device,
        probe_telemetry_interval=ns.probe_telemetry_interval, cap_device=ns.cap_device,
        cap_precision=ns.cap_precision, cap_seed=ns.cap_seed, cap_synth_len=ns.cap_synth_len,
        cap_assoc_keys=ns.cap_assoc_keys, cap_assoc_pairs=ns.cap_assoc_pairs,
        cap_assoc_val_range=ns.cap_assoc_val_range, cap_max_samples=ns.cap_max_samples,
        cap_ptr_dtype=ns.cap_ptr_dtype, cap_eval_samples=ns.cap_eval_samples,
        cap_eval_seed_offset=ns.cap_eval_seed_offset, cap_force_disjoint=ns.cap_force_disjoint,
        cap_retry_once=ns.cap_retry_once, token_budget=ns.token_budget, seq_len=ns.seq_len,
        min_steps=ns.min_steps, max_steps=ns.max_steps, probe_timeout_s=ns.probe_timeout_s,
        cap_timeout_s=ns.cap_timeout_s, packet_timeout_s=ns.packet_timeout_s,
    )


def cmd_sweep(ns: argparse.Namespace) -> int:
    from vrx_core.engine.replay import replay

    from .sweep import SweepSession, read_history, resume_problem, run_sweep
    from .sweep_runner import load_runner

    run_dir = Path(ns.run_dir)
    registry = ns.plugins.registry
    try:
        settings = settings_from(ns)
        targets = load_targets(Path(ns.batch_targets)) if ns.batch_targets else None
        configs = plan(settings, targets)
        history = read_history(run_dir, registry)
        if ns.dry_run:
            return _dry_run(configs, history.done)
        if (problem := resume_problem(history, settings)) is not None:
            raise PlanError(f"--run-dir {run_dir}: {problem}")
        runner = load_runner(ns.runner, settings)
    except (PlanError, ValueError) as exc:
        print(f"vrx sweep: {exc}", file=sys.stderr)
        return USAGE

    def derive() -> None:
        for failure in replay(run_dir, ns.plugins).failures:
            print(f"vrx sweep: warning: {failure.render()}", file=sys.stderr)

    session = SweepSession(
        run_dir=run_dir, settings=settings, configs=configs, runner=runner, registry=registry, derive=derive,
        argv=list(ns.argv), batch_targets=str(Path(ns.batch_targets).resolve()) if ns.batch_targets else None,
    )
    tally = run_sweep(session)
    print(
        f"sweep {run_dir}: {tally.ok} ok, {tally.error} error ({tally.ran} run now, {tally.skipped} "
        f"done before); rows in {run_dir / 'ant_ratio_summary.csv'}"
    )
    return int(ExitCode.OK)


def _dry_run(configs: list[SweepConfig], done: dict[str, str]) -> int:
    for i, c in enumerate(configs, 1):
        state = done.get(c.config_id, "pending")
        print(f"{i:3d} {c.config_id:<20} tier={c.tier} expert_heads={c.expert_heads} batch={c.batch} "
              f"steps={c.steps} {state}")
    print(f"{len(configs)} configurations, {sum(c.config_id in done for c in configs)} done")
    return int(ExitCode.OK)
