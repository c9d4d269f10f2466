"""Every hook a vrx plugin can implement, documented the way pytest documents its hooks.

A plugin is a module (or object) with functions decorated by :data:`vrx_core.hookimpl` and named
after the hooks below. Call hooks with keyword arguments only. Hooks are grouped by phase:

* **registration** (called once when the plugin set is loaded): :func:`vrx_add_hookspecs`,
  :func:`vrx_event_kinds`, :func:`vrx_upcasters`, :func:`vrx_add_commands`;
* **derivation** (called once per replay or tail): :func:`vrx_deriver`;
* **following** (called once per tail): :func:`vrx_alert_rules`;
* **checks and demo**: :func:`vrx_verify_run`, :func:`vrx_run_verdict` (``vrx ls``), :func:`vrx_demo`;
* **recording** (in the recording process): :func:`vrx_end_of_run`.

Per-event work never goes through pluggy: :func:`vrx_deriver` returns a :class:`Deriver` whose
``on_event`` the replay engine calls through a dispatch table built once per replay (a pluggy call
costs about 6 us with 5 implementations; decoding a line about 0.3 us); :func:`vrx_alert_rules`
likewise returns an object the follower dispatches to.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from vrx_core.events import Event
    from vrx_core.hooks.api import AlertRules, Deriver, ReplayContext
    from vrx_core.hooks.host import Commands, LoadedPlugins
    from vrx_core.upcast import Upcaster

PROJECT = "vrx"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -- registration -------------------------------------------------------------------------------


@hookspec(historic=True)
def vrx_add_hookspecs(pluginmanager: pluggy.PluginManager) -> None:
    """Add hook specifications of a plugin's own (for example camera backends of ``frame_triage``).

    Historic, so a plugin registered later still sees the call and can add its specs before
    :meth:`~pluggy.PluginManager.check_pending` runs.

    :param pluginmanager: the vrx plugin manager; call ``pluginmanager.add_hookspecs(module)``.

    .. versionadded:: 0.1
    """


@hookspec
def vrx_event_kinds() -> list[type[Event]]:
    """Return the event kinds this plugin defines, so logs that contain them decode typed.

    Each kind subclasses :class:`vrx_core.events.Event` with an explicit snake_case ``tag``
    (namespace it, e.g. ``triage.frame``). Kinds of all plugins are collected into one registry;
    two plugins registering the same tag is an error.

    :return: a list of Event subclasses.

    .. versionadded:: 0.1
    """
    raise NotImplementedError


@hookspec
def vrx_upcasters() -> list[tuple[str, int, Upcaster]]:
    """Return upcasters ``(kind_tag, from_version, fn)`` for kinds whose schema version was bumped.

    ``fn(d) -> d`` lifts a raw stored event dict from ``from_version`` to ``from_version + 1``; the
    reader chains them so plugins only ever see the current shape. Must be pure.

    .. versionadded:: 0.1
    """
    raise NotImplementedError


@hookspec
def vrx_add_commands(commands: Commands) -> None:
    """Add ``vrx`` subcommands.

    :param commands: call ``commands.add(name, help=..., description=..., handler=fn)``; it returns
        the :class:`argparse.ArgumentParser` to add arguments to. ``handler(args) -> int`` returns
        the exit code; raise :class:`vrx_core.errors.VrxError` subclasses for user errors.

    Called only when the command may be a plugin's (``vrx --help``, ``vrx plugins``, a word that
    is not a core command): core commands do not import plugins' command modules.

    .. versionadded:: 0.1
    """


# -- derivation ---------------------------------------------------------------------------------


@hookspec
def vrx_deriver(context: ReplayContext) -> Deriver | None:
    """Return a fresh :class:`vrx_core.hooks.api.Deriver` for one replay (or tail), or None.

    Called once at the start of every replay, before any event. The deriver keeps its own state
    while events stream in (its ``@handles(EventClass)`` methods, or ``on_event``), reports its
    current values at any time (``snapshot``, shown by ``vrx tail``) and writes the files it
    declared (``outputs``/``run_outputs``) at the end (``finish``). It must not read the wall
    clock or anything outside the log: replaying the same log must give the same bytes.

    :param context: where the run and the output are, and the event registry.
    :return: a Deriver, or None when this plugin derives nothing.

    .. versionadded:: 0.1
    """
    raise NotImplementedError


# -- following ----------------------------------------------------------------------------------


@hookspec
def vrx_alert_rules(context: ReplayContext, stall_after_s: float) -> AlertRules | None:
    """Return fresh :class:`vrx_core.hooks.api.AlertRules` for one tail (``vrx tail``, ``follow``), or None.

    Called once when a follower starts, before any event. The follower builds a dispatch table
    (event kind -> rules) from the rules' ``consumes`` (event classes and/or kind tags; refine with
    ``wants``) and calls ``on_event(event) -> list[Alert]`` for each wanted event in seq order, and
    ``on_idle(seconds) -> list[Alert]`` while the run is quiet but its writer alive. Each alert is
    shown as a notice (its ``kind``, ``level``, ``seq``, ``message`` and the plugin's name) in the
    live view, the plain lines and ``--json``, and yielded by ``follow(..., notices=True)``. A rules
    object that raises is dropped with a ``plugin_failed`` notice; the tail goes on without it.

    The core's own rules (``nan``, ``oom``, ``error``, ``stall``) are an implementation of this hook
    (:mod:`vrx_core.follow.core_alerts`), always applied.

    :param context: the run directory and the event registry (``out_dir`` is None: a tail writes nothing).
    :param stall_after_s: how long a quiet run with a live writer may stay quiet before the user
        wants a warning (``vrx tail --stall-after``, default 60); rules may use it or their own limits.
    :return: an AlertRules, or None when this plugin raises no alerts.

    .. versionadded:: 0.2
    """
    raise NotImplementedError


# -- checks and demo ----------------------------------------------------------------------------


@hookspec
def vrx_verify_run(run_dir: Path) -> list[str]:
    """Check a run directory beyond its log (``vrx verify``); return one line per problem.

    Any problem makes the verdict CORRUPT (exit 65). A line starting with ``note: `` is only
    shown (e.g. a stale manifest of a log that grew). Return an empty list when all is well or
    when the plugin has nothing to check in this run.

    .. versionadded:: 0.1
    """
    raise NotImplementedError


@hookspec
def vrx_run_verdict(run_dir: Path) -> str | None:
    """Return this plugin's short verdict on a run (``PASS``, ``FAIL``, ``acc 0.93``), or None.

    ``vrx ls`` calls it once per listed run and shows every plugin's answer beside the run. Read
    only your own derived files (``vrx_core.engine.runinfo.derived_by`` tells whose a shared name
    such as ``metrics.json`` is), never the log, and return None quickly for a run that has
    nothing of yours: a listing asks thousands of runs. A verdict that raises is shown as
    ``error: <Exception>`` for that run; the listing goes on.

    .. versionadded:: 0.2
    """
    raise NotImplementedError


@hookspec
def vrx_end_of_run(run_dir: Path, console: Any) -> None:
    """Print this plugin's end-of-run summary of the run that just ended (a Rich table, say).

    Called by :meth:`Recorder.close <vrx_core.Recorder.close>` when the run's output is a
    terminal (or ``Recorder(summary=True)``), never when piped. Read what you need from the run
    directory; print nothing for a run that has nothing of yours. A failure here is reported as
    one warning line and never affects the recorded run.

    :param console: a ``rich.console.Console`` writing to the terminal.

    .. versionadded:: 0.2
    """


@hookspec
def vrx_demo(parent: Path, plugins: LoadedPlugins) -> list[str]:
    """Record a small demo run of this plugin under ``parent`` for ``vrx demo``; return lines to print.

    :param plugins: the loaded plugin set (its registry for recording, itself for replaying).

    .. versionadded:: 0.1
    """
    raise NotImplementedError


def _documented_hooks() -> list[str]:
    return sorted(name for name in globals() if name.startswith("vrx_"))


HOOK_NAMES: list[str] = _documented_hooks()

__all__ = ["HOOK_NAMES", "PROJECT", "hookimpl", "hookspec"]
