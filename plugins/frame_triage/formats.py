"""Byte-exact writers of the labops bundle files (triage_bundle.md, ORIGINS 4.4) plus summary.md.

``bundle_manifest.json`` and the labops string escaping live in the ``bundles`` library, which
the manifest plugin shares.

Why hand-written formatting instead of ``json.dumps``: the original files are produced by C++
stream code with a fixed layout (``"key":value`` without spaces, 6-decimal ``std::fixed``
doubles, one-line arrays), and byte equality is what lets a bundle be diffed against, and hashed
like, one from the original tool. ``"%.6f"`` is correctly rounded like glibc ``printf``, which
libstdc++ uses for ``std::fixed``.

``metrics.json`` layout (the spec only says "one top-level key per line, rolling_fps on one
line"; the nested objects follow the same rule as the array, i.e. each on its own line)::

    {
      "avg_window_ms":2000,
      ...
      "avg_fps":2.000000,
      "inter_frame_interval_us":{"sample_count":3,"min_us":500000.000000,"avg_us":...,"p95_us":...},
      "inter_frame_jitter_us":{"sample_count":3,...},
      "rolling_fps":[{"window_end_ms":1700000001000,"frames_in_window":1,"fps":1.000000},...]
    }

All functions are pure: they return bytes and never touch the filesystem.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence

from ..bundles.labops_json import json_escape, utf8_key
from . import _rolling
from .metrics import NS_PER_MS, TimingStats, TriageMetrics, epoch_ms
from .thresholds import ThresholdResult

CSV_HEADER = "metric,window_end_ms,window_ms,frames,fps"
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


def fixed6(value: float) -> str:
    """``std::fixed << std::setprecision(6)`` of a double."""
    return f"{value:.6f}"


# --------------------------------------------------------------------------------------------
# metrics.csv / metrics.json


def _timing_rows(name: str, stats: TimingStats) -> list[str]:
    count = stats.sample_count
    return [
        f"{name}_min_us,,,{count},{fixed6(stats.min_us)}",
        f"{name}_avg_us,,,{count},{fixed6(stats.avg_us)}",
        f"{name}_p95_us,,,{count},{fixed6(stats.p95_us)}",
    ]


def metrics_csv(m: TriageMetrics) -> bytes:
    """metrics.csv: fixed header, then avg, drops, rolling rows, interval and jitter rows."""
    head = [
        CSV_HEADER,
        f"avg_fps,,{m.avg_window_ms},{m.received_frames_total},{fixed6(m.avg_fps)}",
        f"drops_total,,,{m.frames_total},{m.dropped_frames_total}",
        f"drop_rate_percent,,,{m.frames_total},{fixed6(m.drop_rate_percent)}",
    ]
    rolling = _rolling_rows(m, "rolling_fps,", f",{m.rolling_window_ms},{{count}},{{fps}}\n", "")
    tail = [
        *_timing_rows("inter_frame_interval", m.inter_frame_interval_us),
        *_timing_rows("inter_frame_jitter", m.inter_frame_jitter_us),
    ]
    return b"".join([_lines(head), rolling, _lines(tail)])


def _lines(lines: list[str]) -> bytes:
    return "".join(f"{line}\n" for line in lines).encode("ascii")


def _timing_object(stats: TimingStats) -> str:
    return (
        f'{{"sample_count":{stats.sample_count},"min_us":{fixed6(stats.min_us)},'
        f'"avg_us":{fixed6(stats.avg_us)},"p95_us":{fixed6(stats.p95_us)}}}'
    )


def _rolling_rows(m: TriageMetrics, head: str, tail: str, sep: str) -> bytes:
    """``head + window_end_ms + tail`` per rolling sample, joined by ``sep``; ``tail`` is formatted
    with the sample's ``count`` and ``fps`` (6 decimals).

    A capture has one sample per received frame but few distinct counts: each count's text is
    formatted here once, and the rows are assembled in C (``_rolling.rolling_rows``).
    """
    seconds = m.rolling_window_ms / 1000.0
    counts = m.rolling_frames_in_window
    tails = {c: tail.format(count=c, fps=f"{c / seconds:.6f}").encode("ascii") for c in set(counts)}
    return _rolling.rolling_rows(head.encode("ascii"), m.rolling_window_end_ms, counts, tails, sep.encode())


def metrics_json(m: TriageMetrics) -> bytes:
    """metrics.json in the hand-written labops layout (see the module docstring)."""
    fields = ",\n".join(
        [
            f'  "avg_window_ms":{m.avg_window_ms}',
            f'  "rolling_window_ms":{m.rolling_window_ms}',
            f'  "frames_total":{m.frames_total}',
            f'  "received_frames_total":{m.received_frames_total}',
            f'  "dropped_frames_total":{m.dropped_frames_total}',
            f'  "drop_rate_percent":{fixed6(m.drop_rate_percent)}',
            f'  "avg_fps":{fixed6(m.avg_fps)}',
            f'  "inter_frame_interval_us":{_timing_object(m.inter_frame_interval_us)}',
            f'  "inter_frame_jitter_us":{_timing_object(m.inter_frame_jitter_us)}',
            '  "rolling_fps":[',
        ]
    )
    rolling = _rolling_rows(m, '{"window_end_ms":', ',"frames_in_window":{count},"fps":{fps}}}', ",")
    return b"".join([f"{{\n{fields}".encode("ascii"), rolling, b"]\n}\n"])


# --------------------------------------------------------------------------------------------
# run.json and timestamps


def format_utc_ms(ts_ns: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` of an epoch-ns instant, milliseconds truncated.

    Uses floor division, which equals the C++ truncation for every post-1970 instant (the C++
    output before 1970 is inconsistent between its seconds and milliseconds parts).
    """
    millis = ts_ns // NS_PER_MS
    seconds, ms = divmod(millis, 1000)
    try:
        moment = _EPOCH + _dt.timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"timestamp {ts_ns} ns is outside years 1..9999") from None
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{ms:03d}Z"
    )


