"""bundle_manifest.json on every run, and the manifest checks of vrx verify (missing, extra, hostile)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from vrx_core.events import Metric
from vrx_core.testing import write_log


@pytest.fixture
def run(tmp_path: Path, cli) -> Path:
    r = write_log(tmp_path / "run", [Metric("loss", 1.0, 1)])
    (r / "checkpoints").mkdir()
    (r / "checkpoints" / "last.pt").write_bytes(b"\x00" * 1000)
    assert cli("replay", str(r)).code == 0
    return r


def entries(run: Path) -> dict[str, dict[str, object]]:
    return {e["path"]: e for e in json.loads((run / "bundle_manifest.json").read_text())["files"]}


def test_any_run_carries_a_manifest(run: Path) -> None:
    """The manifest lists the log and the run's other files, sorted, not itself nor derived.json
    (run.md and summary.json: the telemetry plugin derives them for any run with a metric;
    plots/loss.png the plots plugin, metrics.parquet the query plugin)."""
    names = list(entries(run))
    assert names == sorted(names) == [
        "checkpoints/last.pt", "events.jsonl", "metrics.parquet", "plots/loss.png", "run.md", "summary.json"
    ]
    assert entries(run)["checkpoints/last.pt"]["size_bytes"] == 1000
    assert (run / "bundle_manifest.json").read_bytes().endswith(b"}\n")


def test_verify_reports_every_mismatch(run: Path, cli) -> None:
    """Missing, extra, resized and changed files are all reported, and the verdict is CORRUPT (65)."""
    (run / "checkpoints" / "last.pt").write_bytes(b"\x01" * 1000)  # changed, same size
    (run / "extra.bin").write_bytes(b"x")
    r = cli("verify", str(run))
    assert r.code == 65
    assert "last.pt: changed" in r.out and "extra.bin: extra file" in r.out
    (run / "checkpoints" / "last.pt").write_bytes(b"\x01" * 10)
    os.unlink(run / "events.jsonl")
    r = cli("verify", str(run))
    assert r.code == 66  # no log at all: no such run


def test_verify_resized_and_missing(run: Path, cli) -> None:
    """A resized member and a deleted one are both listed."""
    (run / "checkpoints" / "last.pt").write_bytes(b"\x00" * 10)
    manifest = json.loads((run / "bundle_manifest.json").read_text())
    manifest["files"].append({"path": "gone.txt", "size_bytes": 1, "hash": "0" * 16})
    (run / "bundle_manifest.json").write_text(json.dumps(manifest))
    out = cli("verify", str(run)).out
    assert "last.pt: resized" in out and "gone.txt: missing" in out


@pytest.mark.parametrize("hostile", ["../outside", "/etc/passwd", "a/../../b", "C:/x", "a\\b", "a/./b", ""])
def test_verify_refuses_hostile_paths(run: Path, cli, hostile: str) -> None:
    """A manifest naming a path outside the bundle is rejected whole, without reading it."""
    manifest = json.loads((run / "bundle_manifest.json").read_text())
    manifest["files"].append({"path": hostile, "size_bytes": 1, "hash": "0" * 16})
    (run / "bundle_manifest.json").write_text(json.dumps(manifest))
    r = cli("verify", str(run))
    assert r.code == 65 and "manifest rejected" in r.out


def test_symlink_member_is_refused_when_verifying_and_writing(run: Path, tmp_path: Path, cli) -> None:
    """A listed file replaced by a symlink fails verify; replay refuses to list a symlink."""
    outside = tmp_path / "secret"
    outside.write_bytes(b"\x00" * 1000)
    (run / "checkpoints" / "last.pt").unlink()
    (run / "checkpoints" / "last.pt").symlink_to(outside)
    r = cli("verify", str(run))
    assert r.code == 65 and "last.pt" in r.out
    r = cli("replay", str(run))
    assert r.code == 70 and "symlink" in r.err
