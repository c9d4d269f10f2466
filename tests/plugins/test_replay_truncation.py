"""A log cut or rewritten after a replay: replay refuses to erase the evidence, verify says CORRUPT."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vrx_core.events import Metric
from vrx_core.testing import write_log


@pytest.fixture
def replayed(cli, tmp_path: Path) -> Path:
    run = write_log(tmp_path / "run", [Metric("loss", 1 / i, i) for i in range(1, 200)])
    assert cli("replay", str(run)).code == 0
    return run


def _files(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run.iterdir()) if p.is_file()}


def test_a_truncated_log_is_refused_and_nothing_is_written(cli, replayed: Path) -> None:
    log = replayed / "events.jsonl"
    full = log.stat().st_size
    log.write_bytes(log.read_bytes()[: full // 2])
    before = _files(replayed)
    r = cli("replay", str(replayed))
    assert r.code == 65
    assert f"shorter than the {full} bytes (seq 0..201, complete) derived.json recorded" in r.err
    assert "--force" in r.err
    assert _files(replayed) == before
    assert cli("verify", str(replayed)).code == 65


def test_force_re_derives_and_keeps_the_evidence(cli, replayed: Path) -> None:
    log = replayed / "events.jsonl"
    full = log.stat().st_size
    old = json.loads((replayed / "derived.json").read_bytes())["log"]
    log.write_bytes(log.read_bytes()[: full // 2])
    r = cli("replay", str(replayed), "--force")
    assert r.code == 3, r.err  # derived, and the cut log has no run end
    new = json.loads((replayed / "derived.json").read_bytes())["log"]
    assert new["bytes"] < full
    (kept,) = new["superseded"]
    assert kept["bytes"] == full and kept["sha256"] == old["sha256"] and kept["complete"] is True
    assert "shorter than" in kept["reason"]
    v = cli("verify", str(replayed))
    assert v.code == 65 and "CORRUPT" in v.out and f"the {full} bytes" in v.out
    # A second forced replay keeps the whole chain; the evidence is never lost.
    assert cli("replay", str(replayed), "--force").code == 3
    assert cli("verify", str(replayed)).code == 65


def test_a_rewritten_prefix_is_noticed(cli, replayed: Path) -> None:
    log = replayed / "events.jsonl"
    data = bytearray(log.read_bytes())
    data[-5] ^= 1  # same size, different bytes in the part the replay consumed
    log.write_bytes(bytes(data))
    r = cli("replay", str(replayed))
    assert r.code == 65 and "differ from those derived.json recorded" in r.err


def test_a_log_that_only_grew_replays_normally(cli, tmp_path: Path) -> None:
    from vrx_core import Recorder

    run = tmp_path / "run"
    rec = Recorder(run)
    rec.emit(Metric("loss", 1.0, 1))
    rec.sync()
    assert cli("replay", str(run)).code == 3  # still running
    rec.emit(Metric("loss", 0.5, 2))
    rec.close()
    assert cli("replay", str(run)).code == 0
    assert cli("verify", str(run)).code == 0