def run_id_for(created_at_ns: int) -> str:
    """``run-<epoch millis at creation>``, the labops run id."""
    return f"run-{epoch_ms(created_at_ns)}"


def run_json(
    *,
    run_id: str,
    scenario_id: str,
    seed: int,
    duration_ms: int,
    created_at_ns: int,
    started_at_ns: int,
    finished_at_ns: int,
    latest_frame_ts_ns: int | None = None,
    backend: str = "sim",
) -> bytes:
    """run.json: one line, no spaces, trailing newline.

    ``finished_at`` is raised to the latest frame timestamp when that is later, because the
    simulated frames are stamped on a virtual clock that can run ahead of the wall clock.
    ``scenario_id`` is what labops wrote there: the scenario file name stem.
    """
    finished = finished_at_ns
    if latest_frame_ts_ns is not None and latest_frame_ts_ns > finished:
        finished = latest_frame_ts_ns
    text = (
        f'{{"run_id":"{json_escape(run_id)}",'
        f'"config":{{"scenario_id":"{json_escape(scenario_id)}","backend":"{json_escape(backend)}",'
        f'"seed":{seed},"duration_ms":{duration_ms}}},'
        f'"timestamps":{{"created_at_utc":"{format_utc_ms(created_at_ns)}",'
        f'"started_at_utc":"{format_utc_ms(started_at_ns)}",'
        f'"finished_at_utc":"{format_utc_ms(finished)}"}}}}\n'
    )
    return text.encode()


def event_line(ts_ns: int, event_type: str, payload: Mapping[str, str]) -> bytes:
    """One events.jsonl line in the labops layout: string payload values, keys sorted bytewise."""
    fields = ",".join(
        f'"{json_escape(key)}":"{json_escape(payload[key])}"' for key in sorted(payload, key=utf8_key)
    )
    return (
        f'{{"ts_utc":"{format_utc_ms(ts_ns)}","type":"{json_escape(event_type)}","payload":{{{fields}}}}}\n'
    ).encode()


# --------------------------------------------------------------------------------------------
# summary.md


def _md(text: str) -> str:
    """Make arbitrary text safe inside a Markdown table cell or inline code span."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "'").replace("\n", " ")


def _value(value: float | int) -> str:
    return str(value) if isinstance(value, int) else fixed6(value)


def verdict(results: Sequence[ThresholdResult]) -> str:
    """``PASS`` when every evaluated threshold passed, ``FAIL`` otherwise, ``NO THRESHOLDS`` if none."""
    if not results:
        return "NO THRESHOLDS"
    return "PASS" if all(r.passed for r in results) else "FAIL"


def summary_verdict(summary: bytes) -> str | None:
    """The verdict :func:`summary_md` wrote (``PASS``, ``FAIL``, ``NO THRESHOLDS``), or None."""
    for line in summary.decode("utf-8", "replace").splitlines()[:8]:
        if line.startswith(_VERDICT_LINE):
            return line[len(_VERDICT_LINE) :].split("**", 1)[0] or None
    return None


_VERDICT_LINE = "- verdict: **"


def summary_md(
    *,
    scenario_id: str,
    run_id: str,
    metrics: TriageMetrics,
    results: Sequence[ThresholdResult],
) -> bytes:
    """A short human summary: verdict first, then the threshold table, then headline metrics."""
    passed = sum(1 for r in results if r.passed)
    lines = [
        f"# Triage summary: {_md(scenario_id)}",
        "",
        f"- run: `{_md(run_id)}`",
        f"- verdict: **{verdict(results)}** ({passed}/{len(results)} thresholds passed)",
        "",
        "## Thresholds",
        "",
        "| threshold | limit | actual | result |",
        "|---|---|---|---|",
    ]
    lines.extend(
        f"| {r.name} | {r.op} {_value(r.limit)} | {_value(r.actual)} | {'PASS' if r.passed else 'FAIL'} |"
        for r in results
    )
    if not results:
        lines.append("| (none configured) | | | |")
    lines += ["", "## Metrics", "", "| metric | value |", "|---|---|"]
    lines.extend(f"| {name} | {value} |" for name, value in _headline_metrics(metrics))
    lines.append("")
    return "\n".join(lines).encode()


def _headline_metrics(m: TriageMetrics) -> list[tuple[str, str]]:
    interval, jitter = m.inter_frame_interval_us, m.inter_frame_jitter_us
    return [
        ("frames_total", str(m.frames_total)),
        ("received_frames_total", str(m.received_frames_total)),
        ("dropped_frames_total", str(m.dropped_frames_total)),
        ("drop_rate_percent", fixed6(m.drop_rate_percent)),
        ("avg_fps", fixed6(m.avg_fps)),
        ("avg_window_ms", str(m.avg_window_ms)),
        ("rolling_samples", str(len(m.rolling_window_end_ms))),
        ("inter_frame_interval_us min/avg/p95", _triple(interval)),
        ("inter_frame_jitter_us min/avg/p95", _triple(jitter)),
        ("timing sample_count", str(interval.sample_count)),
    ]


def _triple(stats: TimingStats) -> str:
    return f"{fixed6(stats.min_us)} / {fixed6(stats.avg_us)} / {fixed6(stats.p95_us)}"
