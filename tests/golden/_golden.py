"""Shared by the golden test and regen.py: replay one golden case into a directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from vrx_core.codec import canonical_json
from vrx_core.engine.replay import replay
from vrx_core.hooks.manager import PluginSet, Selection
from vrx_core.testing import read_files

GOLDEN = Path(__file__).resolve().parent
ROOT = GOLDEN.parents[1]
INPUTS = {"events.jsonl", "case.json"}


def cases() -> list[Path]:
    return sorted(p for p in GOLDEN.iterdir() if (p / "case.json").exists())


def plugins_for(case: Path) -> PluginSet:
    spec = json.loads((case / "case.json").read_text())
    only = spec.get("load")
    return PluginSet.load(
        Selection(
            dirs=[ROOT / d for d in spec.get("plugins_dirs", [])],
            only=set(only) if only is not None else None,
        )
    )


def derive(case: Path, workdir: Path) -> dict[str, bytes]:
    """Copy the case's inputs into ``workdir``, replay there, return every derived file."""
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(case / "events.jsonl", workdir / "events.jsonl")
    replay(workdir, plugins_for(case))
    files = {k: v for k, v in read_files(workdir).items() if k not in INPUTS}
    if "derived.json" in files:
        files["derived.json"] = masked_code_hashes(files["derived.json"])
    return files


def masked_code_hashes(provenance: bytes) -> bytes:
    """derived.json with every plugin's code hash replaced by "*": the hash follows any edit of a
    plugin's source (a comment, a command), not what the plugin derives, so goldens do not pin it."""
    data = json.loads(provenance)
    for entry in data.get("plugins", {}).values():
        entry["code"] = "*"
    return canonical_json(data)


def expected(case: Path) -> dict[str, bytes]:
    return {k: v for k, v in read_files(case).items() if k not in INPUTS and k != "README.md"}
