"""Layouts, `vrx ingest --layout` and configs refuse what they cannot honour, in one line, with the
documented exit code, before anything is created."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vrx_core import ConfigError, MgrLayout, Recorder, RvinciLayout
from vrx_core.capture.config import ConfigFileError, capture_config
from vrx_core.errors import CannotCreate, ExitCode, UsageError
from vrx_core.log.layout import create_run_dir

LINE = '{"type":"metric","name":"loss","value":0.5,"step":1}\n'


def _ingest(cli: Callable[..., Any], tmp_path: Path, *args: str) -> Any:
    source = tmp_path / "in.jsonl"
    source.write_text(LINE)
    return cli("ingest", *args, str(source))


@pytest.mark.parametrize("layout", ["rvinci", {"project": "p"}, Path("runs")])
def test_a_layout_that_is_not_a_layout_object_is_a_type_error_naming_the_classes(
    tmp_path: Path, layout: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TypeError, match="RvinciLayout or MgrLayout"):
        Recorder(layout=layout, environment=False)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("git_hash", ["x/../../../escaped", "..", "", "/abs", "abc\n", "a b"])
def test_create_run_dir_refuses_a_git_hash_that_is_not_a_plain_name(tmp_path: Path, git_hash: str) -> None:
    root = tmp_path / "runs"
    with pytest.raises(UsageError, match="git_hash must be a plain name"):
        create_run_dir(RvinciLayout(project="p", root=root), git_hash=git_hash, now=0.0)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("now", [float("nan"), float("inf"), "2026", True, 1e300])
def test_create_run_dir_refuses_a_now_that_is_not_unix_seconds(tmp_path: Path, now: object) -> None:
    with pytest.raises(UsageError, match="now="):
        create_run_dir(MgrLayout(kind="bench", topic="t", root=tmp_path / "a"), now=now)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_create_run_dir_takes_an_int_now_and_a_full_hex_hash(tmp_path: Path) -> None:
    run = create_run_dir(RvinciLayout(project="p", root=tmp_path), git_hash="0123456789abcdef", now=0)
    assert run.name.endswith("_0123456789abcdef")


@pytest.mark.parametrize(
    "layout",
    [RvinciLayout(project="p", root="ROOT"), MgrLayout(kind="bench", topic="t", root="ROOT")],
    ids=["rvinci", "mgr"],
)
def test_a_root_that_cannot_be_created_is_cannot_create(
    tmp_path: Path, layout: RvinciLayout | MgrLayout
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    placed = type(layout)(**{**_fields(layout), "root": blocker / "runs"})
    with pytest.raises(CannotCreate, match="cannot create the layout's directory") as err:
        create_run_dir(placed, now=0.0)
    assert err.value.exit_code == ExitCode.CANTCREAT == 73


def _fields(layout: RvinciLayout | MgrLayout) -> dict[str, object]:
    if isinstance(layout, RvinciLayout):
        return {"project": layout.project}
    return {"kind": layout.kind, "topic": layout.topic, "tag": layout.tag}


def test_ingest_into_a_layout_root_under_a_file_exits_73(cli: Callable[..., Any], tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = _ingest(cli, tmp_path, "--layout", "rvinci", "--project", "p", str(blocker / "runs"))
    assert result.code == 73, result.err
    assert "cannot create the layout's directory" in result.err and "Traceback" not in result.err


def test_ingest_resume_must_with_a_layout_is_a_usage_error_before_anything_exists(
    cli: Callable[..., Any], tmp_path: Path
) -> None:
    root = tmp_path / "root"
    result = _ingest(cli, tmp_path, "--layout", "rvinci", "--project", "p", "--resume", "must", str(root))
    assert result.code == 2
    assert result.err.strip() == (
        "vrx: --resume must does not apply to --layout: a layout always starts a new run"
    )
    assert not root.exists()


@pytest.mark.parametrize("mode", ["auto", "never", "allow"])
def test_ingest_with_a_layout_takes_the_other_resume_modes(
    cli: Callable[..., Any], tmp_path: Path, mode: str
) -> None:
    root = tmp_path / "root"
    result = _ingest(
        cli, tmp_path, "--layout", "mgr", "--kind", "bench", "--topic", "t", "--resume", mode, str(root)
    )
    assert result.code == 0, result.err
    assert Path(result.out.strip()).parent == root / "bench" / "t"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--layout", "rvinci", "--project", "p", "--kind", "bench"),
            "--kind does not apply to --layout rvinci",
        ),
        (
            ("--layout", "rvinci", "--project", "p", "--topic", "t", "--tag", "s"),
            "--topic, --tag do not apply to --layout rvinci",
        ),
        (
            ("--layout", "mgr", "--kind", "bench", "--topic", "t", "--project", "p"),
            "--project does not apply to --layout mgr",
        ),
        (("--layout", "mgr", "--project", "p"), "--project does not apply to --layout mgr"),
    ],
)
def test_options_of_the_other_layout_are_usage_errors(
    cli: Callable[..., Any], tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    root = tmp_path / "root"
    result = _ingest(cli, tmp_path, *args, str(root))
    assert result.code == 2
    assert result.err.strip() == f"vrx: {message}"
    assert not root.exists()


def test_a_bad_layout_option_is_reported_before_a_missing_input_file(
    cli: Callable[..., Any], tmp_path: Path
) -> None:
    result = cli("ingest", "--layout", "rvinci", str(tmp_path / "root"), str(tmp_path / "missing.jsonl"))
    assert result.code == 2 and "--layout rvinci needs --project NAME" in result.err


def test_a_yaml_syntax_error_names_the_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("lr: 0.1\nlayers: [1, 2\nname: x\n")
    with pytest.raises(ConfigError) as err:
        capture_config(path)
    assert str(err.value) == f"{path}:3: cannot parse YAML: did not find expected ',' or ']' (column 5)"
    assert err.value.line == 3 and err.value.exit_code == 2


def test_a_yaml_error_through_ingest_is_one_line_and_creates_nothing(
    cli: Callable[..., Any], tmp_path: Path
) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("a: 1\n  b: 2\n")
    result = _ingest(cli, tmp_path, "--config", str(cfg), str(tmp_path / "run"))
    assert result.code == 2
    assert result.err.strip() == (
        f"vrx: {cfg}:2: cannot parse YAML: mapping values are not allowed in this context (column 4)"
    )
    assert not (tmp_path / "run").exists()


def test_a_missing_config_file_is_noinput(cli: Callable[..., Any], tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigFileError) as err:
        capture_config(missing)
    assert isinstance(err.value, ConfigError) and err.value.exit_code == ExitCode.NOINPUT
    root = tmp_path / "runs"
    result = _ingest(
        cli, tmp_path, "--layout", "rvinci", "--project", "p", "--config", str(missing), str(root)
    )
    assert result.code == 66
    assert result.err.strip() == f"vrx: {missing}: no such config file"
    assert not root.exists()


def test_a_config_path_that_is_a_directory_is_noinput(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="cannot read config file") as err:
        capture_config(tmp_path)
    assert err.value.exit_code == 66
