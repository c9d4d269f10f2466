"""Every command the README and docs show runs, against a fresh demo run, with the exit code they say.

A shell line in a ```bash block is run when it starts with ``vrx``, ``echo``, ``cat``, ``RUN=`` or
``python`` and has no placeholder (``[...]``, ``SCENARIO.json``, ``BUNDLE_DIR``: upper-case words stand
for the reader's own values). Lines run in order, per document, in one shell, from a scratch
directory where ``vrx demo --out runs`` has just recorded a run; paths that name the repository's
files (``plugins/``, ``examples/``) point at the checkout. The expected exit code is 0 unless the
line's comment says ``# exit N``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNABLE = re.compile(r"^\s*(vrx\b|echo\b|cat\b|RUN=|python\b)")
PLACEHOLDER = re.compile(r"\[|(?<!\$)\b[A-Z][A-Z_]{2,}\b(?!=)|\bpath/to/")
SETUP = re.compile(r"pip install|python -m pytest|python3 -m venv")
#: Stand-ins for paths the docs name as examples of the reader's own.
STAND_INS = {
    "path/to/labops_bundle": str(ROOT / "tests" / "frame_triage" / "fixtures" / "labops_bundle"),
    "my_plugins/": str(ROOT / "examples") + "/",
    "runs/old-run": '"$RUN"',
}


def _commands(doc: Path) -> list[tuple[int, str]]:
    found = []
    text = doc.read_text()
    for block in re.finditer(r"```(?:bash|sh)\n(.*?)```", text, re.S):
        first = text.count("\n", 0, block.start()) + 2
        for i, line in enumerate(block.group(1).splitlines()):
            command = line.split("  #", 1)[0].strip()
            for old, new in STAND_INS.items():
                command = command.replace(old, new)
            if RUNNABLE.match(command) and not PLACEHOLDER.search(command) and not SETUP.search(command):
                found.append((first + i, line.strip()))
    return found


def _expected_code(line: str) -> int:
    m = re.search(r"#\s*exit (\d+)", line)
    return int(m.group(1)) if m else 0


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cwd = tmp_path_factory.mktemp("docs")
    for name in ("plugins", "examples"):
        (cwd / name).symlink_to(ROOT / name)
    return cwd


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VRX_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.mark.parametrize("doc", [d for d in DOCS if _commands(d)], ids=lambda d: d.name)
def test_every_command_shown_runs(doc: Path, scratch: Path) -> None:
    runs = scratch / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    shutil.rmtree(scratch / "out", ignore_errors=True)
    demo = subprocess.run(
        ["vrx", "demo", "--out", "runs"], cwd=scratch, env=_env(), capture_output=True, text=True, check=False
    )
    assert demo.returncode == 0, demo.stderr
    run = sorted(runs.glob("demo-*"))[-1]
    failures = []
    for lineno, line in _commands(doc):
        command = line.split("  #", 1)[0]
        for old, new in STAND_INS.items():
            command = command.replace(old, new)
        script = f'RUN="{run}"\n{command}\n'
        r = subprocess.run(
            ["bash", "-c", script],
            cwd=scratch,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if r.returncode != _expected_code(line):
            failures.append(f"{doc.name}:{lineno}: exit {r.returncode}: {line}\n{r.stderr.strip()[-500:]}")
    assert not failures, "\n".join(failures)


def test_the_readme_python_examples_run(scratch: Path) -> None:
    """Each ```python block of the README that uses vrx runs as shown (from a scratch directory)."""
    readme = (ROOT / "README.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "vrx_core" in b]
    assert blocks
    for code in blocks:
        r = subprocess.run(
            [sys.executable, "-c", code], cwd=scratch, env=_env(), capture_output=True, text=True, check=False
        )
        assert r.returncode == 0, f"{code}\n{r.stderr}"
