"""``vrx assoc run|eval``: the assoc-byte capability eval (ORIGINS 2.6), recorded as vrx runs.

Exit codes: 0 the report was written; 1 the run raised during training or eval (recorded in the
log, no report); 2 invalid arguments or ant spec, or a task the checkpoint cannot tell; 65 a
checkpoint that cannot be loaded or is not a ring-pointer model's; 66 no such checkpoint;
73 the output directory already holds a run. Errors are one line on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from vrx_core.cli.layout_options import add_layout_options, recorder_placement
from vrx_core.errors import ExitCode, RunExists, VrxError
from vrx_core.hooks.host import Commands
from vrx_core.log.rundir import RunDir

from .settings import DEVICES, PRECISIONS, PTR_DTYPES, QUICK, SWEEP, VARIANTS

REPORT = "report.json"
CHECKPOINT = "checkpoint.pt"
#: Files whose presence means an assoc run already wrote to the directory.
GUARDED = (REPORT, CHECKPOINT)

RUN_DESCRIPTION = """\
Generate the assoc-byte task (ORIGINS 2.6), train the ring-pointer model on it for --steps
(or the steps a --token-budget buys: clamp(budget // (batch * seq_len), min, max)), save
DIR/checkpoint.pt, and evaluate on the disjoint set (seed + offset) or the training subset.
Every step and eval batch is an event in DIR/events.jsonl; DIR/report.json is derived from it
(vrx replay DIR rebuilds it byte for byte). With --layout, DIR is the layout's root and the
run goes into a new directory below it (the "report:" line names it).

Defaults are small, to finish in about a minute on a 2-core CPU; --sweep-defaults switches every
default to the sweep's full size (ant_ratio_sweep_v0). A flag given always wins.
Exit status: 0 report written; 1 the run raised (recorded); 2 invalid arguments; 73 DIR holds a run.
"""

EVAL_DESCRIPTION = """\
The original's post-mortem eval (eval_ckpt_assoc_byte.py) of an existing checkpoint: vrx's
(DIR/checkpoint.pt of vrx assoc run) or the original's ({"model": state_dict, ...}, with its
vraxion.log beside it). The shape comes from router_map, input_proj.weight and the head; the
task from the checkpoint's record, vraxion.log or the flags. Recorded as its own run, in
--run-root DIR or the first free assoc_eval[-N] directory beside the checkpoint.
Exit status: 0 report written; 1 the eval raised (recorded); 2 invalid arguments or unknown task;
65 unreadable or not a ring-pointer checkpoint; 66 no such checkpoint; 73 DIR holds a run.
"""


def add_assoc_commands(commands: Commands) -> None:
    p = commands.add(
        "assoc",
        help="assoc-byte capability eval: train and evaluate the ring-pointer model, or eval a checkpoint",
        description="Assoc-byte capability eval (ORIGINS 2.6). Subcommands: run, eval.",
        handler=lambda args: _usage(p),
    )
    sub = p.add_subparsers(dest="assoc_command", metavar="SUBCOMMAND")
    fmt = argparse.RawDescriptionHelpFormatter
    r = sub.add_parser(
        "run",
        parents=commands.parents,
        help="train, evaluate and derive report.json",
        description=RUN_DESCRIPTION,
        formatter_class=fmt,
    )
    _add_run_arguments(r)
    r.set_defaults(handler=cmd_run)
    e = sub.add_parser(
        "eval",
        parents=commands.parents,
        help="evaluate an existing checkpoint",
        description=EVAL_DESCRIPTION,
        formatter_class=fmt,
    )
    _add_eval_arguments(e)
    e.set_defaults(handler=cmd_eval)


def _both(key: str) -> str:
    return f"default {QUICK[key]}; sweep {SWEEP[key]}"


def _add_task_arguments(g: argparse._ArgumentGroup, *, run: bool) -> None:
    for flag, key, what in (
        ("--keys", "keys", "key ids"),
        ("--pairs", "pairs", "key/value pairs per sample"),
        ("--val-range", "val_range", "values (= classes)"),
        ("--seq-len", "seq_len", "sequence length"),
        ("--max-samples", "max_samples", "training rows"),
    ):
        shown = _both(key) if run else "from the checkpoint"
        g.add_argument(flag, dest=key, type=int, metavar="N", help=f"{what} ({shown})")


def _add_split_arguments(g: argparse._ArgumentGroup) -> None:
    split = g.add_mutually_exclusive_group()
    split.add_argument(
        "--disjoint",
        "--force-eval-disjoint",
        dest="split",
        action="store_const",
        const=True,
        help="evaluate on a set generated with seed + offset (eval_split_source: forced)",
    )
    split.add_argument(
        "--subset",
        "--force-eval-subset",
        dest="split",
        action="store_const",
        const=False,
        help="evaluate on the first --eval-samples training rows (forced)",
    )


def _add_run_arguments(r: argparse.ArgumentParser) -> None:
    r.add_argument(
        "--output-dir",
        required=True,
        metavar="DIR",
        help="run directory (log, checkpoint, report); with --layout, the layout's root",
    )
    r.add_argument(
        "--sweep-defaults", action="store_true", help="the sweep's full-size defaults (ORIGINS 2.6)"
    )
    task = r.add_argument_group("task")
    _add_task_arguments(task, run=True)
    task.add_argument("--eval-samples", type=int, metavar="N", help=f"eval rows ({_both('eval_samples')})")
    task.add_argument("--eval-seed-offset", type=int, metavar="N", help="disjoint set seed offset (1000003)")
    _add_split_arguments(task)
    task.add_argument("--seed", type=int, metavar="N", help="data, init, batch order and pointer draws (123)")
    task.add_argument("--device", choices=DEVICES, help="default auto: CUDA when available")
    task.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="CPU threads for torch (default 1: fastest for the toy ring; sweep 0 = torch's default)",
    )
    model = r.add_argument_group("model")
    model.add_argument(
        "--ant",
        metavar="SPEC|PRESET",
        help="ant spec: preset (OD1_CANON_SMALL, ...), file or inline JSON (default: a 64x32 "
        "toy ring; sweep OD1_CANON_SMALL)",
    )
    model.add_argument("--out-dim", type=int, metavar="N", help="expert heads (1)")
    model.add_argument("--precision", choices=PRECISIONS, help="autocast dtype on CUDA (fp32: none)")
    model.add_argument("--ptr-dtype", choices=PTR_DTYPES, help="pointer dtype (default: the spec's)")
    model.add_argument("--variant", choices=VARIANTS, help="dense (default) or compact (O(B*T*D) memory)")
    train = r.add_argument_group("training budget")
    budget = train.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, metavar="N", help=f"training steps ({_both('steps')})")
    budget.add_argument(
        "--token-budget", type=int, metavar="T", help="tokens; steps = clamp(T // (batch*seq_len))"
    )
    train.add_argument("--min-steps", type=int, metavar="N", help="clamp floor (50)")
    train.add_argument("--max-steps", type=int, metavar="N", help="clamp ceiling (2000)")
    train.add_argument("--batch", type=int, metavar="B", help=f"training batch ({_both('batch')})")
    train.add_argument("--eval-batch-size", type=int, metavar="B", help="eval batch (32; sweep: --batch)")
    train.add_argument("--lr", type=float, help="Adam learning rate (0.001)")
    add_layout_options(r)


def _add_eval_arguments(e: argparse.ArgumentParser) -> None:
    e.add_argument("--checkpoint", required=True, metavar="CKPT", help="checkpoint file (.pt)")
    e.add_argument("--run-root", metavar="DIR", help="where to record (default: CKPT's dir/assoc_eval[-N])")
    e.add_argument("--eval-samples", type=int, default=4096, metavar="N", help="eval rows (4096)")
    e.add_argument(
        "--batch-size",
        "--eval-batch-size",
        dest="batch_size",
        type=int,
        default=32,
        metavar="B",
        help="eval batch (32)",
    )
    e.add_argument("--eval-seed-offset", type=int, default=1000003, metavar="N", help="(1000003)")
    e.add_argument("--device", choices=DEVICES, default="cpu", help="default cpu, as the original")
    e.add_argument(
        "--seed", type=int, metavar="N", help="default: the checkpoint's, seed<N> in its path, its step"
    )
    e.add_argument("--variant", choices=VARIANTS, default="dense", help="dense or compact (same weights)")
    e.add_argument(
        "--threads", type=int, default=1, metavar="N", help="CPU threads for torch (1; 0: torch's default)"
    )
    e.add_argument(
        "--ptr-dtype", choices=PTR_DTYPES, help="pointer dtype (default: the checkpoint's, else fp64)"
    )
    g = e.add_argument_group("task (only when the checkpoint cannot tell)")
    _add_task_arguments(g, run=False)
    _add_split_arguments(g)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return int(ExitCode.USAGE)


class AssocFailed(VrxError):
    """The run raised during training or eval; the log holds the error (exit 1)."""

    exit_code = ExitCode.FAILED


def _guard(out_dir: Path) -> None:
    if RunDir(out_dir).log.exists() or any((out_dir / name).exists() for name in GUARDED):
        raise RunExists(f"{out_dir} already holds an assoc run; choose another --output-dir")


def cmd_run(ns: argparse.Namespace) -> int:
    from .plans import run_plan
    from .settings import merged

    placement = recorder_placement(ns, ns.output_dir)  # a usage error before anything is created
    out_dir = Path(ns.output_dir)
    if "layout" not in placement:  # a layout's directory is always new
        _guard(out_dir)
    explicit = {k: getattr(ns, k, None) for k in QUICK if k != "disjoint"}
    explicit["disjoint"] = ns.split
    values = merged(explicit, ns.sweep_defaults)
    plan = run_plan(
        values,
        argv=list(ns.argv),
        out_dir=out_dir,
        split_forced=ns.split is not None,
        sweep=ns.sweep_defaults,
    )
    return _record_and_report(plan, placement, ns)


def cmd_eval(ns: argparse.Namespace) -> int:
    from .eval_plan import eval_out_dir, eval_plan

    out_dir = eval_out_dir(Path(ns.checkpoint), ns.run_root)
    plan = eval_plan(vars(ns), argv=list(ns.argv), out_dir=out_dir)
    return _record_and_report(plan, {"run_dir": out_dir}, ns)


def _record_and_report(plan: Any, placement: dict[str, Any], ns: argparse.Namespace) -> int:
    """Record ``plan`` in a new run (``placement``: ``Recorder``'s run_dir= or layout=, config=,
    environment=), derive report.json and print the summary naming the run's directory."""
    from vrx_core.cli.progress import progress_bar
    from vrx_core.engine.replay import replay

    from .session import open_run, record

    out_dir = Path(placement["run_dir"]) if "run_dir" in placement else None  # else a layout's, made new
    created = out_dir is not None and not out_dir.exists()
    if out_dir is not None:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunExists(f"cannot create {out_dir}: {exc.strerror or exc}") from None
    try:
        rec = open_run(plan, registry=ns.plugins.registry, **placement)
    except BaseException:
        if created and out_dir is not None:  # e.g. a --config that cannot be resolved: leave nothing
            with contextlib.suppress(OSError):
                out_dir.rmdir()
        raise
    run_dir = rec.run_dir
    with progress_bar(f"assoc {plan.started.mode}", plan.total_units, unit="steps") as update:
        try:
            record(plan, rec, progress=update)
        except VrxError:
            raise
        except Exception as exc:  # recorded as assoc.end (error) before it got here
            log = RunDir(run_dir).log
            raise AssocFailed(
                f"assoc {plan.started.mode} failed: {type(exc).__name__}: {exc} (see {log})"
            ) from None
    replay(run_dir, ns.plugins)
    _summary(run_dir)
    return int(ExitCode.OK)


def _summary(out_dir: Path) -> None:
    report = json.loads((out_dir / REPORT).read_text())
    ev, st, tr = report["eval"], report["settings"], report["train"]
    split = "disjoint" if st["eval_disjoint"] else "subset"
    print(
        f"eval_acc {ev['eval_acc']:.4f} (eval_n {ev['eval_n']}, {split}, eval_loss {_num(ev['eval_loss'])}) "
        f"after {tr['steps']} training steps (loss_slope {_num(tr['loss_slope'])})"
    )
    print(f"report: {shlex.quote(str(out_dir / REPORT))}")


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else "null"
