"""Reading original labops bundles: a hand-written fixture, error locations, and a writer round trip."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from vrx_plugins.frame_triage.formats import event_line, run_id_for, run_json
from vrx_plugins.frame_triage.labops import (
    LabopsFormatError,
    StreamInfo,
    StreamStop,
    load_events_jsonl,
    load_labops_bundle,
    parse_events_jsonl,
    parse_run_json,
    parse_ts_utc,
)
from vrx_plugins.frame_triage.metrics import compute_metrics
from vrx_plugins.frame_triage.sim import Frame, SimConfig, simulate

FIXTURE = Path(__file__).parent / "fixtures" / "labops_bundle"
MS = 1_000_000
T0 = 1_770_976_800_000 * MS  # 2026-02-13T10:00:00.000Z


def test_fixture_bundle() -> None:
    bundle = load_labops_bundle(FIXTURE)
    events = bundle.events
    assert events.run_id == "run-1770976800000"
    assert events.config_params["drop_every_n"] == "3"
    assert len(events.config_params) == 8
    assert events.stream == StreamInfo(
        ts_ns=T0 + MS,
        run_id="run-1770976800000",
        scenario_id="tiny",
        backend="sim",
        duration_ms=200,
        fps=25,
        seed=777,
    )
    assert events.frames == [
        Frame(0, T0 + 1 * MS, 1048576, False),
        Frame(1, T0 + 41 * MS, 1048576, False),
        Frame(2, T0 + 81 * MS, 0, True),
        Frame(3, T0 + 121 * MS, 1048576, False),
        Frame(4, T0 + 161 * MS, 1048576, False),
    ]
    assert events.stop == StreamStop(T0 + 162 * MS, 5, 4, 1)
    assert events.other_events == []
    assert bundle.run is not None
    assert (bundle.run.scenario_id, bundle.run.seed, bundle.run.duration_ms) == ("tiny", 777, 200)
    assert bundle.run.finished_at_ns == T0 + 162 * MS
    assert bundle.scenario is not None
    assert bundle.scenario["scenario_id"] == "tiny"
    metrics = compute_metrics(events.frames, bundle.run.duration_ms)
    assert (metrics.frames_total, metrics.dropped_frames_total, metrics.avg_fps) == (5, 1, 20.0)
    assert metrics.inter_frame_interval_us.p95_us == 80000.0


def test_bundle_without_optional_files(tmp_path: Path) -> None:
    shutil.copy(FIXTURE / "events.jsonl", tmp_path / "events.jsonl")
    bundle = load_labops_bundle(tmp_path)
    assert (bundle.run, bundle.scenario, bundle.scenario_raw) == (None, None, None)
    assert len(bundle.events.frames) == 5


def test_missing_events_file(tmp_path: Path) -> None:
    with pytest.raises(LabopsFormatError, match=r"events\.jsonl: cannot be read"):
        load_labops_bundle(tmp_path)


def fixture_lines() -> list[str]:
    return (FIXTURE / "events.jsonl").read_text().splitlines()


def with_line(index: int, replacement: str) -> bytes:
    lines = fixture_lines()
    lines[index] = replacement
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize(
    ("index", "old", "new", "expected"),
    [
        (
            2,
            '"frame_id":"0"',
            '"frame_id":"x"',
            "events.jsonl:3: payload.frame_id: must be a decimal unsigned integer",
        ),
        (2, '"frame_id":"0"', '"frame_id":"01"', "events.jsonl:3: payload.frame_id: must be a decimal"),
        (2, '"frame_id":"0"', '"frame_id":"1"', "events.jsonl:4: payload.frame_id: frame 1 appears twice"),
        (
            2,
            '"frame_id":"0"',
            '"frame_id":0',
            "events.jsonl:3: payload.frame_id: payload values must be strings",
        ),
        (2, '"frame_id":"0",', "", "events.jsonl:3: payload.frame_id: is required"),
        (2, '"dropped":"false"', '"dropped":"true"', "events.jsonl:3: payload.dropped: must be 'false'"),
        (
            3,
            '"size_bytes":"1048576"',
            '"size_bytes":"4294967296"',
            "events.jsonl:4: payload.size_bytes: must be at most",
        ),
        (
            2,
            "10:00:00.001Z",
            "10:00:00.001",
            "events.jsonl:3: ts_utc: must look like YYYY-MM-DDTHH:MM:SS.mmmZ",
        ),
        (2, "2026-02-13", "2026-02-30", "events.jsonl:3: ts_utc: is not a valid UTC time"),
        (
            2,
            '"run_id":"run-1770976800000"',
            '"run_id":"run-2"',
            "events.jsonl:3: payload.run_id: 'run-2' differs",
        ),
        (2, '"type":"FRAME_RECEIVED"', '"type":""', "events.jsonl:3: type: must be a non-empty string"),
        (
            2,
            '"type":"FRAME_RECEIVED",',
            '"type":"FRAME_RECEIVED","extra":1,',
            "events.jsonl:3: extra: is not a labops",
        ),
        (
            7,
            '"frames_total":"5"',
            '"frames_total":"6"',
            "events.jsonl:8: payload: counters total/received/dropped",
        ),
        (1, '"fps":"25"', '"fps":"-1"', "events.jsonl:2: payload.fps: must be a decimal"),
        (0, '"applied_count":"8"', '"applied_count":"9"', "events.jsonl:1: payload.applied_count: says 9"),
    ],
)
def test_event_errors_name_file_line_field(index: int, old: str, new: str, expected: str) -> None:
    line = fixture_lines()[index]
    assert old in line
    with pytest.raises(LabopsFormatError) as info:
        parse_events_jsonl(with_line(index, line.replace(old, new)))
    assert str(info.value).startswith(expected), str(info.value)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"{}\n\n{}\n", "events.jsonl:1: ts_utc: is required"),
        (b"\n", "events.jsonl:1: blank line"),
        (b"[1]\n", "events.jsonl:1: event must be a JSON object"),
        (b'{"ts_utc":\n', "events.jsonl:1: invalid JSON at column 11"),
        (b"\xff\n", "events.jsonl: is not valid UTF-8 (byte offset 0)"),
        (
            b'{"ts_utc":"2026-02-13T10:00:00.000Z","type":"X","payload":[]}',
            "events.jsonl:1: payload: must be an object",
        ),
    ],
)
def test_structural_errors(data: bytes, expected: str) -> None:
    with pytest.raises(LabopsFormatError) as info:
        parse_events_jsonl(data)
    assert str(info.value).startswith(expected), str(info.value)


def test_unknown_event_types_are_kept_not_interpreted() -> None:
    line = '{"ts_utc":"2026-02-13T10:00:00.000Z","type":"warning","payload":{"message":"hi"}}'
    events = parse_events_jsonl((line + "\n").encode())
    assert [e.type for e in events.other_events] == ["warning"]
    assert events.other_events[0].payload == {"message": "hi"}
    assert events.frames == []


def test_file_errors_use_the_path(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"[]\n")
    with pytest.raises(LabopsFormatError, match=f"^{re.escape(str(path))}:1: "):
        load_events_jsonl(path)


def test_run_json_errors() -> None:
    good = (FIXTURE / "run.json").read_bytes()
    assert parse_run_json(good).run_id == "run-1770976800000"
    cases = {
        good.replace(
            b'"seed":777', b'"seed":"777"'
        ): "run.json: config.seed: must be an unsigned 64-bit integer",
        good.replace(b'"backend":"sim",', b""): "run.json: config.backend: is required",
        good.replace(b'.162Z"', b'"'): "run.json: timestamps.finished_at_utc: must look like",
        b"[]": "run.json: top-level JSON value must be an object",
    }
    for data, expected in cases.items():
        with pytest.raises(LabopsFormatError) as info:
            parse_run_json(data)
        assert str(info.value).startswith(expected), str(info.value)


def test_run_id_mismatch_between_files(tmp_path: Path) -> None:
    shutil.copy(FIXTURE / "events.jsonl", tmp_path / "events.jsonl")
    (tmp_path / "run.json").write_bytes((FIXTURE / "run.json").read_bytes().replace(b"run-177", b"run-999"))
    with pytest.raises(LabopsFormatError, match="run_id: 'run-9"):
        load_labops_bundle(tmp_path)


def test_round_trip_through_the_writers() -> None:
    """Frames written as labops events come back with millisecond timestamps."""
    cfg = SimConfig(
        fps=25, duration_ms=1200, seed=777, jitter_us=350, drop_every_n=4, burst_drop=2, reorder=3
    )
    start = T0 + 123_456_789
    frames = simulate(cfg, start)
    run_id = run_id_for(start)
    lines = [
        event_line(
            frame.ts_ns,
            "FRAME_DROPPED" if frame.dropped else "FRAME_RECEIVED",
            {
                "run_id": run_id,
                "frame_id": str(frame.frame_id),
                "size_bytes": str(frame.size_bytes),
                "dropped": "true" if frame.dropped else "false",
                **({"reason": "sim_fault_injection"} if frame.dropped else {}),
            },
        )
        for frame in frames
    ]
    events = parse_events_jsonl(b"".join(lines))
    assert events.frames == [f._replace(ts_ns=f.ts_ns // MS * MS) for f in frames]
    run = parse_run_json(
        run_json(
            run_id=run_id,
            scenario_id="dropped_frames",
            seed=777,
            duration_ms=1200,
            created_at_ns=start,
            started_at_ns=start,
            finished_at_ns=start,
            latest_frame_ts_ns=max(f.ts_ns for f in frames),
        )
    )
    assert run.finished_at_ns == max(f.ts_ns for f in frames) // MS * MS


def test_parse_ts_utc() -> None:
    assert parse_ts_utc("1970-01-01T00:00:00.000Z") == 0
    assert parse_ts_utc("2026-02-13T10:00:00.001Z") == T0 + MS
    with pytest.raises(ValueError, match="must look like"):
        parse_ts_utc("2026-02-13 10:00:00.001Z")
