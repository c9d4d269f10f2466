"""Where plugins come from and why one was skipped: the user's selection, file imports, locations.

The plugin manager (:mod:`vrx_core.hooks.manager`) drives loading; this module holds the parts that
know nothing of pluggy: parsing ``-p``/``--plugins-dir``/``$VRX_LOAD_PLUGINS``, importing a plugin
file, and finding the ``file:line`` a failure points at.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from vrx_core.errors import PluginError, UsageError

ENTRY_POINT_GROUP = "vrx"


CORE_DIST = "vrx-core"


#: The vrx-core extra that provides a missing top-level module, for the "install ..." hint.
EXTRA_FOR_MODULE: dict[str, str] = {"torch": "torch", "numpy": "torch", "pynvml": "nvml"}


@dataclass(frozen=True)
class SkippedPlugin:
    """A plugin that was not loaded, and why: what the warning line and exit 69 messages show."""

    name: str
    hook: str  # "import", "vrx_event_kinds", "tag clash", ...
    reason: str  # "ModuleNotFoundError: No module named 'torch'"
    where: str | None = None  # "plugins/x/__init__.py:12"
    missing_module: str | None = None

    @property
    def install_hint(self) -> str | None:
        if self.missing_module is None:
            return None
        extra = EXTRA_FOR_MODULE.get(self.missing_module)
        if extra is not None:
            return f"install the extra: pip install 'vrx-core[{extra}]'"
        return f"install the module {self.missing_module!r}"

    def render(self) -> str:
        at = f" ({self.where})" if self.where else ""
        hint = f"; {self.install_hint}" if self.install_hint else ""
        return f"plugin {self.name} skipped: {self.hook} failed: {self.reason}{at}{hint}"

    def as_error(self) -> PluginError:
        at = f" ({self.where})" if self.where else ""
        return PluginError(f"{self.reason}{at}", plugin=self.name, hook=self.hook)


def _split_names(value: str) -> list[str]:
    return [n.strip() for n in value.split(",") if n.strip()]


@dataclass
class Selection:
    """The user's plugin choices: -p, -p no:, --plugins-dir, and the environment."""

    enable: list[str] = field(default_factory=list)
    block: set[str] = field(default_factory=set)
    dirs: list[Path] = field(default_factory=list)
    only: set[str] | None = None

    @classmethod
    def from_argv(cls, argv: Sequence[str], environ: dict[str, str] | None = None) -> Selection:
        env = os.environ if environ is None else environ
        sel = cls()
        args = list(argv)
        for i, arg in enumerate(args):
            value: str | None = None
            if arg in ("-p", "--plugin") and i + 1 < len(args):
                value = args[i + 1]
            elif arg.startswith("-p") and len(arg) > 2 and not arg.startswith("--"):
                value = arg[2:]
            elif arg.startswith("--plugin="):
                value = arg.split("=", 1)[1]
            if value is not None:
                if value.startswith("no:"):
                    sel.block.add(value[3:])
                else:
                    sel.enable.append(value)
            if arg == "--plugins-dir" and i + 1 < len(args):
                sel.dirs.append(Path(args[i + 1]))
            elif arg.startswith("--plugins-dir="):
                sel.dirs.append(Path(arg.split("=", 1)[1]))
        for d in env.get("VRX_PLUGINS_DIR", "").split(os.pathsep):
            if d:
                sel.dirs.append(Path(d))
        if "VRX_LOAD_PLUGINS" in env:
            sel.only = set(_split_names(env["VRX_LOAD_PLUGINS"]))
        return sel

    def allows(self, name: str) -> bool:
        if name in self.block:
            return False
        return self.only is None or name in self.only or name in self.enable


def pending_message(text: str) -> str:
    """pluggy's "unknown hook 'x' in plugin <module ...>" without the object's repr."""
    hook = text.split("unknown hook ", 1)[-1].split(" in plugin", 1)[0]
    return f"unknown hook {hook} (misspelled? see docs/hooks.md for the hook names)"


def import_plugin_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except (ImportError, ValueError, TypeError) as exc:
        raise UsageError(f"cannot import plugin module {name!r}: {exc}") from None


def import_plugin_file(name: str, path: Path) -> ModuleType:
    mod_name = f"vrx_plugins_dir.{name}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot load plugin file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[mod_name]
        raise
    return module


def class_origin(cls: Any) -> str | None:
    try:
        file = inspect.getsourcefile(cls)
        line = inspect.getsourcelines(cls)[1]
    except (OSError, TypeError):
        return None
    return f"{_short_path(Path(file))}:{line}" if file else None


def importable(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it (an optional extra's module
    asked about on every replay; ``sys.modules[module] = None`` counts as not importable)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def module_origin(module: str) -> Path | None:
    """The file or package directory of ``module`` (an entry point's ``pkg.mod[:attr]``), unimported."""
    try:
        spec = importlib.util.find_spec(module.split(":", maxsplit=1)[0])
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin)
    return path.parent if path.name == "__init__.py" else path


def failure_location(exc: BaseException, origin: Path | None) -> str | None:
    """``file:line`` of the deepest traceback frame inside the plugin (its file or package)."""
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        return f"{_short_path(Path(exc.filename))}:{exc.lineno}"
    found: str | None = None
    tb = exc.__traceback__
    root = origin.resolve() if origin is not None else None
    while tb is not None:
        file = Path(tb.tb_frame.f_code.co_filename)
        if root is not None and (file.resolve() == root or root in file.resolve().parents):
            found = f"{_short_path(file)}:{tb.tb_lineno}"
        tb = tb.tb_next
    return found


def _short_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it (shorter warnings)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


#: File names in a plugins directory that are never plugins (tests and their configuration).
_NOT_PLUGINS = ("test_*.py", "*_test.py", "conftest.py")


def plugin_files(directory: Path) -> list[Path]:
    """The files of ``directory`` that ``--plugins-dir`` loads, in name order.

    A plugin file is a ``*.py`` file that is not private (``_x.py``), not a test (``test_*.py``,
    ``*_test.py``, ``conftest.py``) and mentions ``hookimpl``: scripts and helpers kept beside
    plugins (the examples directory holds a training script) are neither imported nor listed.
    """
    return [
        path
        for path in sorted(directory.glob("*.py"))
        if not path.name.startswith("_")
        and not any(path.match(pattern) for pattern in _NOT_PLUGINS)
        and _mentions_hookimpl(path)
    ]


def _mentions_hookimpl(path: Path) -> bool:
    try:
        return b"hookimpl" in path.read_bytes()
    except OSError:
        return True  # let the import report why it cannot be read
