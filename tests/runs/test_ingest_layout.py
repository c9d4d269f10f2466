"""`vrx ingest --layout/--config/--environment`: runs recorded from any language land in a layout."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vrx_core import read_events
from vrx_core.events import Config, Environment, RunLayout

LINE = '{"type":"metric","name":"loss","value":0.5,"step":1}\n'


def _ingest(cli: Callable[..., Any], tmp_path: Path, *args: str) -> Any:
    source = tmp_path / "in.jsonl"
    source.write_text(LINE)
    return cli("ingest", *args, str(source))


def test_ingest_into_an_rvinci_layout_prints_the_new_run_directory(
    cli: Callable[..., Any], tmp_path: Path
) -> None:
    root = tmp_path / "runs"
    result = _ingest(cli, tmp_path, "--layout", "rvinci", "--project", "cam", str(root))
    assert result.code == 0, result.err
    run = Path(result.out.strip())
    assert run.parent == root / "cam"
    kinds = [type(e) for e in read_events(run)]
    assert RunLayout in kinds and Environment in kinds


def test_ingest_into_an_mgr_layout(cli: Callable[..., Any], tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    args = ("--layout", "mgr", "--kind", "bench", "--topic", "fixed_flops", "--tag", "smoke", str(root))
    result = _ingest(cli, tmp_path, *args)
    assert result.code == 0, result.err
    run = Path(result.out.strip())
    assert run.parent == root / "bench" / "fixed_flops" and run.name.endswith("_smoke")


def test_ingest_records_a_config_file(cli: Callable[..., Any], tmp_path: Path) -> None:
    cfg = tmp_path / "train.yaml"
    cfg.write_text("lr: 0.001\nwarm: ${lr}\n")
    result = _ingest(cli, tmp_path, "--config", str(cfg), str(tmp_path / "run"))
    assert result.code == 0, result.err
    (event,) = [e for e in read_events(tmp_path / "run") if isinstance(e, Config)]
    assert event.resolved == {"lr": 0.001, "warm": 0.001} and event.source == str(cfg)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--layout", "rvinci"), "--layout rvinci needs --project NAME"),
        (("--layout", "mgr", "--kind", "bench"), "--layout mgr needs --kind KIND and --topic TOPIC"),
        (("--project", "p"), "--project requires --layout"),
        (("--layout", "mgr", "--kind", "x", "--topic", "t"), "mgr layout kind must be one of"),
    ],
)
def test_layout_option_errors_are_one_line_usage_errors(
    cli: Callable[..., Any], tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = _ingest(cli, tmp_path, *args, str(tmp_path / "root"))
    assert result.code == 2
    assert message in result.err and "Traceback" not in result.err
    assert not (tmp_path / "root").exists()


def test_an_unresolvable_config_is_refused_before_the_run_exists(
    cli: Callable[..., Any], tmp_path: Path
) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("a:\n  b: ${nowhere}\n")
    result = _ingest(cli, tmp_path, "--config", str(cfg), str(tmp_path / "run"))
    assert result.code == 2
    assert (
        result.err.strip()
        == f"vrx: {cfg}: cannot resolve config key `a.b`: Interpolation key 'nowhere' not found"
    )
    assert not (tmp_path / "run").exists()
