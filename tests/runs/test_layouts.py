"""Run layouts: rvinci and mgr directories, never shared, with their start events recorded."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from vrx_core import MgrLayout, Recorder, RvinciLayout, read_events
from vrx_core.errors import UsageError
from vrx_core.events import Config, Environment, GitInfo, Metric, RunLayout
from vrx_core.log.layout import create_run_dir

FIXED_ENV = Environment(
    git=GitInfo(commit_full="0123456789abcdef" * 2 + "01234567"), python={}, host={}, cwd="/w"
)


def test_rvinci_layout_names_the_directory_by_local_time_and_short_hash(tmp_path: Path) -> None:
    now = time.mktime((2026, 11, 29, 12, 30, 5, 0, 0, -1))
    layout = RvinciLayout(project="detector", root=tmp_path / "runs")
    run = create_run_dir(layout, git_hash="0123456", now=now)
    assert run == tmp_path / "runs" / "detector" / "2026-11-29_12-30-05_0123456"
    for sub in ("artifacts/predictions", "artifacts/checkpoints", "logs"):
        assert (run / sub).is_dir()


def test_rvinci_layout_without_git_says_nogit(tmp_path: Path) -> None:
    run = create_run_dir(RvinciLayout(project="p", root=tmp_path), git_hash=None, now=0.0)
    assert run.name.endswith("_nogit")


def test_mgr_layout_names_the_directory_run_id_with_optional_tag(tmp_path: Path) -> None:
    now = time.mktime((2025, 12, 18, 0, 42, 0, 0, 0, -1))
    plain = create_run_dir(MgrLayout(kind="baseline", topic="nanochat", root=tmp_path), now=now)
    tagged = create_run_dir(
        MgrLayout(kind="certs", topic="demos/tropical", tag="smoke", root=tmp_path), now=now
    )
    assert plain == tmp_path / "baseline" / "nanochat" / "20251218_004200"
    assert tagged == tmp_path / "certs" / "demos" / "tropical" / "20251218_004200_smoke"
    assert list(plain.iterdir()) == []


@pytest.mark.parametrize(
    "layout",
    [RvinciLayout(project="p"), MgrLayout(kind="bench", topic="t")],
    ids=["rvinci", "mgr"],
)
def test_a_second_run_in_the_same_second_gets_a_suffix_never_the_same_directory(
    tmp_path: Path, layout: RvinciLayout | MgrLayout
) -> None:
    placed = type(layout)(**{**_fields(layout), "root": tmp_path})
    dirs = [create_run_dir(placed, git_hash="abc1234", now=1_700_000_000.0) for _ in range(3)]
    assert len(set(dirs)) == 3
    assert [d.name[-2:] for d in dirs[1:]] == ["-1", "-2"]


def _fields(layout: RvinciLayout | MgrLayout) -> dict[str, object]:
    if isinstance(layout, RvinciLayout):
        return {"project": layout.project}
    return {"kind": layout.kind, "topic": layout.topic, "tag": layout.tag}


@pytest.mark.parametrize(
    "make",
    [
        lambda: RvinciLayout(project="../escape"),
        lambda: RvinciLayout(project=""),
        lambda: MgrLayout(kind="baseline", topic="a/../b"),
        lambda: MgrLayout(kind="nonsense", topic="t"),
        lambda: MgrLayout(kind="bench", topic="t", tag="a/b"),
    ],
)
def test_layout_refuses_names_that_leave_its_root(make: object) -> None:
    with pytest.raises(UsageError):
        make()  # type: ignore[operator]


def test_recorder_with_a_layout_records_layout_environment_and_config(tmp_path: Path) -> None:
    layout = RvinciLayout(project="detector", root=tmp_path)
    with Recorder(
        layout=layout, config={"lr": 0.001, "name": "x"}, environment=FIXED_ENV, summary=False
    ) as rec:
        rec.emit(Metric(name="loss", value=1.0, step=0))
    assert rec.run_dir.parent == tmp_path / "detector"
    assert rec.run_dir.name.endswith("_0123456")
    kinds = [type(e) for e in read_events(rec.run_dir)]
    assert kinds[1:4] == [RunLayout, Environment, Config]
    (placed,) = [e for e in read_events(rec.run_dir) if isinstance(e, RunLayout)]
    assert placed.style == "rvinci" and placed.run_id == rec.run_dir.name and placed.project == "detector"
    assert rec.run_id == rec.run_dir.name


def test_recorder_needs_a_directory_or_a_layout_not_both(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        Recorder()
    with pytest.raises(TypeError):
        Recorder(tmp_path / "r", layout=RvinciLayout(project="p", root=tmp_path))


def test_a_bare_recorder_records_no_start_events(tmp_path: Path) -> None:
    with Recorder(tmp_path / "r") as rec:
        pass
    assert not [e for e in read_events(rec.run_dir) if isinstance(e, Environment | Config | RunLayout)]


def test_environment_true_without_layout_collects_the_real_environment(tmp_path: Path) -> None:
    with Recorder(tmp_path / "r", environment=True, summary=False) as rec:
        pass
    (env,) = [e for e in read_events(rec.run_dir) if isinstance(e, Environment)]
    assert env.python["version"] and "msgspec" in env.packages
    assert re.fullmatch(r"[0-9a-f]{40}", env.git.commit_full or "") or env.git.error


def test_a_run_placed_by_a_layout_has_its_files_when_it_ends(tmp_path: Path) -> None:
    with Recorder(layout=MgrLayout(kind="baseline", topic="t", root=tmp_path), environment=FIXED_ENV) as rec:
        rec.emit(Metric(name="loss", value=1.0, step=0))
    assert {"summary.json", "run.md", "derived.json", "bundle_manifest.json"} <= {
        p.name for p in rec.run_dir.iterdir()
    }


def test_derive_false_leaves_deriving_to_vrx_replay(tmp_path: Path) -> None:
    layout = RvinciLayout(project="p", root=tmp_path)
    with Recorder(layout=layout, environment=FIXED_ENV, derive=False) as rec:
        rec.emit(Metric(name="loss", value=1.0, step=0))
    assert not (rec.run_dir / "derived.json").exists()


def test_a_failing_derivation_at_close_is_a_warning_and_the_run_stays_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import vrx_core.engine.replay

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(vrx_core.engine.replay, "replay", broken)
    with Recorder(layout=RvinciLayout(project="p", root=tmp_path), environment=FIXED_ENV) as rec:
        rec.emit(Metric(name="loss", value=1.0, step=0))
    err = capsys.readouterr().err
    assert "deriving the run's files failed: disk full; run `vrx replay" in err
    assert list(read_events(rec.run_dir))[-1].status == "ok"  # type: ignore[union-attr]
