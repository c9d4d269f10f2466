"""The ``vrx`` command line. Each command is a small function; plugins add their own.

Exit codes are documented in docs/cli.md and :class:`vrx_core.errors.ExitCode`. A user error
prints one line (``vrx: where: what``) and no traceback; ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from vrx_core._version import __version__
from vrx_core.cli.compare import add_compare
from vrx_core.cli.fleet import add_fleet
from vrx_core.cli.layout_options import add_layout_options, recorder_placement
from vrx_core.cli.listing import add_events, add_plugins
from vrx_core.cli.ls import add_ls
from vrx_core.errors import ExitCode, NoSuchRun, PluginUnavailable, UsageError, VrxError
from vrx_core.hooks.host import add_plugin_options, common_options

if TYPE_CHECKING:
    from vrx_core.hooks.manager import PluginSet

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse that exits with ExitCode.USAGE and a one-line message."""

    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        self.exit(int(ExitCode.USAGE), f"{self.prog}: error: {message}\n")


def _add_verify(sub: Any) -> None:
    p = sub.add_parser(
        "verify",
        parents=[common_options()],
        help="check a run's log: framing, checksums, dense seq, sync points, run end",
        description=(
            "Check RUN_DIR/events.jsonl line by line and print a one-line verdict, then every problem "
            "with file, line and byte offset; a multi-rank run's logs each on its own, and a rank whose "
            "log is missing named. Plugins add checks (for example the bundle manifest). "
            "Exit codes: 0 clean and complete; 3 clean but incomplete (no run end: crashed or still "
            "running); 65 corrupt (log or bundle manifest); 66 no such run; 78 written by a newer "
            "major format."
        ),
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory (or its events.jsonl)")
    p.add_argument("--json", action="store_true", help="print the verdict as one JSON object")
    p.set_defaults(handler=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    from vrx_core.engine.verify import add_problems, verify_run

    verdict = verify_run(args.run_dir, registry=args.pm_registry())
    add_problems(verdict.verdicts[0], args.plugin_verify_problems(verdict.run_dir))
    if args.json:
        sys.stdout.write(msgspec.json.encode(verdict.to_json()).decode() + "\n")
    else:
        sys.stdout.write("\n".join(verdict.lines()) + "\n")
    return int(verdict.exit_code)


def _add_ingest(sub: Any) -> None:
    p = sub.add_parser(
        "ingest",
        parents=[common_options()],
        help="append events given as JSON lines (from a file or stdin)",
        description=(
            "Append events to RUN_DIR from JSON lines, one object per line with a `type` and the "
            'kind\'s fields, e.g. {"type":"metric","name":"loss","value":0.25,"step":3}. '
            'Non-finite floats are written as "NaN", "Infinity", "-Infinity". Each line is '
            "validated against the registered kinds; a bad line is reported as FILE:LINE: message "
            "and nothing of it is written; good lines are recorded as they arrive. The run is "
            "created if missing; a crashed or open run is resumed, an ended one refused unless "
            "--resume allow; the run is ended at end of input unless --no-end. "
            "Exit codes: 0 all lines recorded; 2 usage; 65 some lines rejected, or the run's log is "
            "corrupt; 66 input file missing (or no run with --resume must); 73 cannot create, or a run "
            "exists that --resume refuses; 74 write failed; 75 run locked by "
            "another writer."
        ),
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument(
        "file", metavar="FILE", nargs="?", default="-", help="JSON lines file, or - for stdin (default)"
    )
    p.add_argument("--no-end", action="store_true", help="leave the run open (no run_end) for later appends")
    p.add_argument(
        "--source-time",
        action="store_true",
        help="accept a `t` (Unix seconds) on each line and record it as the event's time, for "
        "history converted from another tool (a log event notes that the times are the source's)",
    )
    p.add_argument(
        "--takeover", action="store_true", help="take the writer lock from a holder known to be dead"
    )
    p.add_argument(
        "--resume",
        choices=("auto", "allow", "never", "must"),
        default="auto",
        help="a log already in RUN_DIR: auto (default) resumes a crashed or open run and refuses an "
        "ended one; allow also reopens an ended run; never refuses any; must requires one (not with "
        "--layout, whose run is always new)",
    )
    add_layout_options(p)
    p.set_defaults(handler=cmd_ingest)


def cmd_ingest(args: argparse.Namespace) -> int:
    from vrx_core.engine.ingest import ingest
    from vrx_core.log.writer import Recorder

    # Usage errors first: nothing is read or created for a command line that cannot run.
    placement = recorder_placement(args, args.run_dir)
    if args.layout is not None and args.resume == "must":
        raise UsageError("--resume must does not apply to --layout: a layout always starts a new run")
    if args.file == "-":
        if sys.stdin is None:
            raise UsageError("no standard input to read events from (give a FILE)")
        stream, source = sys.stdin.buffer, "<stdin>"
    else:
        try:
            stream = open(args.file, "rb")  # noqa: SIM115 - closed below, stdin must not be
        except OSError as exc:
            raise NoSuchRun(f"cannot read input: {exc.strerror}", path=args.file) from None
        source = args.file
    try:
        rec = Recorder(
            **placement,
            takeover=args.takeover,
            resume=args.resume,
            registry=args.pm_registry(),
        )
        try:
            result = ingest(
                rec,
                stream,
                source,
                on_reject=lambda m: print(f"vrx: {m}", file=sys.stderr),
                source_time=args.source_time,
            )
        except KeyboardInterrupt:
            rec.close("interrupted", "KeyboardInterrupt")
            raise
        except BaseException as exc:
            rec.close("error", f"ingest failed: {type(exc).__name__}: {exc}"[:2000])
            raise
        rec.close("ok", end=not args.no_end)
    finally:
        if args.file != "-":
            stream.close()
    if args.layout is not None:
        print(rec.run_dir)  # the directory the layout chose: scripts need it
    print(
        f"ingested {result.accepted} event(s) into {rec.run_dir}"
        + (f"; {len(result.rejected)} line(s) rejected" if result.rejected else ""),
        file=sys.stderr,
    )
    return int(ExitCode.DATAERR if result.rejected else ExitCode.OK)


def _add_replay(sub: Any) -> None:
    p = sub.add_parser(
        "replay",
        help="re-derive every derived file of a run from its log",
        description=(
            "Fold RUN_DIR/events.jsonl through the loaded plugins and write every derived file "
            "(deterministic bytes, atomic writes) plus derived.json (provenance). With --check, "
            "recompute into a temporary directory and compare with what is on disk instead. "
            "Exit codes: 0 done (or no drift); 3 done but the log has no run end; 65 corrupt log or "
            "drift found, or the log is shorter than (or differs from) what the previous derived.json "
            "recorded (nothing written; --force re-derives); 66 no such run; 69 a plugin was skipped "
            "at load time (nothing written; block it with -p no:NAME to replay without it); 70 a "
            "plugin failed (the others' files are still written)."
        ),
        parents=[common_options()],
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="write derived files here instead of RUN_DIR (with --check: compare with DIR)",
    )
    p.add_argument("--check", action="store_true", help="compare a fresh replay with the files on disk")
    p.add_argument(
        "--force",
        action="store_true",
        help="re-derive even though the log lost data an earlier replay recorded (the new "
        "derived.json keeps the old record under log.superseded; verify still says CORRUPT)",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--strict", action="store_const", dest="mode", const="strict", help="any anomaly is an error"
    )
    mode.add_argument(
        "--salvage",
        action="store_const",
        dest="mode",
        const="salvage",
        help="skip damaged lines anywhere, list them, and mark the outputs salvaged",
    )
    p.set_defaults(handler=cmd_replay, mode="recover")


def cmd_replay(args: argparse.Namespace) -> int:
    from vrx_core.cli.progress import progress_bar
    from vrx_core.engine.replay import check, raise_on_drift, replay
    from vrx_core.log.rundir import RunDir

    _require_all_plugins(args.plugins, "replay")
    args.run_dir = str(RunDir.of(args.run_dir).root)
    if args.check:
        result, drifts = check(args.run_dir, args.plugins, mode=args.mode, against=args.out)
        for d in drifts:
            where = d.path if d.source else f"{args.run_dir}/{d.path}"
            print(f"{where}: {d.reason}")
            for line in d.diff:
                print(f"    {line}")
        _print_failures(result)
        raise_on_drift(drifts)
        if result.failures:
            return int(ExitCode.SOFTWARE)
        print(
            f"no drift: {len(result.files)} derived file(s) and derived.json match a fresh replay"
            f" of {result.report.lines} lines"
        )
        return int(ExitCode.OK)
    log = RunDir(args.run_dir).log
    size = log.stat().st_size if log.is_file() else 0
    with progress_bar("replaying", size) as update:
        result = replay(
            args.run_dir, args.plugins, out_dir=args.out, mode=args.mode, force=args.force, progress=update
        )
    r = result.report
    print(
        f"replayed {r.lines} lines"
        + (f" (seq 0..{r.last_seq})" if r.last_seq >= 0 else "")
        + f" of {args.run_dir} into {result.out_dir}: "
        f"{len(result.files)} derived file(s) and derived.json"
        + ("" if r.complete else "; log incomplete (no run end)")
    )
    for rel, plugin in sorted(result.files.items()):
        print(f"  {rel}  ({plugin})")
    if r.residue is not None:
        print(f"  note: stopped at crash residue: {r.residue.render(r.path)}")
    for p in r.problems if r.salvaged else ():
        print(f"  skipped: {p.render(r.path)}")
    for kind, n in sorted(r.unknown.items()):
        print(f"  note: {n} event(s) of unknown kind {kind!r} (no plugin registers it)")
    _print_failures(result)
    return int(result.exit_code)


def _require_all_plugins(plugins: PluginSet, command: str) -> None:
    """Refuse to derive without a skipped plugin: its files would silently go missing."""
    if plugins.skipped:
        names = ", ".join(sorted(plugins.skipped))
        raise PluginUnavailable(
            f"{command} needs every selected plugin, and {names} could not be loaded (see the warning "
            f"above); install what it names, or leave it out with -p no:NAME"
        )


def _print_failures(result: Any) -> None:
    for f in result.failures:
        print(f"vrx: {f.render()}", file=sys.stderr)


def _add_tail(sub: Any) -> None:
    from vrx_core.cli.tail import add_tail_command

    add_tail_command(sub)


def _add_demo(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        parents=[common_options()],
        help="record a small demo run, verify it, and show what was recorded and derived",
        description=(
            "Record a demo training run under OUT, verify its log, replay it through the plugins, "
            "record a simulated camera capture, and print a summary. Exit codes: 0 done; 3 or 65 the "
            "demo run did not verify (a bug: please report it); 70 a plugin failed; 73 OUT cannot be "
            "written."
        ),
    )
    p.add_argument("--out", default="runs", help="parent directory of the demo run (default: runs)")
    p.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from vrx_core.cli.demo import run_demo

    return run_demo(args)


def build_parser(extra: Sequence[Callable[[Any], None]] = ()) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vrx",
        description=(
            "vrx records runs as an append-only event log (events.jsonl) and derives everything else "
            "(manifests, triage bundles, your own plugins' files) from it by replaying the log "
            "through plugins."
        ),
        epilog="Exit codes and formats: docs/cli.md, docs/log-format.md.",
    )
    parser.add_argument("--version", action="version", version=f"vrx {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more diagnostics on stderr (-vv for debug)"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    add_plugin_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for add in (
        _add_verify,
        _add_ingest,
        _add_replay,
        add_events,
        add_plugins,
        add_ls,
        add_compare,
        add_fleet,
        _add_tail,
        _add_demo,
        *extra,
    ):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vrx`` console script and ``python -m vrx_core``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--version"]:
        # Answered before any plugin is discovered: a version check must work on a broken install.
        print(f"vrx {__version__}")
        return int(ExitCode.OK)
    debug = "--debug" in argv
    try:
        return _main(argv)
    except VrxError as exc:
        if debug:
            traceback.print_exc()
        print(f"vrx: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("vrx: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (e.g. `vrx events RUN | head`): not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        # A file system refusal that no command turned into its own error: one line, a code by kind.
        if debug:
            traceback.print_exc()
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"vrx: {where}{exc.strerror or exc}", file=sys.stderr)
        return int(_OS_EXIT.get(exc.errno or 0, ExitCode.IOERR))


_OS_EXIT = {
    errno.ENOENT: ExitCode.NOINPUT,
    errno.EACCES: ExitCode.CANTCREAT,
    errno.EPERM: ExitCode.CANTCREAT,
    errno.EROFS: ExitCode.CANTCREAT,
    errno.EEXIST: ExitCode.CANTCREAT,
    errno.EISDIR: ExitCode.CANTCREAT,
    errno.ENOTDIR: ExitCode.CANTCREAT,
    errno.ELOOP: ExitCode.CANTCREAT,
}


def _main(argv: list[str]) -> int:
    # Imported here, not at the top: `vrx --version` is answered without loading plugin machinery.
    from vrx_core.hooks.manager import PluginSet
    from vrx_core.log import diagnostics

    plugins = PluginSet.from_argv(argv)
    parser = build_parser()
    command = _command_word(argv)
    if command not in _subcommands(parser).choices or command == "plugins":
        # Plugins' command modules are imported only when the command may be theirs, for the full
        # --help and for `vrx plugins` (which reports a failing vrx_add_commands): a core command
        # such as `vrx replay` pays nothing for them.
        for add in plugins.command_adders():
            add(_subcommands(parser))
    for skipped in plugins.skipped.values():
        print(f"vrx: warning: {skipped.render()}", file=sys.stderr)
    for warning in plugins.warnings:
        print(f"vrx: warning: {warning}", file=sys.stderr)
    _refuse_command_of_skipped_plugin(parser, command, plugins)
    args = parser.parse_args(argv)
    level = "debug" if args.verbose >= 2 else ("info" if args.verbose == 1 else None)
    diagnostics.configure(level)
    plugins.bind(args)
    # The command line as typed, for commands that record it (``vrx probe run`` keeps it in run_cmd.txt).
    args.argv = ["vrx", *argv]
    handler: Handler = args.handler
    try:
        return handler(args)
    except UsageError as exc:
        parser.exit(int(ExitCode.USAGE), f"vrx: {exc}\n")
    return 0  # unreachable: parser.exit raises SystemExit


def _refuse_command_of_skipped_plugin(
    parser: argparse.ArgumentParser, command: str | None, plugins: PluginSet
) -> None:
    """An unknown command while plugins were skipped is most likely one of theirs: say so (exit 69)."""
    if not plugins.skipped:
        return
    if command is None or command in _subcommands(parser).choices:
        return
    names = ", ".join(sorted(plugins.skipped))
    raise PluginUnavailable(
        f"unknown command {command!r}; it may belong to a plugin that could not be loaded: {names} "
        "(see the warning above for what to install)"
    )


def _command_word(argv: list[str]) -> str | None:
    """The command the user typed: the first word that is neither an option nor an option's value."""
    for i, word in enumerate(argv):
        if not word.startswith("-") and not (i > 0 and argv[i - 1] in _OPTIONS_WITH_VALUE):
            return word
    return None


_OPTIONS_WITH_VALUE = ("-p", "--plugin", "--plugins-dir")


def _subcommands(parser: argparse.ArgumentParser) -> Any:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
