"""Byte-exact bundle formats: metrics.csv/json (ORIGINS 4.5 vector), run.json, manifest, events, summary."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vrx_plugins.bundles import ManifestEntry, bundle_manifest_json, json_escape
from vrx_plugins.frame_triage.formats import (
    event_line,
    format_utc_ms,
    metrics_csv,
    metrics_json,
    run_id_for,
    run_json,
    summary_md,
    verdict,
)
from vrx_plugins.frame_triage.metrics import TriageMetrics, compute_metrics
from vrx_plugins.frame_triage.thresholds import ThresholdResult, Thresholds, evaluate_thresholds

MS = 1_000_000
BASE_MS = 1_700_000_000_000


def origins_metrics() -> TriageMetrics:
    frames = [((BASE_MS + ms) * MS, ms == 2500) for ms in (1000, 1500, 2000, 2500, 2800)]
    return compute_metrics(frames, avg_window_ms=2000, rolling_window_ms=1000)


ORIGINS_CSV = """\
metric,window_end_ms,window_ms,frames,fps
avg_fps,,2000,4,2.000000
drops_total,,,5,1
drop_rate_percent,,,5,20.000000
rolling_fps,1700000001000,1000,1,1.000000
rolling_fps,1700000001500,1000,2,2.000000
rolling_fps,1700000002000,1000,3,3.000000
rolling_fps,1700000002800,1000,2,2.000000
inter_frame_interval_min_us,,,3,500000.000000
inter_frame_interval_avg_us,,,3,600000.000000
inter_frame_interval_p95_us,,,3,800000.000000
inter_frame_jitter_min_us,,,3,100000.000000
inter_frame_jitter_avg_us,,,3,133333.333333
inter_frame_jitter_p95_us,,,3,200000.000000
"""

ORIGINS_JSON = (
    "{\n"
    '  "avg_window_ms":2000,\n'
    '  "rolling_window_ms":1000,\n'
    '  "frames_total":5,\n'
    '  "received_frames_total":4,\n'
    '  "dropped_frames_total":1,\n'
    '  "drop_rate_percent":20.000000,\n'
    '  "avg_fps":2.000000,\n'
    '  "inter_frame_interval_us":{"sample_count":3,"min_us":500000.000000,"avg_us":600000.000000,'
    '"p95_us":800000.000000},\n'
    '  "inter_frame_jitter_us":{"sample_count":3,"min_us":100000.000000,"avg_us":133333.333333,'
    '"p95_us":200000.000000},\n'
    '  "rolling_fps":[{"window_end_ms":1700000001000,"frames_in_window":1,"fps":1.000000},'
    '{"window_end_ms":1700000001500,"frames_in_window":2,"fps":2.000000},'
    '{"window_end_ms":1700000002000,"frames_in_window":3,"fps":3.000000},'
    '{"window_end_ms":1700000002800,"frames_in_window":2,"fps":2.000000}]\n'
    "}\n"
)


def test_origins_csv_exact() -> None:
    csv = metrics_csv(origins_metrics()).decode()
    assert csv == ORIGINS_CSV
    for line in (
        "avg_fps,,2000,4,2.000000",
        "drops_total,,,5,1",
        "drop_rate_percent,,,5,20.000000",
        "inter_frame_interval_avg_us,,,3,600000.000000",
        "inter_frame_jitter_p95_us,,,3,200000.000000",
    ):
        assert line in csv.splitlines()


def test_origins_json_exact_and_parseable() -> None:
    text = metrics_json(origins_metrics()).decode()
    assert text == ORIGINS_JSON
    assert '"avg_fps":2.000000' in text
    assert '"drop_rate_percent":20.000000' in text
    doc = json.loads(text)
    assert doc["inter_frame_jitter_us"]["avg_us"] == 133333.333333
    assert [s["frames_in_window"] for s in doc["rolling_fps"]] == [1, 2, 3, 2]


def test_empty_metrics_layout() -> None:
    m = compute_metrics([], 1000)
    assert metrics_csv(m).decode().splitlines()[1:4] == [
        "avg_fps,,1000,0,0.000000",
        "drops_total,,,0,0",
        "drop_rate_percent,,,0,0.000000",
    ]
    doc = json.loads(metrics_json(m))
    assert doc["rolling_fps"] == []
    assert doc["inter_frame_interval_us"] == {"sample_count": 0, "min_us": 0.0, "avg_us": 0.0, "p95_us": 0.0}


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1_700_000_000_123_456_789, "2023-11-14T22:13:20.123Z"),
        (1_770_976_800_999_999_999, "2026-02-13T10:00:00.999Z"),
        (951_782_400_000 * MS, "2000-02-29T00:00:00.000Z"),
    ],
)
def test_format_utc_ms(ns: int, text: str) -> None:
    assert format_utc_ms(ns) == text


def test_format_utc_ms_out_of_range() -> None:
    with pytest.raises(ValueError, match="outside"):
        format_utc_ms(10**30)


def test_run_json_exact_and_finished_raised() -> None:
    created = 1_770_976_800_000 * MS
    text = run_json(
        run_id=run_id_for(created),
        scenario_id="sim_baseline",
        seed=1,
        duration_ms=10000,
        created_at_ns=created,
        started_at_ns=created + 5 * MS,
        finished_at_ns=created + 20 * MS,
        latest_frame_ts_ns=created + 9_999 * MS + 1,
    )
    assert text == (
        b'{"run_id":"run-1770976800000","config":{"scenario_id":"sim_baseline","backend":"sim","seed":1,'
        b'"duration_ms":10000},"timestamps":{"created_at_utc":"2026-02-13T10:00:00.000Z",'
        b'"started_at_utc":"2026-02-13T10:00:00.005Z","finished_at_utc":"2026-02-13T10:00:09.999Z"}}\n'
    )
    earlier = run_json(
        run_id="r",
        scenario_id='a"b',
        seed=2,
        duration_ms=1,
        created_at_ns=0,
        started_at_ns=0,
        finished_at_ns=5 * MS,
        latest_frame_ts_ns=MS,
    )
    doc = json.loads(earlier)
    assert doc["timestamps"]["finished_at_utc"] == "1970-01-01T00:00:00.005Z"
    assert doc["config"]["scenario_id"] == 'a"b'
    assert b" " not in earlier


def test_manifest_exact_layout_and_bytewise_order() -> None:
    entries = [
        ManifestEntry("run.json", 21, "a42d7ab98cefff66"),
        ManifestEntry("events.jsonl", 0, "cbf29ce484222325"),
        ManifestEntry("\u00e9t\u00e9.txt", 1, "af63dc4c8601ec8c"),
        ManifestEntry("Z.txt", 6, "85944171f73967e8"),
    ]
    assert (
        bundle_manifest_json(entries)
        == (
            "{\n"
            '  "schema_version":"1.0",\n'
            '  "hash_algorithm":"fnv1a_64",\n'
            '  "files":[\n'
            '    {"path":"Z.txt","size_bytes":6,"hash":"85944171f73967e8"},\n'
            '    {"path":"events.jsonl","size_bytes":0,"hash":"cbf29ce484222325"},\n'
            '    {"path":"run.json","size_bytes":21,"hash":"a42d7ab98cefff66"},\n'
            '    {"path":"\u00e9t\u00e9.txt","size_bytes":1,"hash":"af63dc4c8601ec8c"}\n'
            "  ]\n"
            "}\n"
        ).encode()
    )


@pytest.mark.parametrize(
    "entries",
    [
        [ManifestEntry("a", 1, "cbf29ce484222325"), ManifestEntry("a", 1, "cbf29ce484222325")],
        [ManifestEntry("a", -1, "cbf29ce484222325")],
        [ManifestEntry("a", 1, "CBF29CE484222325")],
        [ManifestEntry("a", 1, "cbf29ce48422232")],
    ],
)
def test_manifest_refuses_impossible_entries(entries: list[ManifestEntry]) -> None:
    with pytest.raises(ValueError, match="manifest"):
        bundle_manifest_json(entries)


def test_event_line_layout() -> None:
    line = event_line(
        1_770_976_800_041 * MS + 7,
        "FRAME_DROPPED",
        {
            "run_id": "run-1",
            "frame_id": "2",
            "dropped": "true",
            "size_bytes": "0",
            "reason": "sim_fault_injection",
        },
    )
    assert line == (
        b'{"ts_utc":"2026-02-13T10:00:00.041Z","type":"FRAME_DROPPED","payload":{"dropped":"true",'
        b'"frame_id":"2","reason":"sim_fault_injection","run_id":"run-1","size_bytes":"0"}}\n'
    )


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"])))
def test_json_escape_round_trips(text: str) -> None:
    escaped = json_escape(text)
    assert json.loads(f'"{escaped}"') == text
    assert not any(ord(c) < 0x20 for c in escaped)


def test_json_escape_matches_labops_forms() -> None:
    assert json_escape('"\\\b\f\n\r\t\x01\x1f') == '\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f'
    assert json_escape("\u00e9/\x7f") == "\u00e9/\x7f"


def test_summary_md_verdicts() -> None:
    m = compute_metrics([(i * 33 * MS, False) for i in range(30)], 1000)
    results = evaluate_thresholds(Thresholds(min_avg_fps=29.0, max_drop_rate_percent=1.0), m)
    text = summary_md(scenario_id="sim_baseline", run_id="run-1", metrics=m, results=results).decode()
    assert "verdict: **PASS** (2/2 thresholds passed)" in text
    assert "| min_avg_fps | >= 29.000000 | 30.000000 | PASS |" in text
    failing = [ThresholdResult("max_disconnect_count", 0, 1, False)]
    text = summary_md(scenario_id="x", run_id="a|b", metrics=m, results=failing).decode()
    assert "**FAIL**" in text
    assert "| max_disconnect_count | <= 0 | 1 | FAIL |" in text
    assert "`a\\|b`" in text
    assert verdict([]) == "NO THRESHOLDS"
