"""`source` events: `vrx replay --check` names a recorded input file that changed or vanished."""

from __future__ import annotations

import hashlib
from pathlib import Path

from vrx_core.events import Source
from vrx_core.log.writer import Recorder


def _record(run: Path, src: Path) -> None:
    data = src.read_bytes()
    with Recorder(run) as rec:
        rec.emit(Source(path=str(src.resolve()), sha256=hashlib.sha256(data).hexdigest(),
                        size_bytes=len(data), text=data.decode()))


def test_unchanged_sources_pass_the_check(cli, tmp_path: Path) -> None:
    src = tmp_path / "metrics.json"
    src.write_text('{"a": 1}\n')
    _record(tmp_path / "run", src)
    assert cli("replay", str(tmp_path / "run")).code == 0
    r = cli("replay", "--check", str(tmp_path / "run"))
    assert r.code == 0, r.out + r.err


def test_a_changed_source_is_named(cli, tmp_path: Path) -> None:
    src = tmp_path / "metrics.json"
    src.write_text('{"a": 1}\n')
    _record(tmp_path / "run", src)
    assert cli("replay", str(tmp_path / "run")).code == 0
    src.write_text('{"a": 2}\n')
    r = cli("replay", "--check", str(tmp_path / "run"))
    assert r.code == 65
    assert f"{src.resolve()}: source changed since the run read it (seq 1)" in r.out


def test_a_vanished_source_is_named(cli, tmp_path: Path) -> None:
    src = tmp_path / "report.json"
    src.write_text("{}\n")
    _record(tmp_path / "run", src)
    assert cli("replay", str(tmp_path / "run")).code == 0
    src.unlink()
    r = cli("replay", "--check", str(tmp_path / "run"))
    assert r.code == 65 and f"{src.resolve()}: source recorded at seq 1 cannot be read now" in r.out
