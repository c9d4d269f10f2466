"""What vrx hands to plugins outside a replay: the command table and the loaded plugin set's view."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from vrx_core.events import EventRegistry


class LoadedPlugins(Protocol):
    """The loaded plugin set as hooks see it (a :class:`vrx_core.hooks.manager.PluginSet`)."""

    @property
    def registry(self) -> EventRegistry: ...


@dataclass
class Commands:
    """Handed to ``vrx_add_commands``: plugins add subcommands through :meth:`add`."""

    subparsers: Any
    parents: list[argparse.ArgumentParser] = field(default_factory=list)

    def add(
        self, name: str, *, help: str, description: str | None = None, handler: Callable[[Any], int]
    ) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = self.subparsers.add_parser(
            name, help=help, description=description or help, parents=self.parents
        )
        parser.set_defaults(handler=handler)
        return parser


def common_options() -> argparse.ArgumentParser:
    """Options every command accepts; they are read before parsing, to load plugins."""
    p = argparse.ArgumentParser(add_help=False)
    # Accepted after the command too; SUPPRESS keeps a subcommand from resetting the global flag.
    p.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks for errors (the exit code stays the documented one)",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="more diagnostics on stderr (-vv for debug)",
    )
    add_plugin_options(p)
    return p


def add_plugin_options(parser: argparse.ArgumentParser) -> None:
    """``-p NAME`` and ``--plugins-dir DIR``: accepted before and after the command.

    The plugin set is chosen from the raw command line before parsing (it decides which commands
    exist), so the parsed values are only for the record.
    """
    g = parser.add_argument_group("plugins")
    g.add_argument(
        "-p",
        dest="plugin_opts",
        action="append",
        default=[],
        metavar="NAME",
        help="load plugin module NAME, or block a plugin with -p no:NAME (repeatable)",
    )
    g.add_argument(
        "--plugins-dir",
        dest="plugin_dirs",
        action="append",
        default=[],
        metavar="DIR",
        help="load the plugin files in DIR: every *.py that mentions hookimpl, except _private "
        "and test files (also $VRX_PLUGINS_DIR)",
    )
