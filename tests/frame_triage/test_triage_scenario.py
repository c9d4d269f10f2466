"""Scenario loading, validation error paths, derived SimConfig and threshold evaluation."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vrx_plugins.frame_triage.metrics import compute_metrics
from vrx_plugins.frame_triage.scenario import (
    OAAT_TARGETS,
    Issue,
    ScenarioError,
    ScenarioInvalidError,
    sim_config_from_scenario,
    validate_scenario,
)
from vrx_plugins.frame_triage.scenario_file import load_scenario, parse_scenario
from vrx_plugins.frame_triage.sim import SimConfig
from vrx_plugins.frame_triage.thresholds import Thresholds, evaluate_thresholds, thresholds_from_scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "plugins" / "frame_triage" / "scenarios"
STARTERS = {
    "sim_baseline": (10000, 30, 1, 0, 0, 0, 0, 0, (29.0, 1.0, 40000.0, 1000.0)),
    "dropped_frames": (1200, 25, 777, 350, 4, 15, 2, 3, (15.0, 80.0, 80000.0, 30000.0)),
    "trigger_roi": (5000, 60, 2026, 100, 0, 0, 0, 0, (55.0, 1.0, 30000.0, 5000.0)),
}


def minimal() -> dict[str, Any]:
    return {
        "schema_version": "1.0",
        "scenario_id": "smoke",
        "duration": {"duration_ms": 1000},
        "camera": {},
        "thresholds": {"min_avg_fps": 1},
    }


def full() -> dict[str, Any]:
    return json.loads((EXAMPLES / "trigger_roi.json").read_text())  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", sorted(STARTERS))
def test_starter_scenarios_match_the_table(name: str) -> None:
    raw, doc = load_scenario(EXAMPLES / f"{name}.json")
    assert raw == (EXAMPLES / f"{name}.json").read_bytes()
    assert validate_scenario(doc) == []
    assert doc["scenario_id"] == name
    duration, fps, seed, jitter, every, percent, burst, reorder, limits = STARTERS[name]
    assert sim_config_from_scenario(doc) == SimConfig(
        fps=fps,
        seed=seed,
        jitter_us=jitter,
        drop_every_n=every,
        drop_percent=percent,
        burst_drop=burst,
        reorder=reorder,
        duration_ms=duration,
    )
    assert thresholds_from_scenario(doc) == Thresholds(*limits)


def test_sim_baseline_camera() -> None:
    _, doc = load_scenario(EXAMPLES / "sim_baseline.json")
    camera = doc["camera"]
    assert (camera["device_id"], camera["pixel_format"], camera["width"], camera["height"]) == (
        "sim_cam_01",
        "mono8",
        1920,
        1080,
    )
    assert camera["trigger_mode"] == "free_run"


def test_minimal_is_valid_and_uses_defaults() -> None:
    assert validate_scenario(minimal()) == []
    assert sim_config_from_scenario(minimal()) == SimConfig(duration_ms=1000)


def mutate(doc: dict[str, Any], dotted: str, value: object) -> dict[str, Any]:
    """Set (or with ``...`` delete) a dotted path in a deep copy."""
    doc = copy.deepcopy(doc)
    *parents, last = dotted.split(".")
    target = doc
    for key in parents:
        target = target.setdefault(key, {})
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return doc


@pytest.mark.parametrize(
    ("dotted", "value", "issue"),
    [
        ("schema_version", ..., Issue("schema_version", "is required")),
        ("schema_version", 1.0, Issue("schema_version", "must be a string")),
        (
            "schema_version",
            "2.0",
            Issue("schema_version", 'must be "1.<minor>" (supported major version is 1)'),
        ),
        ("scenario_id", "Not A Slug", Issue("scenario_id", "must be a lowercase slug matching [a-z0-9_-]+")),
        ("scenario_id", ..., Issue("scenario_id", "is required")),
        ("description", 5, Issue("description", "must be a string")),
        ("tags", "x", Issue("tags", "must be an array")),
        ("tags", ["ok", ""], Issue("tags[1]", "must be a non-empty string")),
        ("duration", ..., Issue("duration", "is required")),
        ("duration", 5, Issue("duration", "must be an object")),
        ("duration.duration_ms", ..., Issue("duration.duration_ms", "is required")),
        (
            "duration.duration_ms",
            0,
            Issue("duration.duration_ms", "must be a positive integer (milliseconds)"),
        ),
        (
            "duration.duration_ms",
            10.0,
            Issue("duration.duration_ms", "must be a positive integer (milliseconds)"),
        ),
        ("camera", ..., Issue("camera", "is required")),
        ("camera.fps", 0, Issue("camera.fps", "must be a positive integer")),
        ("camera.fps", True, Issue("camera.fps", "must be a positive integer")),
        ("camera.fps", 30.0, Issue("camera.fps", "must be a positive integer")),
        ("camera.fps", 1 << 32, Issue("camera.fps", "must be at most 4294967295")),
        ("camera.width", -1, Issue("camera.width", "must be a positive integer")),
        ("camera.exposure_us", -1, Issue("camera.exposure_us", "must be a non-negative integer")),
        ("camera.gain_db", "3", Issue("camera.gain_db", "must be a finite number")),
        ("camera.gain_db", False, Issue("camera.gain_db", "must be a finite number")),
        ("camera.device_id", "", Issue("camera.device_id", "must be a non-empty string")),
        (
            "camera.trigger_mode",
            "auto",
            Issue("camera.trigger_mode", "must be one of: free_run, software, hardware"),
        ),
        ("camera.roi.x", ..., Issue("camera.roi.x", "is required")),
        ("camera.roi.y", -2, Issue("camera.roi.y", "must be a non-negative integer")),
        ("camera.roi.width", 0, Issue("camera.roi.width", "must be a positive integer")),
        ("camera.roi.width", 1900, Issue("camera.roi.width", "roi x + width must be <= camera.width")),
        ("camera.roi.zoom", 2, Issue("camera.roi.zoom", "is not a known field")),
        ("camera.roi", [], Issue("camera.roi", "must be an object")),
        (
            "camera.network.packet_size_bytes",
            0,
            Issue("camera.network.packet_size_bytes", "must be a positive integer"),
        ),
        (
            "camera.network.inter_packet_delay_us",
            -1,
            Issue("camera.network.inter_packet_delay_us", "must be a non-negative integer"),
        ),
        ("camera.shutter", 1, Issue("camera.shutter", "is not a known field")),
        ("sim_faults.jiter_us", 5, Issue("sim_faults.jiter_us", "is not a known field")),
        ("sim_faults.seed", -1, Issue("sim_faults.seed", "must be a non-negative integer")),
        ("sim_faults.seed", 1 << 64, Issue("sim_faults.seed", "must be at most 18446744073709551615")),
        ("sim_faults.drop_percent", 101, Issue("sim_faults.drop_percent", "must be in range [0,100]")),
        (
            "sim_faults.drop_percent",
            1.5,
            Issue("sim_faults.drop_percent", "must be an integer in range [0,100]"),
        ),
        ("sim_faults.reorder", None, Issue("sim_faults.reorder", "must be a non-negative integer")),
        (
            "sim_faults.disconnect_at_ms",
            "1",
            Issue("sim_faults.disconnect_at_ms", "must be a non-negative integer"),
        ),
        ("thresholds", ..., Issue("thresholds", "is required")),
        (
            "thresholds",
            {},
            Issue("thresholds", "must include at least one threshold (e.g. max_drop_rate_percent)"),
        ),
        (
            "thresholds.max_drop_rate_percent",
            100.5,
            Issue("thresholds.max_drop_rate_percent", "must be in range [0,100]"),
        ),
        ("thresholds.min_avg_fps", -1, Issue("thresholds.min_avg_fps", "must be a non-negative number")),
        ("thresholds.min_avg_fps", True, Issue("thresholds.min_avg_fps", "must be a non-negative number")),
        (
            "thresholds.max_disconnect_count",
            0.5,
            Issue("thresholds.max_disconnect_count", "must be a non-negative integer"),
        ),
        ("thresholds.max_fps", 1, Issue("thresholds.max_fps", "is not a known field")),
        ("oaat.enabled", ..., Issue("oaat.enabled", "is required")),
        ("oaat.enabled", "yes", Issue("oaat.enabled", "must be a boolean")),
        (
            "oaat.variables",
            [],
            Issue("oaat.variables", "must contain at least one variable when oaat.enabled is true"),
        ),
        ("oaat.max_trials", 0, Issue("oaat.max_trials", "must be a positive integer")),
        ("oaat.stop_on_first_failure", 1, Issue("oaat.stop_on_first_failure", "must be a boolean")),
        (
            "oaat.variables",
            [{"path": "camera..fps", "values": [1]}],
            Issue("oaat.variables[0].path", "must be a dotted field path such as camera.fps"),
        ),
        (
            "oaat.variables",
            [{"path": "camera.zoom", "values": [1]}],
            Issue("oaat.variables[0].path", "must name a scenario field such as camera.fps"),
        ),
        (
            "oaat.variables",
            [{"path": "camera.fps", "values": []}],
            Issue("oaat.variables[0].values", "must be a non-empty array"),
        ),
        ("oaat.variables", [{"path": "camera.fps"}], Issue("oaat.variables[0].values", "is required")),
        (
            "oaat.variables",
            [{"path": "camera.fps", "values": [1], "mode": "sweep"}],
            Issue("oaat.variables[0].mode", "must be one of: replace"),
        ),
        (
            "oaat.variables",
            [{"path": "camera.fps", "values": [1], "x": 1}],
            Issue("oaat.variables[0].x", "is not a known field"),
        ),
        ("oaat.variables", ["camera.fps"], Issue("oaat.variables[0]", "must be an object")),
        (
            "oaat.variables",
            [{"path": "sim_faults.drop_percent", "values": [5, 150]}],
            Issue("oaat.variables[0].values[1]", "must be in range [0,100] (for sim_faults.drop_percent)"),
        ),
        ("extra", 1, Issue("extra", "is not a known field")),
    ],
)
def test_validation_error_paths(dotted: str, value: object, issue: Issue) -> None:
    issues = validate_scenario(mutate(full(), dotted, value))
    assert issue in issues, issues


def test_root_must_be_object_and_all_issues_are_reported() -> None:
    assert validate_scenario([1]) == [Issue("(root)", "must be an object")]
    issues = validate_scenario({})
    assert [i.path for i in issues] == ["schema_version", "scenario_id", "duration", "camera", "thresholds"]
    assert all(i.message == "is required" for i in issues)
    assert str(issues[0]) == "schema_version: is required"


def test_oaat_targets_cover_leaf_fields_only() -> None:
    assert "camera.roi.width" in OAAT_TARGETS
    assert "sim_faults.seed" in OAAT_TARGETS
    assert "camera.roi" not in OAAT_TARGETS
    assert "scenario_id" not in OAAT_TARGETS


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


@given(
    path=st.sampled_from([*OAAT_TARGETS, "camera.roi", "oaat.variables", "tags", "oaat"]), value=json_values
)
def test_validation_never_crashes_on_mutations(path: str, value: object) -> None:
    issues = validate_scenario(mutate(full(), path, value))
    assert all(isinstance(i, Issue) and i.path and i.message for i in issues)


@given(doc=json_values)
def test_validation_never_crashes_on_any_json(doc: object) -> None:
    assert isinstance(validate_scenario(doc), list)


def test_invalid_scenario_refuses_derivation() -> None:
    with pytest.raises(ScenarioInvalidError) as info:
        sim_config_from_scenario(mutate(minimal(), "camera.fps", 0), source="s.json")
    assert info.value.issues == (Issue("camera.fps", "must be a positive integer"),)
    assert str(info.value) == "s.json: invalid scenario\n  - camera.fps: must be a positive integer"
    with pytest.raises(ScenarioInvalidError):
        thresholds_from_scenario({})


# ----------------------------------------------------------------------------------------------
# load_scenario preflight and JSON errors


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("s.json", b"", "is empty"),
        ("s.json", b"  \n", "is empty"),
        ("s.txt", b"{}", "must have a .json extension"),
        ("s.json", b'{"a": 1,\n "b": }', "invalid JSON: Expecting value"),
        ("s.json", b"[1, 2]", "top-level JSON value must be an object, got array"),
        ("s.json", b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        ("s.json", b'{"a": NaN}', "non-standard constant NaN"),
        ("s.json", b'{"a": "\xff"}', "is not valid UTF-8 (byte offset 7)"),
    ],
)
def test_load_errors(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    path = write(tmp_path, name, data)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_load_error_has_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "s.json", b'{"a": 1,\n "b": }')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert (info.value.line, info.value.column) == (2, 7)
    assert str(info.value).startswith(f"{path}:2:7: invalid JSON")


def test_load_missing_and_not_regular(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="does not exist"):
        load_scenario(tmp_path / "missing.json")
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(ScenarioError, match="is not a regular file"):
        load_scenario(tmp_path / "dir.json")
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(ScenarioError, match="is not a regular file"):
        load_scenario(fifo)


def test_parse_scenario_in_memory() -> None:
    assert parse_scenario(b'{"a":1}') == {"a": 1}
    with pytest.raises(ScenarioError, match="<scenario>"):
        parse_scenario(b"1")


# ----------------------------------------------------------------------------------------------
# Thresholds


def test_evaluate_thresholds_comparisons() -> None:
    metrics = compute_metrics([(i * 40_000_000, i == 3) for i in range(10)], 400)
    thresholds = Thresholds(
        min_avg_fps=22.5,
        max_drop_rate_percent=10.0,
        max_inter_frame_interval_p95_us=79_999,
        max_inter_frame_jitter_p95_us=40_000,
        max_disconnect_count=0,
    )
    results = evaluate_thresholds(thresholds, metrics)
    assert [(r.name, r.op, r.limit, r.actual, r.passed) for r in results] == [
        ("min_avg_fps", ">=", 22.5, 22.5, True),
        ("max_drop_rate_percent", "<=", 10.0, 10.0, True),
        ("max_inter_frame_interval_p95_us", "<=", 79_999, 80_000.0, False),
        ("max_inter_frame_jitter_p95_us", "<=", 40_000, 35_000.0, True),
        ("max_disconnect_count", "<=", 0, 0, True),
    ]
    assert not evaluate_thresholds(Thresholds(max_disconnect_count=0), metrics, disconnect_count=1)[0].passed
    assert evaluate_thresholds(Thresholds(), metrics) == []
