"""``vrx triage validate|run|import``: the capture-triage commands.

Exit codes: 0 valid / all thresholds pass; 1 invalid scenario or failed run; 2 usage;
30 the run completed but a threshold failed; 65 an imported bundle is malformed.
"""

from __future__ import annotations

import argparse
import shutil
import stat
import sys
import time
from pathlib import Path
from typing import Any

from vrx_core.cli.layout_options import add_layout_options, recorder_placement
from vrx_core.cli.progress import progress_bar
from vrx_core.engine.replay import replay
from vrx_core.errors import ExitCode, NoSuchRun, UsageError, VrxError
from vrx_core.hooks.host import Commands
from vrx_core.hooks.manager import PluginSet
from vrx_core.log.layout import Layout
from vrx_core.log.rundir import LOG, RunDir
from vrx_core.log.writer import Recorder

from .backends import CameraBackend
from .capture import ScenarioInput, new_run_dir, record_capture, record_import, run_id_problem
from .labops import LabopsFormatError, load_labops_bundle
from .scenario import ScenarioError, validate_scenario
from .scenario_file import load_scenario

PLUGIN = "frame_triage"

class TriageFailed(VrxError):
    """A triage command could not complete (exit 1)."""

    exit_code = ExitCode.FAILED


class BundleInvalid(VrxError):
    """An imported labops bundle is malformed (exit 65)."""

    exit_code = ExitCode.DATAERR


def add_commands(commands: Commands) -> None:
    p = commands.add(
        "triage",
        help="camera frame-capture triage: validate scenarios, run captures, import labops bundles",
        description=(
            "Record camera captures as vrx runs and derive the triage bundle (scenario.json, run.json, "
            "metrics.csv, metrics.json, bundle_manifest.json, summary.md). Exit codes: 0 valid / all "
            "thresholds pass; 1 invalid scenario or failed run; 2 usage; 30 a threshold failed; "
            "65 malformed bundle."
        ),
        handler=lambda args: _usage(p),
    )
    sub = p.add_subparsers(dest="triage_command", metavar="SUBCOMMAND")
    v = sub.add_parser(
        "validate",
        parents=commands.parents,
        help="check a scenario file against the schema",
        description="Validate SCENARIO.json; list every problem as <dotted.path>: <message>. "
        "Exit 0 valid, 1 invalid, 2 usage.",
    )
    v.add_argument("scenario", metavar="SCENARIO.json")
    v.set_defaults(handler=cmd_validate)
    r = sub.add_parser(
        "run",
        parents=commands.parents,
        help="run a capture from a scenario and derive its bundle",
        description="Validate SCENARIO.json, record the stream as events into <out>/<run_id>/events.jsonl "
        "and derive the bundle. With --layout mgr, --out is the layout's root and the bundle goes into a "
        "new directory below it, whose name is the run id (--layout rvinci is refused: it derives a "
        "metrics.json of its own). The bundle: line names the directory. "
        "Exit 0 all thresholds pass, 30 a threshold failed, 1 failed run, 2 usage.",
    )
    r.add_argument("scenario", metavar="SCENARIO.json")
    r.add_argument(
        "--out", default="out", help="parent directory of the bundle (default: out); with --layout, its root"
    )
    r.add_argument(
        "--run-id", help="bundle directory name (default: run-<epoch ms>; never reused; not with --layout)"
    )
    r.add_argument(
        "--realtime", action="store_true", help="pace frames at the scenario fps so `vrx tail` can watch"
    )
    r.add_argument("--backend", default="sim", help="camera backend (default: sim; plugins add more)")
    add_layout_options(r)
    r.set_defaults(handler=cmd_run)
    i = sub.add_parser(
        "import",
        parents=commands.parents,
        help="convert a labops bundle into a vrx run and recompute its metrics",
        description="Read BUNDLE_DIR/events.jsonl (plus run.json and scenario.json when present) written by "
        "the "
        "original labops tool, record it as a vrx run under <out>/<run_id>, and derive the bundle with "
        "today's metric code. labops timestamps have millisecond resolution, so intervals and jitter of an "
        "imported run are multiples of 1000 us. Exit codes: 0 all thresholds pass; 30 a threshold "
        "failed; 1 failed run; 2 usage; 65 malformed bundle; 66 no such bundle.",
    )
    i.add_argument("bundle", metavar="BUNDLE_DIR")
    i.add_argument("--out", default="out", help="parent directory of the new run (default: out)")
    i.add_argument("--run-id", help="run directory name (default: the bundle's run id)")
    i.set_defaults(handler=cmd_import)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return int(ExitCode.USAGE)


