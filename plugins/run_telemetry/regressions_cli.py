"""``vrx regressions -b BASE -c CAND``: the regression guardrail, a port of ``mgr regressions``.

:func:`add_regressions` adds the subcommand (from the plugin's ``vrx_add_commands`` hook, or to
any argparse subparsers object); :func:`cmd_regressions` runs it. Options, defaults, ranges and
exit codes are upstream's (ORIGINS.md 3.1), plus ``--mgr-compat`` and ``--json``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from vrx_core.errors import ExitCode, VrxError
from vrx_core.hooks.host import Commands

from .regressions import DEFAULTS, RANGES

HELP = "compare a candidate run's summary.json with a baseline's: loss, tokens/s, TFLOP/s, peak memory"

DESCRIPTION = """\
Compare a candidate run against a known-good baseline, metric by metric (a port of
model_guided_research's `mgr regressions`): final loss and peak memory (lower is better),
tokens/s and TFLOP/s (higher is better). Each metric is ok, regression or missing (absent, or not
a finite number, on either side); there is no "improved" status.

BASE and CAND are each a summary.json file or a directory holding one: an mgr run directory, or a
vrx run directory once `vrx replay RUN` has derived its summary.json. A path that does not exist
is also looked up under --artifacts-dir.

Peak memory: by default it is judged by --memory-rel alone (regression iff candidate > baseline *
(1 + memory_rel)). --mgr-compat reproduces upstream exactly: the loss thresholds (--loss-abs,
--loss-rel) are applied to peak memory as well, so with default flags memory regresses on more
than +0.01 GB or +1 %, and --memory-rel can only add regressions, never relax them.

Writes summary.json, run.md and report.html to ARTIFACTS_DIR/regressions/RUN_ID/.

Thresholds must be finite numbers in their ranges (inf and nan are usage errors).

Exit status: 0, even when regressions exist, unless --fail-on-regression; 1 with
--fail-on-regression when a metric regressed (or is missing, with --fail-on-missing), after a red
"Guardrail" panel naming them; 2 bad options, or BASE/CAND names no summary.json (or a vrx run's
summary.json is stale: the log changed since `vrx replay`); 65 a summary.json that cannot be read
or is not a JSON object; 73 the report cannot be written under --artifacts-dir (the comparison is
printed first; 73 then replaces 0 or 1, --fail-on-regression or not); 74 another write error.
"""

EPILOG = "See docs/regressions.md."


class _Toggle(argparse.Action):
    """``--x/--no-x`` (Click's boolean flag pair) without argparse's version-dependent help suffix."""

    def __init__(
        self, option_strings: Sequence[str], dest: str, default: bool = False, help: str | None = None
    ) -> None:
        both = [s for opt in option_strings for s in (opt, f"--no-{opt.removeprefix('--')}")]
        super().__init__(both, dest, nargs=0, default=default, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, not (option_string or "").startswith("--no-"))

    def format_usage(self) -> str:
        return " | ".join(self.option_strings)


def _threshold(name: str) -> Callable[[str], float]:
    """A finite float in ``RANGES[name]``; anything else (NaN and the infinities included, for every
    threshold alike, bounded or not) is a usage error."""
    lo, hi = RANGES[name]
    bounds = f"x>={lo:g}" if hi is None else f"{lo:g}<=x<={hi:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text} is not a finite number")
        if not (value >= lo and (hi is None or value <= hi)):
            raise argparse.ArgumentTypeError(f"{text} is not in the range {bounds}")
        return value

    return parse


def _run_id(text: str) -> str:
    if not text or text in (".", "..") or "/" in text or "\\" in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not a plain directory name")
    return text


def add_regressions(
    sub: Commands | argparse._SubParsersAction[argparse.ArgumentParser],
    parents: Sequence[argparse.ArgumentParser] = (),
) -> argparse.ArgumentParser:
    """Add ``regressions``: through ``Commands.add`` (its parents included), or to a subparsers object."""
    if isinstance(sub, Commands):
        p = sub.add("regressions", help=HELP, description=DESCRIPTION, handler=cmd_regressions)
    else:
        p = sub.add_parser("regressions", help=HELP, description=DESCRIPTION, parents=list(parents))
        p.set_defaults(handler=cmd_regressions)
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    _add_arguments(p)
    return p


def _add_arguments(p: argparse.ArgumentParser) -> None:
    d = DEFAULTS
    runs = p.add_argument_group("runs")
    runs.add_argument("-b", "--baseline", required=True, metavar="BASE",
                      help="baseline: a summary.json, or a run directory holding one (required)")
    runs.add_argument("-c", "--candidate", required=True, metavar="CAND",
                      help="candidate: a summary.json, or a run directory holding one (required)")
    runs.add_argument("--baseline-variant", metavar="NAME",
                      help="sub-run of BASE: the attention_type of a suite's runs[] entry, or the key "
                      "(sdpa, flex) of dict-valued metrics (default: none)")
    runs.add_argument("--candidate-variant", metavar="NAME", help="the same for CAND (default: none)")
    thr = p.add_argument_group("thresholds")
    thr.add_argument("--loss-abs", type=_threshold("loss_abs"), default=d.loss_abs, metavar="X",
                     help=f"final loss regresses if candidate > baseline + X (default {d.loss_abs}, >= 0)")
    thr.add_argument("--loss-rel", type=_threshold("loss_rel"), default=d.loss_rel, metavar="X",
                     help=f"... or if (candidate - baseline) / baseline > X (default {d.loss_rel}, >= 0)")
    thr.add_argument("--throughput-rel", type=_threshold("throughput_rel"), default=d.throughput_rel,
                     metavar="X", help="tokens/s regresses if candidate < baseline * (1 - X), strictly "
                     f"(default {d.throughput_rel}, 0..1)")
    thr.add_argument("--tflops-rel", type=_threshold("tflops_rel"), default=d.tflops_rel, metavar="X",
                     help="TFLOP/s regresses if candidate < baseline * (1 - X), strictly "
                     f"(default {d.tflops_rel}, 0..1)")
    thr.add_argument("--memory-rel", type=_threshold("memory_rel"), default=d.memory_rel, metavar="X",
                     help="peak memory regresses if candidate > baseline * (1 + X) "
                     f"(default {d.memory_rel}, 0..10); by default this rule alone judges memory")
    out = p.add_argument_group("artifacts")
    out.add_argument("--artifacts-dir", default="artifacts", metavar="DIR",
                     help="write under DIR/regressions/RUN_ID/; BASE and CAND are also looked up "
                     "under DIR (default: artifacts)")
    out.add_argument("--run-id", type=_run_id, metavar="ID",
                     help="report directory name (default: local time, YYYYMMDD_HHMMSS)")
    out.add_argument("--write-artifacts", action=_Toggle, default=True,
                     help="write summary.json and run.md (default: on)")
    out.add_argument("--html", action=_Toggle, default=True,
                     help="also write report.html, when writing artifacts (default: on)")
    gate = p.add_argument_group("exit status")
    gate.add_argument("--fail-on-regression", action=_Toggle, default=False,
                      help="exit 1 when any metric regressed (default: off)")
    gate.add_argument("--fail-on-missing", action=_Toggle, default=False,
                      help="with --fail-on-regression, a missing metric fails too (default: off)")
    vrx = p.add_argument_group("vrx options")
    vrx.add_argument("--mgr-compat", action="store_true",
                     help="judge peak memory exactly as mgr regressions does: the loss thresholds "
                     "(--loss-abs, --loss-rel) apply to it too, besides --memory-rel (default: off)")
    vrx.add_argument("--json", action="store_true",
                     help="print the report (summary.json's object) as JSON on stdout instead of the "
                     "tables; messages go to stderr")


def cmd_regressions(args: argparse.Namespace) -> int:
    """Run ``vrx regressions``; returns the exit code (0, 1 guardrail, 2 usage, 65 bad summary); an
    artifacts directory that cannot be written raises the OSError (73/74 from the CLI's handler)."""
    from rich.console import Console

    from .regressions import Thresholds, build_report, failing_metrics, load_summary, resolve_summary
    from .regressions_report import git_meta, print_guardrail, print_report, summary_json, write_artifacts

    try:
        paths = [
            resolve_summary(raw, artifacts_dir=args.artifacts_dir, option=option)
            for option, raw in (("--baseline", args.baseline), ("--candidate", args.candidate))
        ]
        baseline, candidate = (load_summary(path) for path in paths)
    except VrxError as exc:
        print(f"vrx regressions: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    need_meta = args.json or args.write_artifacts
    report = build_report(
        baseline,
        candidate,
        run_id=args.run_id if args.run_id is not None else time.strftime("%Y%m%d_%H%M%S"),
        generated_at=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        git=git_meta() if need_meta else {},
        argv=list(getattr(args, "argv", None) or sys.argv),
        baseline_path=str(paths[0]),
        candidate_path=str(paths[1]),
        baseline_variant=args.baseline_variant,
        candidate_variant=args.candidate_variant,
        thresholds=Thresholds(
            loss_abs=args.loss_abs, loss_rel=args.loss_rel, throughput_rel=args.throughput_rel,
            tflops_rel=args.tflops_rel, memory_rel=args.memory_rel,
        ),
        mgr_compat=args.mgr_compat,
    )
    console = Console(stderr=args.json, highlight=False)
    if args.json:
        sys.stdout.write(summary_json(report))
        sys.stdout.flush()
    else:
        print_report(report, console)
    if args.write_artifacts:
        out = write_artifacts(report, args.artifacts_dir, html=args.html)
        console.print(f"artifacts: {out}", markup=False)
    failing = failing_metrics(report.comparisons, fail_on_missing=args.fail_on_missing)
    if args.fail_on_regression and failing:
        print_guardrail(failing, console)
        return int(ExitCode.FAILED)
    return int(ExitCode.OK)
