"""Plugins never import one another: each can be missing or blocked on its own (-p no:NAME).

Code two plugins share lives in a library package under plugins/ (``vrx_plugins.bundles``): no
hooks, no ``vrx`` entry point, and it imports no plugin either.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "plugins"
TOP = "vrx_plugins"


def _entry_point_packages() -> set[str]:
    """The packages under vrx_plugins that pyproject registers as plugins."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    targets = project["entry-points"]["vrx"].values()
    return {t.split(":")[0].split(".")[1] for t in targets if t.startswith(f"{TOP}.")}


def _packages(root: Path = PLUGINS) -> set[str]:
    return {p.name for p in root.iterdir() if (p / "__init__.py").is_file()}


def _imported_packages(package: str, root: Path = PLUGINS) -> dict[str, set[str]]:
    """Which top-level vrx_plugins packages each module of ``package`` imports (absolute or relative)."""
    found: dict[str, set[str]] = {}
    packages = _packages(root)
    for path in sorted((root / package).rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        parts = [TOP, *rel.parts]
        is_init = parts[-1] == "__init__"
        if is_init:
            parts.pop()
        here = parts if is_init else parts[:-1]  # the package a relative import starts from
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[: len(here) - (node.level - 1)]
                    module = [*base, *(node.module.split(".") if node.module else [])]
                    # `from .. import x` may import the package x
                    names = [".".join([*module, a.name]) for a in node.names] if not node.module else []
                    names.append(".".join(module))
                else:
                    names = [node.module or ""]
            for name in names:
                bits = name.split(".")
                if bits[0] == TOP and len(bits) > 1 and bits[1] in packages:
                    targets.add(bits[1])
        found[f"plugins/{rel.as_posix()}.py"] = targets
    return found


def test_builtin_plugins_are_entry_points_and_libraries_are_not() -> None:
    plugins = _entry_point_packages()
    assert plugins == {
        "ant_ratio",
        "assoc_eval",
        "frame_triage",
        "gpu_probe",
        "gpu_telemetry",
        "manifest",
        "plots",
        "query",
        "run_telemetry",
        "runs",
        "web",
    }
    assert plugins <= _packages()
    assert {"bundles", "telemetry", "workloads"} <= _packages() - plugins


def test_no_plugin_imports_another_plugin() -> None:
    """A plugin package imports only itself and library packages; a library imports no plugin."""
    plugins = _entry_point_packages()
    wrong = []
    for package in sorted(_packages()):
        for module, targets in _imported_packages(package).items():
            others = (targets - {package}) & plugins
            wrong += [f"{module} imports plugin {t}" for t in sorted(others)]
    assert not wrong, "\n".join(wrong)


def test_the_scan_sees_relative_and_absolute_imports(tmp_path: Path) -> None:
    """The checker itself: both spellings of a cross-plugin import are caught."""
    fake = tmp_path / "plugins"
    for name, text in {
        "a": "from ..b.mod import thing\n",
        "c": "import vrx_plugins.b\n",
        "d": "from .. import b\n",
        "e": "from .local import x\nfrom ..lib import y\n",
    }.items():
        (fake / name).mkdir(parents=True)
        (fake / name / "__init__.py").write_text(text)
    (fake / "b").mkdir()
    (fake / "b" / "__init__.py").write_text("")
    (fake / "lib").mkdir()
    (fake / "lib" / "__init__.py").write_text("")
    seen = {pkg: set().union(*_imported_packages(pkg, fake).values()) for pkg in "acde"}
    assert seen == {"a": {"b"}, "c": {"b"}, "d": {"b"}, "e": {"e", "lib"}}