def _load(path: str) -> ScenarioInput:
    try:
        raw, doc = load_scenario(path)
    except ScenarioError as exc:
        raise TriageFailed(str(exc)) from None
    return ScenarioInput(raw=raw, doc=doc, source_name=Path(path).stem)


def _print_issues(path: str, doc: Any) -> bool:
    issues = validate_scenario(doc)
    if issues:
        print(f"invalid scenario: {path}")
        for issue in issues:
            print(f"  - {issue}")
    return not issues


def cmd_validate(args: argparse.Namespace) -> int:
    scenario = _load(args.scenario)
    if not _print_issues(args.scenario, scenario.doc):
        return int(ExitCode.FAILED)
    print(f"valid: {args.scenario}")
    return int(ExitCode.OK)


def _backend(plugins: PluginSet, name: str) -> CameraBackend:
    found: dict[str, CameraBackend] = {}
    for result in plugins.pm.hook.vrx_triage_backends():
        found.update(result or {})
    if name not in found:
        raise UsageError(f"unknown backend {name!r} (available: {', '.join(sorted(found))})")
    return found[name]


def cmd_run(args: argparse.Namespace) -> int:
    plugins: PluginSet = args.plugins
    backend = _backend(plugins, args.backend)
    placement = recorder_placement(args, args.out)
    layout: Layout | None = placement.get("layout")
    if layout is not None and args.run_id is not None:
        raise UsageError("--run-id names a bundle directory inside --out; with --layout, the layout names it")
    scenario = _load(args.scenario)
    if not _print_issues(args.scenario, scenario.doc):
        return int(ExitCode.FAILED)
    if args.run_id is not None and (problem := run_id_problem(args.run_id)):
        raise UsageError(f"--run-id: {problem}")
    planned = frames_planned(scenario.doc)
    if planned > MAX_FRAMES:
        raise TriageFailed(
            f"{args.scenario}: the scenario asks for {planned} frames; one run holds at most"
            f" {MAX_FRAMES} (shorten duration.duration_ms or lower camera.fps)"
        )
    created_ns = time.time_ns()
    run_dir: Path | None = None
    run_id: str | None = None
    if layout is None:  # <out>/<run_id>, made here; a layout's directory is made when the run starts
        try:
            run_dir, run_id = new_run_dir(Path(args.out), args.run_id, created_ns)
        except FileExistsError:
            raise UsageError(
                f"{Path(args.out) / args.run_id} already exists; bundles are never overwritten"
            ) from None
    started: list[Path] = []

    def announce(rec: Recorder) -> None:
        started.append(rec.run_dir)
        print(f"recording run {rec.run_id} ({scenario.source_name}, backend {backend.name}) ...")

    try:
        n = record_capture(
            run_dir,
            run_id,
            scenario,
            backend,
            created_ns=created_ns,
            registry=plugins.registry,
            realtime=args.realtime,
            layout=layout,
            config=placement.get("config"),
            environment=placement.get("environment"),
            on_start=announce,
        )
    except BaseException:
        for made in started or ([run_dir] if run_dir is not None else []):
            _remove_if_nothing_recorded(made)
        raise
    run = started[0] if started else run_dir
    assert run is not None  # record_capture starts the run or raises
    return _derive_and_report(run, plugins, n)


def _remove_if_nothing_recorded(run_dir: Path) -> None:
    """A run that failed before its log was created leaves no directory to block its run id;
    one that recorded anything is kept as evidence."""
    if not RunDir(run_dir).log.exists():
        shutil.rmtree(run_dir, ignore_errors=True)


