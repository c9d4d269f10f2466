"""The tree shows the architecture: layers that only import downwards, no cycles, small modules."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "vrx_core"
PLUGINS = ROOT / "plugins"

#: Lower layers never import higher ones. The top-level modules are the bottom layer.
LAYERS = ["", "capture", "log", "integrations", "hooks", "engine", "follow", "cli"]
TOP_LEVEL = {"__init__", "__main__", "_version", "codec", "errors", "events", "testing", "upcast"}
#: Public entry points that may reach any layer (lazily, in the case of ``vrx_core/__init__``).
ENTRY_POINTS = {"vrx_core", "vrx_core.__main__", "vrx_core.testing"}
#: Imports inside functions that reach up a layer, each on purpose (the docstring at the site says why).
LATE_BOUND = {
    ("vrx_core.log.reader", "vrx_core.hooks.manager"),
    ("vrx_core.log.start", "vrx_core.hooks.manager"),
    ("vrx_core.log.start", "vrx_core.engine.replay"),
}
MAX_LINES = 500


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _imports(tree: ast.AST, module: str, known: set[str], *, top_only: bool) -> Iterator[str]:
    """vrx_core modules imported by ``tree``; ``top_only`` skips function bodies."""
    nodes: list[ast.AST] = [tree]
    while nodes:
        node = nodes.pop()
        for child in ast.iter_child_nodes(node):
            if top_only and isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            nodes.append(child)
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("vrx_core"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vrx_core"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                yield sub if sub in known else node.module


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else 0


def _graph(*, top_only: bool) -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {
        name: {m for m in _imports(ast.parse(path.read_text()), name, known, top_only=top_only) if m != name}
        for name, path in mods.items()
    }


def test_top_level_holds_only_the_public_foundation() -> None:
    assert {p.stem for p in SRC.glob("*.py")} == TOP_LEVEL
    assert {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == set(LAYERS[1:])


def test_layers_only_import_downwards() -> None:
    wrong = []
    for top_only in (True, False):
        for module, deps in _graph(top_only=top_only).items():
            if module in ENTRY_POINTS:
                continue
            for dep in deps:
                upward = dep in ENTRY_POINTS - {"vrx_core"} or (
                    dep != "vrx_core" and _layer(dep) > _layer(module)
                )
                if upward and (top_only or (module, dep) not in LATE_BOUND):
                    wrong.append(f"{module} -> {dep}")
    assert not wrong, "imports that go up a layer:\n" + "\n".join(sorted(set(wrong)))


def test_no_import_cycles() -> None:
    graph = _graph(top_only=True)
    graph["vrx_core"] = set()  # the package's lazy __getattr__ is not an import
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_the_core_never_imports_a_plugin() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in SRC.rglob("*.py")
        for node in ast.walk(ast.parse(p.read_text()))
        if (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vrx_plugins"))
        or (isinstance(node, ast.Import) and any(a.name.startswith("vrx_plugins") for a in node.names))
    ]
    assert not offenders


def test_modules_stay_small() -> None:
    big = {
        str(p.relative_to(ROOT)): n
        for p in [*SRC.rglob("*.py"), *PLUGINS.rglob("*.py")]
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not big, f"modules over {MAX_LINES} lines: {big}"
