"""``vrx workload validate|id|show|list``: workload_schema_v1 specs from the command line.

Exit codes follow VRAXION's ``workload_id.py``, whose ids these are: 0 all specs valid; 2 any spec
invalid or unreadable, and usage errors (argparse's 2). Problems are one line each, never a
traceback. Stdlib and the workloads spec API only: no torch, so it runs on any machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass

from vrx_core.errors import ExitCode, UsageError
from vrx_core.hooks.host import Commands

from ..workloads import (
    PRESETS,
    TEMPLATES,
    SpecLoadError,
    WorkloadSpecError,
    canonicalize_spec,
    load_spec_arg,
    load_template,
    template_text,
    workload_id,
)

CONTRACT = "workload_schema_v1 (docs/workloads.md)"
SPEC_FORMS = (
    "SPEC is a preset (od1_canon_small|real|stress) or template name (od1_small_v1, ...; trimmed, "
    "case-insensitive), else a JSON file, else inline JSON."
)
_LABEL_CHARS = 60


def add_workload_commands(commands: Commands) -> None:
    """Add ``vrx workload`` and its subcommands to the command table."""
    p = commands.add(
        "workload",
        help="validate workload specs and compute their stable workload_id",
        description=(
            f"Workload specs of the {CONTRACT} contract: strict validation (unknown keys, "
            "coerced values and padded enums are errors), the canonical form and the stable id "
            "wl_v1_<12 hex of sha256(canonical JSON)>. Exit codes: 0 valid; 2 invalid or unreadable "
            "spec, or usage."
        ),
        handler=lambda args: _usage(p),
    )
    sub = p.add_subparsers(dest="workload_command", metavar="SUBCOMMAND")
    _add_validate(sub, commands)
    _add_id(sub, commands)
    _add_show(sub, commands)
    _add_list(sub, commands)


def _add_validate(sub: argparse._SubParsersAction[argparse.ArgumentParser], commands: Commands) -> None:
    v = sub.add_parser(
        "validate",
        parents=commands.parents,
        help="check specs against workload_schema_v1 and print each one's id",
        description=(
            f"Check each SPEC against {CONTRACT}. Prints '<spec>: ok <workload_id>' for a valid "
            "spec, else every problem as '<spec>: <json path>: <message>' (a spec that cannot be "
            f"read or decoded: '<spec>: <why>'). {SPEC_FORMS} Exit 0 all valid, 2 any invalid."
        ),
    )
    v.add_argument("specs", nargs="+", metavar="SPEC")
    v.set_defaults(handler=cmd_validate)


def _add_id(sub: argparse._SubParsersAction[argparse.ArgumentParser], commands: Commands) -> None:
    i = sub.add_parser(
        "id",
        parents=commands.parents,
        help="print the stable workload_id of a spec",
        description=(
            f"Validate SPEC against {CONTRACT} and print its workload_id (name/notes excluded). "
            "--json prints the original tool's object instead: workload_id, schema_version, "
            f"ant_spec, colony_spec (canonical; indent 2, sorted keys). {SPEC_FORMS} Exit 0; 2 "
            "invalid or unreadable spec (every problem on stderr)."
        ),
    )
    i.add_argument("spec", metavar="SPEC")
    i.add_argument("--json", action="store_true", help="print the canonical spec and id as JSON")
    i.set_defaults(handler=cmd_id)


def _add_show(sub: argparse._SubParsersAction[argparse.ArgumentParser], commands: Commands) -> None:
    s = sub.add_parser(
        "show",
        parents=commands.parents,
        help="print a shipped template as shipped",
        description=(
            f"Print the JSON of a shipped {CONTRACT} template exactly as shipped. NAME is a "
            "template (od1_small_v1, od1_real_v1, od1_stress_v1) or preset (od1_canon_small, "
            "od1_canon_real, od1_canon_stress). Exit 0; 2 unknown name."
        ),
    )
    s.add_argument("name", metavar="NAME")
    s.set_defaults(handler=cmd_show)


def _add_list(sub: argparse._SubParsersAction[argparse.ArgumentParser], commands: Commands) -> None:
    ls = sub.add_parser(
        "list",
        parents=commands.parents,
        help="list the shipped templates with their preset names and ids",
        description=f"One line per shipped {CONTRACT} template: template, preset, workload_id. Exit 0.",
    )
    ls.set_defaults(handler=cmd_list)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return int(ExitCode.USAGE)


def label(arg: str) -> str:
    """The spec argument as output lines name it: paths and names as given, inline JSON shortened."""
    if arg.isprintable() and not arg.lstrip().startswith(("{", "[")):
        return arg
    # Inline JSON can be long and span lines; every output line must stay one line.
    flat = " ".join(arg.split())
    return flat if len(flat) <= _LABEL_CHARS else flat[: _LABEL_CHARS - 3] + "..."


@dataclass(frozen=True, slots=True)
class _Checked:
    """One spec argument after loading and validation: an id, or the lines that say why not."""

    wid: str | None
    canonical: dict[str, object] | None
    errors: list[str]


def _check(arg: str) -> _Checked:
    try:
        obj = load_spec_arg(arg)
    except SpecLoadError as exc:
        return _Checked(None, None, [exc.reason])  # the line's prefix already names the spec
    try:
        canonical = canonicalize_spec(obj)
    except WorkloadSpecError as exc:
        return _Checked(None, None, [str(p) for p in exc.problems])
    return _Checked(workload_id(canonical), canonical, [])


def cmd_validate(args: argparse.Namespace) -> int:
    failed = False
    for arg in args.specs:
        checked = _check(arg)
        name = label(arg)
        if checked.wid is not None:
            print(f"{name}: ok {checked.wid}")
            continue
        failed = True
        for line in checked.errors:
            print(f"{name}: {line}")
    return int(ExitCode.USAGE if failed else ExitCode.OK)


def cmd_id(args: argparse.Namespace) -> int:
    checked = _check(args.spec)
    if checked.wid is None or checked.canonical is None:
        name = label(args.spec)
        for line in checked.errors:
            print(f"vrx: {name}: {line}", file=sys.stderr)
        return int(ExitCode.USAGE)
    if not args.json:
        print(checked.wid)
        return int(ExitCode.OK)
    out = {"workload_id": checked.wid, **checked.canonical}
    print(json.dumps(out, indent=2, sort_keys=True, ensure_ascii=True))
    return int(ExitCode.OK)


def cmd_show(args: argparse.Namespace) -> int:
    try:
        text = template_text(args.name)
    except SpecLoadError as exc:
        raise UsageError(str(exc)) from None
    sys.stdout.write(text)
    return int(ExitCode.OK)


def cmd_list(args: argparse.Namespace) -> int:
    preset_of = {template: preset for preset, template in PRESETS.items()}
    rows = [("TEMPLATE", "PRESET", "WORKLOAD_ID")]
    for name in TEMPLATES:
        rows.append((name, preset_of.get(name, "-"), workload_id(load_template(name))))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    for row in rows:
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}")
    return int(ExitCode.OK)
