"""Which code a replay ran: each loaded plugin's name, version and a hash of its source.

``derived.json`` records this set under ``plugins`` (``{name: {"version": ..., "code": ...}}``),
so a later replay can tell whether the files were derived by the plugins it has now (``vrx fleet
replay`` skips a run whose record matches), and fleet workers compare theirs with the client's.

A plugin's code hash is the sha256 over its source files: for a package (a module whose file is
``__init__.py``) every ``*.py`` file below the package directory (``__pycache__`` and hidden
directories left out), for a single-file module that file alone. Each file contributes its path
relative to the package directory, its size and its bytes, in sorted order of the relative paths,
so renaming or moving a file changes the hash too. The hash is computed once per loaded module
per process. A plugin whose source cannot be found (a namespace package, an object built at run
time) records ``"?"``.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vrx_core.hooks.manager import PluginSet

#: What a plugin without findable source records as its code hash.
UNKNOWN = "?"

#: module name -> (the module object hashed, its hash): a module re-imported from a plugins
#: directory is a new object, and is hashed again.
_CACHE: dict[str, tuple[ModuleType, str]] = {}


def plugin_record(plugins: PluginSet) -> dict[str, dict[str, str]]:
    """``{name: {"version": ..., "code": ...}}`` for every plugin loaded in ``plugins``, by name."""
    return {
        name: {"code": code_of(plugins.pm.get_plugin(name)), "version": info.version}
        for name, info in sorted(plugins.infos.items())
    }


def fingerprint(plugins: PluginSet) -> dict[str, tuple[str, str]]:
    """``{name: (version, code hash)}``: what a fleet client sends with each chunk of runs."""
    return {name: (r["version"], r["code"]) for name, r in plugin_record(plugins).items()}


def code_of(plugin: Any) -> str:
    """The code hash of a registered plugin (a module, a class or an instance), or ``"?"``."""
    module = _module_of(plugin)
    if module is None:
        return UNKNOWN
    cached = _CACHE.get(module.__name__)
    if cached is not None and cached[0] is module:
        return cached[1]
    digest = _hash_module(module)
    _CACHE[module.__name__] = (module, digest)
    return digest


def clear_cache() -> None:
    """Forget every hash computed so far (a forked worker hashes what it loads itself)."""
    _CACHE.clear()


def _module_of(plugin: Any) -> ModuleType | None:
    if isinstance(plugin, ModuleType):
        return plugin
    name = getattr(plugin, "__module__", None) or getattr(type(plugin), "__module__", None)
    return sys.modules.get(name) if isinstance(name, str) else None


def _hash_module(module: ModuleType) -> str:
    file = getattr(module, "__file__", None)
    if not isinstance(file, str):
        return UNKNOWN
    path = Path(file)
    try:
        if path.name == "__init__.py":
            return source_hash(path.parent, sorted(_package_files(path.parent)))
        return source_hash(path.parent, [path.name])
    except OSError:
        return UNKNOWN


def _package_files(top: Path) -> list[str]:
    found = []
    for d, dirs, files in os.walk(top):
        dirs[:] = [x for x in dirs if not x.startswith(".") and x != "__pycache__"]
        rel = Path(d).relative_to(top)
        found += [(rel / f).as_posix() for f in files if f.endswith(".py")]
    return found


def source_hash(top: Path, relpaths: list[str]) -> str:
    """sha256 over ``relpaths`` (relative to ``top``, already in order): path, size, bytes each."""
    h = hashlib.sha256()
    for rel in relpaths:
        data = (top / rel).read_bytes()
        h.update(f"{rel}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


__all__ = ["UNKNOWN", "clear_cache", "code_of", "fingerprint", "plugin_record", "source_hash"]
