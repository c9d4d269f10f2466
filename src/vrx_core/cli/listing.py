"""``vrx events`` and ``vrx plugins``: what a run recorded, and what is loaded."""

from __future__ import annotations

import argparse
import fnmatch
import sys
from typing import Any

import msgspec

from vrx_core.errors import ExitCode, UsageError
from vrx_core.hooks.host import common_options


def add_events(sub: Any) -> None:
    p = sub.add_parser(
        "events",
        help="print or filter a run's events",
        description=(
            "Print the events of RUN_DIR as a table (default) or as JSON lines (--json). A multi-rank "
            "run's logs are merged by (t, rank, seq) and each event shows its rank (rank:seq in the "
            "table, \"rank\" in JSON). Reading stops "
            "quietly at crash residue after the durable point (see `vrx verify`). Exit codes: 0 done; "
            "65 corrupt log; 66 no such run; 78 newer major format."
        ),
        parents=[common_options()],
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument(
        "--type",
        "-t",
        dest="types",
        action="append",
        default=[],
        metavar="T",
        help="only events of kind T (repeatable; an unknown kind is a usage error listing the known ones)",
    )
    p.add_argument(
        "--name",
        "-n",
        dest="names",
        action="append",
        default=[],
        metavar="GLOB",
        help="only metric events whose name matches GLOB, e.g. 'loss*' (repeatable)",
    )
    p.add_argument("--since-seq", type=int, default=0, metavar="N", help="only events with seq >= N")
    p.add_argument(
        "--rank",
        dest="ranks",
        action="append",
        type=int,
        metavar="R",
        help="a multi-rank run: only the events of rank R (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(handler=cmd_events)


def cmd_events(args: argparse.Namespace) -> int:
    from vrx_core.cli.render import EventTable, event_json_line
    from vrx_core.events import Metric, event_tag
    from vrx_core.log.merge import RunReader

    registry = args.pm_registry()
    unknown = sorted(set(args.types) - set(registry.tags()))
    if unknown:
        raise UsageError(f"unknown event kind(s) {', '.join(unknown)}; known: {', '.join(registry.tags())}")
    if args.ranks and not RunReader(args.run_dir, registry=registry).multi_rank:
        raise UsageError("--rank: this run was recorded by a single process (no per-rank logs)")
    reader = RunReader(args.run_dir, registry=registry, ranks=set(args.ranks) if args.ranks else None)
    wanted = set(args.types)
    names = args.names
    table = None if args.json else EventTable(sys.stdout, registry.tags())
    for ev in reader:
        if ev.seq < args.since_seq:
            continue
        if wanted and event_tag(ev) not in wanted:
            continue
        if names and not (isinstance(ev, Metric) and any(fnmatch.fnmatchcase(ev.name, g) for g in names)):
            continue
        if table is None:
            sys.stdout.write(event_json_line(ev))
        else:
            table.row(ev)
    for log, report in zip(reader.readers.values(), reader.reports.values(), strict=True):
        if report.residue is not None:
            print(f"vrx: note: stopped at crash residue: {report.residue.render(log.path)}", file=sys.stderr)
    return int(ExitCode.OK)


def add_plugins(sub: Any) -> None:
    p = sub.add_parser(
        "plugins",
        help="list loaded plugins: version, source, hooks, event kinds",
        description=(
            "List every loaded plugin with its version, source, hooks, and the event kinds it "
            "registers and consumes. Plugins that failed to load are named on stderr, with the file, "
            "line and what to install. Exit codes: 0 listed; 2 a -p module or --plugins-dir that "
            "cannot be loaded."
        ),
        parents=[common_options()],
    )
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.set_defaults(handler=cmd_plugins)


def cmd_plugins(args: argparse.Namespace) -> int:
    from vrx_core.cli.render import plugin_rows

    rows = plugin_rows(args.plugins)
    if args.json:
        sys.stdout.write(msgspec.json.encode(rows).decode() + "\n")
        return int(ExitCode.OK)
    for row in rows:
        print(f"{row['name']} {row['version']}  [{row['source']}]")
        print(f"    hooks:    {', '.join(row['hooks']) or '-'}")
        print(f"    kinds:    {', '.join(row['registers']) or '-'}")
        consumes = row["consumes"]
        print(f"    consumes: {'every event' if consumes is None else (', '.join(consumes) or '-')}")
    if not rows:
        print("no plugins loaded")
    return int(ExitCode.OK)
