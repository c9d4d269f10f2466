"""Plugin discovery and the plugin manager (pluggy, project ``vrx``).

Where plugins come from, in load order:

1. the entry-point group ``vrx`` of installed distributions; the built-in plugins are registered
   there by vrx-core's own ``pyproject.toml`` (no back door);
2. ``--plugins-dir DIR`` and ``$VRX_PLUGINS_DIR`` (``os.pathsep``-separated): every ``*.py`` file
   not starting with ``_`` is loaded as a plugin named after the file;
3. ``-p MODULE``: import a module by name and register it.

``-p no:NAME`` blocks a plugin; ``$VRX_LOAD_PLUGINS`` (comma-separated names) restricts loading to
those names (an empty value loads none). After loading, ``check_pending()`` makes a misspelled
hook fail loudly.

Isolation: a plugin whose import raises (a missing optional dependency such as torch), whose
registration hooks raise (``vrx_add_hookspecs``, ``vrx_event_kinds``, ``vrx_upcasters``,
``vrx_add_commands``), or whose event tag clashes with another's is skipped, whole, with one
:class:`SkippedPlugin` naming it, the file and line, and the extra to install. Every other plugin and
command keeps working; a command that needs a skipped plugin exits 69 (``ExitCode.UNAVAILABLE``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pluggy

from vrx_core._version import __version__
from vrx_core.errors import PluginError, UsageError, VrxError
from vrx_core.events import EventRegistry, core_registry
from vrx_core.hooks import specs as hookspecs
from vrx_core.hooks.api import Deriver, ReplayContext
from vrx_core.hooks.discovery import (
    CORE_DIST,
    ENTRY_POINT_GROUP,
    Selection,
    SkippedPlugin,
    class_origin,
    failure_location,
    import_plugin_file,
    import_plugin_module,
    module_origin,
    pending_message,
    plugin_files,
)
from vrx_core.hooks.host import Commands, common_options


@dataclass(frozen=True)
class PluginInfo:
    """What ``vrx plugins`` shows about one loaded plugin."""

    name: str
    version: str
    source: str  # "built-in", "entry point <dist>", "plugins dir <path>", "-p"
    module: str


def new_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager with vrx's hookspecs and no plugin loaded (the ``pm`` test fixture)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


class PluginSet:
    """The loaded plugins, their event kinds, and the ways to use them (derivers, commands, checks)."""

    def __init__(self, pm: pluggy.PluginManager | None = None) -> None:
        self.pm = pm or new_plugin_manager()
        self.infos: dict[str, PluginInfo] = {}
        self.registry: EventRegistry = core_registry()
        self._finalized = False
        #: Plugins that failed to load or register and were skipped (``strict=False``), by name.
        self.skipped: dict[str, SkippedPlugin] = {}
        #: Selection names that match no plugin (a typo in VRX_LOAD_PLUGINS or -p no:NAME).
        self.warnings: list[str] = []
        self._strict = True

    # -- loading ----------------------------------------------------------------------------------

    @classmethod
    def load(
        cls, selection: Selection | None = None, *, entry_points: bool = True, strict: bool = True
    ) -> PluginSet:
        """Discover and register plugins per ``selection``; then check hooks and collect kinds.

        ``strict`` raises PluginError for a plugin that cannot load, misnames a hook or fails to
        register; otherwise that plugin is skipped and described in ``skipped`` (a broken
        third-party plugin, or one whose optional dependency is missing, must not stop ``vrx verify``).
        """
        sel = selection or Selection()
        ps = cls()
        ps._strict = strict
        for name in sel.block:
            ps.pm.set_blocked(name)
        # One scan of the installed distributions serves loading and the typo check below.
        eps = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
        if entry_points:
            # Every built-in plugin comes from one distribution: read its name and version once
            # (each ``dist.metadata`` parses the METADATA file again).
            dists: dict[metadata.Distribution | None, tuple[str, str]] = {}
            for ep in eps:
                if sel.allows(ep.name):
                    if ep.dist not in dists:
                        dists[ep.dist] = _name_and_version(ep.dist)
                    ps._load_entry_point(ep, *dists[ep.dist])
        for d in sel.dirs:
            ps.load_dir(d, sel)
        for name in sel.enable:
            if name not in ps.infos and name not in sel.block:
                ps.register_module(name, import_plugin_module(name), source="-p")
        ps.finalize()
        loaded = set(ps.infos)
        named = (("VRX_LOAD_PLUGINS", (sel.only or set()) - loaded), ("-p no:NAME", sel.block - loaded))
        if any(names for _, names in named):
            known = ps._known_names(sel, eps)
            ps.warnings += [
                f"{origin} names {name!r}, which is not an available plugin"
                for origin, names in named
                for name in sorted(names - known)
            ]
        return ps

    def _known_names(self, sel: Selection, eps: Iterable[metadata.EntryPoint]) -> set[str]:
        """Plugin names that exist (loaded or not): entry points and plugins-dir files."""
        names = {ep.name for ep in eps}
        for d in sel.dirs:
            names |= {p.stem for p in plugin_files(d)} if d.is_dir() else set()
        return names

    @classmethod
    def from_argv(cls, argv: Sequence[str]) -> PluginSet:
        return cls.load(Selection.from_argv(argv), strict=False)

    @property
    def load_errors(self) -> list[PluginError]:
        """The skipped plugins as errors (one per plugin), in the order they were skipped."""
        return [s.as_error() for s in self.skipped.values()]

    def _skip(self, skipped: SkippedPlugin, *, registered: bool = True) -> None:
        """Drop a plugin whole (strict: raise), so nothing of it stays half-registered.

        ``registered=False`` when the failing plugin never got in (a second plugin of a name
        already loaded): the one under that name stays.
        """
        if self._strict:
            raise skipped.as_error()
        self.skipped.setdefault(skipped.name, skipped)
        plugin = self.pm.get_plugin(skipped.name) if registered else None
        if plugin is not None:
            self.pm.unregister(plugin)
            self.infos.pop(skipped.name, None)

    def _skip_for(self, name: str, hook: str, exc: BaseException, origin: Path | None = None) -> None:
        missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
        self._skip(
            SkippedPlugin(
                name=name,
                hook=hook,
                reason=f"{type(exc).__name__}: {exc}",
                where=failure_location(exc, origin or self._origin(name)),
                missing_module=missing.split(".")[0] if missing else None,
            )
        )

    def _origin(self, name: str) -> Path | None:
        """The file or package directory a loaded plugin comes from (for file:line in warnings)."""
        module = sys.modules.get(self.infos[name].module) if name in self.infos else None
        file = getattr(module, "__file__", None)
        if file is None:
            return None
        path = Path(file)
        return path.parent if path.name == "__init__.py" else path

    def _load_entry_point(self, ep: metadata.EntryPoint, dist_name: str, version: str) -> None:
        try:
            obj = ep.load()
        except (Exception, SystemExit) as exc:
            self._skip_for(ep.name, "import", exc, module_origin(ep.module))
            return
        source = "built-in" if dist_name == CORE_DIST else f"entry point ({dist_name})"
        self.register_module(ep.name, obj, source=source, version=version)

    def load_dir(self, directory: Path, sel: Selection | None = None) -> None:
        if not directory.is_dir():
            raise UsageError(f"plugins directory does not exist: {directory}")
        for path in plugin_files(directory):
            name = path.stem
            if sel is not None and not sel.allows(name):
                continue
            try:
                module = import_plugin_file(name, path)
            except (Exception, SystemExit) as exc:
                self._skip_for(name, "import", exc, path)
                continue
            self.register_module(name, module, source=f"plugins dir ({directory})")

    def register_module(self, name: str, obj: Any, *, source: str, version: str | None = None) -> None:
        if self.pm.is_blocked(name):
            return
        if source.startswith("plugins dir") and not _has_hookimpls(obj):
            return  # a helper module or script beside the plugins: not a plugin, not listed
        if name in self.infos:
            reason = f"a plugin named {name!r} is already loaded from {self.infos[name].source}"
            self._skip(SkippedPlugin(name=name, hook="load", reason=reason), registered=False)
            return
        try:
            self.pm.register(obj, name=name)
        except pluggy.PluginValidationError as exc:
            self._skip(SkippedPlugin(name=name, hook="register", reason=str(exc)), registered=False)
            return
        ver = version or str(
            getattr(obj, "__version__", None) or (__version__ if source == "built-in" else "0")
        )
        module = getattr(obj, "__name__", type(obj).__name__)
        self.infos[name] = PluginInfo(name=name, version=ver, source=source, module=module)

    def finalize(self) -> None:
        """check_pending, then collect event kinds and upcasters into this set's registry.

        Each registration hook is called per plugin; a plugin that raises in one, or registers a
        tag another plugin (or the core) already has, is skipped whole.
        """
        self._add_hookspecs()
        while True:
            try:
                self.pm.check_pending()
                break
            except pluggy.PluginValidationError as exc:
                name = self.pm.get_name(exc.plugin) or "?"
                # _skip unregisters it (strict: raises), so the next check_pending moves on
                self._skip(SkippedPlugin(name=name, hook="check_pending", reason=pending_message(str(exc))))
        self.registry = self._build_registry()
        self._finalized = True

    def _add_hookspecs(self) -> None:
        for impl in self.pm.hook.vrx_add_hookspecs.get_hookimpls():
            try:
                impl.function(pluginmanager=self.pm)
            except Exception as exc:
                self._skip_for(impl.plugin_name, "vrx_add_hookspecs", exc)

    def _registrations(self, hook: str) -> dict[str, list[Any]]:
        """``hook``'s result per plugin; a plugin that raises is skipped."""
        found: dict[str, list[Any]] = {}
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            try:
                found[impl.plugin_name] = list(impl.function() or ())
            except Exception as exc:
                self._skip_for(impl.plugin_name, hook, exc)
        return found

    def _build_registry(self) -> EventRegistry:
        """The core kinds plus every plugin's kinds and upcasters; a plugin that clashes is dropped."""
        kinds = self._registrations("vrx_event_kinds")
        upcasters = self._registrations("vrx_upcasters")
        order = [n for n in self.infos if n in kinds or n in upcasters]
        while True:
            registry = core_registry()
            owner = dict.fromkeys(registry.tags(), "the core")
            for name in order:
                if name in self.skipped:
                    continue
                problem = _try_register(registry, owner, name, kinds.get(name, []), upcasters.get(name, []))
                if problem is not None:
                    self._skip(problem)
                    break  # rebuild without it: its kinds may already be in this registry
            else:
                return registry

    def _each(self, hook: str, **kwargs: Any) -> Iterable[tuple[str, Any]]:
        """Call ``hook`` on each plugin separately so a failure names its plugin."""
        caller = getattr(self.pm.hook, hook)
        for impl in caller.get_hookimpls():
            name = impl.plugin_name
            try:
                result = impl.function(**{k: kwargs[k] for k in impl.argnames})
            except VrxError:
                raise
            except Exception as exc:
                raise PluginError(f"{type(exc).__name__}: {exc}", plugin=name, hook=hook) from exc
            yield name, result

    # -- use --------------------------------------------------------------------------------------

    def derivers(self, context: ReplayContext) -> list[tuple[str, Deriver]]:
        """One fresh deriver per plugin that derives something, in (stage, plugin name) order."""
        found = [(name, d) for name, d in self._each("vrx_deriver", context=context) if d is not None]
        for name, d in found:
            if not isinstance(d, Deriver):
                raise PluginError(
                    f"vrx_deriver returned {type(d).__name__}, not a vrx_core.hooks.api.Deriver",
                    plugin=name,
                    hook="vrx_deriver",
                )
        return sorted(found, key=lambda nd: (nd[1].stage, nd[0]))

    def command_adders(self) -> list[Callable[[Any], None]]:
        def add(subparsers: Any) -> None:
            commands = Commands(subparsers, parents=[common_options()])
            for impl in self.pm.hook.vrx_add_commands.get_hookimpls():
                before = set(subparsers.choices)
                try:
                    impl.function(commands=commands)
                except Exception as exc:
                    _remove_subcommands(subparsers, set(subparsers.choices) - before)
                    self._skip_for(impl.plugin_name, "vrx_add_commands", exc)

        return [add]

    def verify_problems(self, run_dir: Path) -> list[str]:
        problems: list[str] = []
        for _, found in self._each("vrx_verify_run", run_dir=run_dir):
            problems.extend(found or ())
        return problems

    def end_of_run(self, run_dir: Path, console: Any) -> None:
        """Each plugin's end-of-run summary; a failing one is a warning, never an error."""
        for impl in self.pm.hook.vrx_end_of_run.get_hookimpls():
            try:
                impl.function(**{k: {"run_dir": run_dir, "console": console}[k] for k in impl.argnames})
            except Exception as exc:
                _warn(f"plugin {impl.plugin_name}: end-of-run summary failed: {type(exc).__name__}: {exc}")

    def run_verdicts(self, run_dir: Path) -> dict[str, str]:
        """Each plugin's ``vrx_run_verdict`` on a run, by plugin name (None answers left out).

        A plugin that raises gets ``error: <Exception>`` for this run: one plugin must not stop a
        listing of many runs.
        """
        verdicts: dict[str, str] = {}
        for impl in self.pm.hook.vrx_run_verdict.get_hookimpls():
            try:
                found = impl.function(**dict.fromkeys(impl.argnames, run_dir))
            except Exception as exc:
                found = f"error: {type(exc).__name__}"
            if found is not None:
                verdicts[impl.plugin_name] = str(found)
        return dict(sorted(verdicts.items()))

    def demo(self, parent: Path) -> list[str]:
        lines: list[str] = []
        for _, found in self._each("vrx_demo", parent=parent, plugins=self):
            lines.extend(found or ())
        return lines

    def hooks_of(self, name: str) -> list[str]:
        plugin = self.pm.get_plugin(name)
        if plugin is None:
            return []
        return sorted(h.name for h in self.pm.get_hookcallers(plugin) or ())

    def version_of(self, name: str) -> str:
        info = self.infos.get(name)
        return info.version if info else "?"

    def bind(self, args: argparse.Namespace) -> None:
        """Give command handlers access to the loaded plugins."""
        args.plugins = self
        args.pm_registry = lambda: self.registry
        args.plugin_verify_problems = self.verify_problems
        args.plugin_run_verdicts = self.run_verdicts


