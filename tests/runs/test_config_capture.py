"""Config capture: composed and resolved recorded; an unresolvable config stops before the run."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from vrx_core import ConfigError, Recorder, RvinciLayout, read_events
from vrx_core.capture.config import capture_config
from vrx_core.events import Config


def test_interpolations_are_kept_in_composed_and_resolved_in_resolved() -> None:
    cfg = OmegaConf.create({"model": {"dim": 64}, "head": {"dim": "${model.dim}"}, "lr": 0.001})
    event = capture_config(cfg)
    assert event.composed["head"] == {"dim": "${model.dim}"}
    assert event.resolved["head"] == {"dim": 64}


def test_a_plain_mapping_needs_no_omegaconf_and_is_recorded_as_is() -> None:
    event = capture_config({"lr": 0.001, "tags": ["a", "b"]})
    assert event.composed == event.resolved == {"lr": 0.001, "tags": ["a", "b"]}


def test_a_yaml_file_is_loaded_and_its_path_recorded(tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text("data:\n  root: /data\nout: ${data.root}/out\n")
    event = capture_config(path)
    assert event.source == str(path)
    assert event.resolved == {"data": {"root": "/data"}, "out": "/data/out"}


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"a": {"b": "${missing.key}"}}, "a.b"),
        ({"a": 1, "b": "???"}, "b"),
        ({"x": [1, "${nope}"]}, "x[1]"),
    ],
)
def test_an_unresolvable_config_names_the_key(config: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        capture_config(config)
    assert f"`{key}`" in str(err.value)
    assert err.value.exit_code == 2


def test_an_unresolvable_config_creates_no_run_directory(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    with pytest.raises(ConfigError, match="cannot resolve config key `lr`"):
        Recorder(layout=RvinciLayout(project="p", root=root), config={"lr": "${optim.lr}"})
    assert not root.exists()
    with pytest.raises(ConfigError):
        Recorder(tmp_path / "plain", config={"lr": "${optim.lr}"})
    assert not (tmp_path / "plain").exists()


def test_values_that_are_not_json_like_are_refused_by_key() -> None:
    with pytest.raises(ConfigError, match=r"`opt\.fn` is a builtin_function_or_method"):
        capture_config({"opt": {"fn": len}})
    with pytest.raises(ConfigError, match=r"`a\.b` is nan; only finite numbers"):
        capture_config(OmegaConf.create({"a": {"b": float("nan")}}))


def test_a_missing_yaml_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        capture_config(tmp_path / "nope.yaml")


def test_the_recorded_config_event_round_trips(tmp_path: Path) -> None:
    cfg = OmegaConf.create({"a": 1, "b": "${a}"})
    with Recorder(tmp_path / "r", config=cfg, environment=False, summary=False) as rec:
        pass
    (event,) = [e for e in read_events(rec.run_dir) if isinstance(e, Config)]
    assert event.composed["b"] == "${a}" and event.resolved["b"] == 1