def cmd_import(args: argparse.Namespace) -> int:
    plugins: PluginSet = args.plugins
    source = Path(args.bundle)
    if args.run_id is not None and (problem := run_id_problem(args.run_id)):
        raise UsageError(f"--run-id: {problem}")
    _check_bundle_files(source)
    try:
        bundle = load_labops_bundle(source)
    except LabopsFormatError as exc:
        raise BundleInvalid(str(exc)) from None
    except FileNotFoundError as exc:
        raise NoSuchRun(f"{exc.filename}: no such file (a labops bundle needs events.jsonl)") from None
    run_id = args.run_id or (bundle.run.run_id if bundle.run else None) or bundle.events.run_id or source.name
    if problem := run_id_problem(run_id):
        raise BundleInvalid(f"{source}: {problem}; pass --run-id to name the imported run")
    try:
        run_dir, run_id = new_run_dir(Path(args.out), run_id, 0)
    except FileExistsError:
        raise UsageError(
            f"{Path(args.out) / run_id} already exists; pass --run-id or another --out"
        ) from None
    try:
        n = record_import(run_dir, run_id, bundle, source.resolve(), registry=plugins.registry)
    except ValueError as exc:
        raise BundleInvalid(f"{source}: {exc}") from None
    print(f"imported {n} frames from {source} (labops timestamps: millisecond resolution)")
    return _derive_and_report(run_dir, plugins, n)


MAX_FRAMES = 20_000_000  # ~23 h at 240 fps; the simulator holds a run's frames in memory
MAX_BUNDLE_FILE = 1 << 30


def frames_planned(doc: Any) -> int:
    """Frames a scenario asks for (duration x fps), before simulating anything."""
    try:
        return int(doc["duration"]["duration_ms"]) * int(doc["camera"]["fps"]) // 1000
    except (KeyError, TypeError, ValueError):
        return 0


def _check_bundle_files(source: Path) -> None:
    """A labops bundle is a directory of regular files of sane size (not /dev/zero behind a link)."""
    if not source.is_dir():
        raise NoSuchRun("no such bundle directory", path=source)
    for name in (LOG, "run.json", "scenario.json"):
        path = source / name
        if not path.exists() and name != LOG:
            continue
        try:
            st = path.stat()
        except OSError as exc:
            raise NoSuchRun(f"cannot read: {exc.strerror}", path=path) from None
        if not stat.S_ISREG(st.st_mode):
            raise BundleInvalid("not a regular file", path=path)
        if st.st_size > MAX_BUNDLE_FILE:
            raise BundleInvalid(f"{st.st_size} bytes is over the {MAX_BUNDLE_FILE}-byte limit", path=path)


def _derive_and_report(run_dir: Path, plugins: PluginSet, frames: int) -> int:
    with progress_bar("deriving the bundle", RunDir(run_dir).log.stat().st_size) as update:
        result = replay(run_dir, plugins, progress=update)
    for f in result.failures:
        print(f"vrx: {f.render()}", file=sys.stderr)
    snap = result.snapshots.get(PLUGIN, {})
    print(f"bundle: {run_dir}")
    for rel in sorted([*result.files, LOG]):
        print(f"artifact: {run_dir / rel}")
    if not snap or "verdict" not in snap:
        print("vrx: frame_triage derived nothing (plugin blocked?)", file=sys.stderr)
        return int(ExitCode.FAILED)
    _print_figures(snap)
    if result.failures:
        return int(ExitCode.FAILED)
    return int(ExitCode.THRESHOLDS_FAILED if snap["verdict"] == "FAIL" else ExitCode.OK)


def _print_figures(snap: dict[str, Any]) -> None:
    print(f"fps: avg={snap['avg_fps']:.6f} current={snap['current_fps']:.6f}")
    print(f"drops: total={snap['dropped_frames_total']} rate_percent={snap['drop_rate_percent']:.6f}")
    print(
        f"timing_us: interval_p95={snap['inter_frame_interval_p95_us']:.6f} "
        f"jitter_p95={snap['inter_frame_jitter_p95_us']:.6f}"
    )
    print(
        f"frames: total={snap['frames_total']} received={snap['received_frames_total']} "
        f"dropped={snap['dropped_frames_total']}"
    )
    for t in snap["thresholds"]:
        print(
            f"threshold: {t['name']} {t['op']} {t['limit']}: actual {t['actual']:.6f} "
            f"{'PASS' if t['passed'] else 'FAIL'}"
        )
    print(f"verdict: {snap['verdict']}")