_INSTALLED: dict[tuple[str | None, str | None], EventRegistry] = {}


def installed_registry() -> EventRegistry:
    """The event registry of the installed plugins per the environment's selection, loaded once per
    process and selection (``$VRX_LOAD_PLUGINS``, ``$VRX_PLUGINS_DIR``). Skipped plugins are
    reported through vrx's diagnostics, never raised: reading must not fail for a broken plugin.

    Do not mutate the result; ``copy()`` it.
    """
    key = (os.environ.get("VRX_LOAD_PLUGINS"), os.environ.get("VRX_PLUGINS_DIR"))
    registry = _INSTALLED.get(key)
    if registry is None:
        registry = _INSTALLED[key] = installed_plugins().registry
    return registry


def installed_plugins() -> PluginSet:
    """The installed plugins per the environment's selection (``$VRX_LOAD_PLUGINS``,
    ``$VRX_PLUGINS_DIR``), loaded leniently: a broken plugin is skipped with a warning."""
    plugins = PluginSet.load(Selection.from_argv([]), strict=False)
    for skipped in plugins.skipped.values():
        _warn(skipped.render())
    return plugins


def _warn(message: str) -> None:
    from vrx_core.log import diagnostics

    diagnostics.get_logger().warning(message)


def _try_register(
    registry: EventRegistry, owner: dict[str, str], name: str, kinds: list[Any], upcasters: list[Any]
) -> SkippedPlugin | None:
    """Add one plugin's kinds and upcasters to ``registry``; describe why not when they clash."""
    for cls in kinds:
        tag = getattr(getattr(cls, "__struct_config__", None), "tag", None)
        if isinstance(tag, str) and tag in owner:
            return SkippedPlugin(
                name=name,
                hook="vrx_event_kinds",
                reason=f"event tag {tag!r} is already registered by {owner[tag]}",
                where=class_origin(cls),
            )
        try:
            registry.register(cls)
        except TypeError as exc:
            return SkippedPlugin(name=name, hook="vrx_event_kinds", reason=str(exc), where=class_origin(cls))
        owner[str(tag)] = f"plugin {name}"
    for step in upcasters:
        try:
            kind, version, fn = step
            registry.add_upcaster(kind, version, fn)
        except (TypeError, ValueError) as exc:
            return SkippedPlugin(name=name, hook="vrx_upcasters", reason=str(exc))
    return None


def _remove_subcommands(subparsers: Any, names: set[str]) -> None:
    """Take back the subcommands a failing ``vrx_add_commands`` had already added (argparse internals)."""
    for name in names:
        subparsers.choices.pop(name, None)
    subparsers._choices_actions[:] = [a for a in subparsers._choices_actions if a.dest not in names]


def _has_hookimpls(obj: Any) -> bool:
    marker = f"{hookspecs.PROJECT}_impl"
    return any(hasattr(getattr(obj, attr, None), marker) for attr in dir(obj) if attr.startswith("vrx_"))


def _name_and_version(dist: metadata.Distribution | None) -> tuple[str, str]:
    """A distribution's name and version from one parse of its METADATA file."""
    if dist is None:
        return "?", "?"
    meta = dist.metadata
    return meta["Name"], meta["Version"]
