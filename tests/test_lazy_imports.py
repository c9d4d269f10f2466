"""Start-up stays light: the writer imports no plugin machinery, and --help/--version no heavy extras."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
{body}
mods = set(sys.modules)
print("\\n".join(sorted(m for m in mods if m.split(".")[0] in {roots!r} or m.startswith({prefixes!r}))))
"""

#: Never loaded by ``from vrx_core import Recorder``: every training rank pays for what it imports.
WRITER_MUST_NOT_LOAD = ("pluggy", "rich", "structlog")
WRITER_MUST_NOT_LOAD_CORE = ("vrx_core.hooks", "vrx_core.engine", "vrx_core.follow", "vrx_core.cli")
#: Never loaded by ``vrx --help`` / ``vrx --version``: plugins' heavy optional dependencies.
HEAVY = ("torch", "numpy", "pynvml", "dask", "duckdb", "matplotlib", "starlette", "uvicorn")


def _loaded(body: str, roots: tuple[str, ...], prefixes: tuple[str, ...] = ()) -> list[str]:
    code = PROBE.format(body=body, roots=set(roots), prefixes=prefixes or ("\0",))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return r.stdout.split()


def test_importing_the_recorder_loads_no_plugin_machinery() -> None:
    loaded = _loaded("from vrx_core import Recorder", WRITER_MUST_NOT_LOAD, WRITER_MUST_NOT_LOAD_CORE)
    assert loaded == []


@pytest.mark.parametrize("argv", [["--help"], ["--version"]])
def test_help_and_version_load_no_heavy_dependency(argv: list[str]) -> None:
    body = (
        "import contextlib, io\n"
        "from vrx_core.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        f"    main({argv!r})\n"
    )
    assert _loaded(body, HEAVY) == []


def test_version_loads_no_plugin() -> None:
    body = (
        "import contextlib, io\n"
        "from vrx_core.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--version'])\n"
    )
    assert _loaded(body, ("vrx_plugins", "pluggy")) == []


@pytest.mark.parametrize("argv", [["ls", "--help"], ["replay", "--help"]])
def test_a_core_command_imports_no_plugin_command_module(argv: list[str]) -> None:
    body = (
        "import contextlib, io\n"
        "from vrx_core.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        f"    main({argv!r})\n"
    )
    loaded = _loaded(body, ("vrx_plugins",))
    assert [m for m in loaded if m.rsplit(".", 1)[-1].endswith("cli")] == []
    assert "vrx_plugins.frame_triage" in loaded  # the plugins themselves are loaded


def test_help_lists_plugin_commands() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "vrx_core", "--help"], capture_output=True, text=True, check=True
    )
    assert "triage" in r.stdout and "probe" in r.stdout
