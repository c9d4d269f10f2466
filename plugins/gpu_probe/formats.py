"""Byte-exact writers of the probe's artifacts, as ``gpu_capacity_probe.py`` wrote them (ORIGINS 2.2).

The original wrote every file through a text-mode file opened with ``encoding="utf-8",
newline="\\n"``: no newline translation, so the bytes are the UTF-8 of the text it built.

- ``metrics.json``, ``env.json``, ``run_cmd.txt``: ``json.dumps(obj, ensure_ascii=True,
  sort_keys=True, indent=2)`` plus ``"\\n"``.
- ``metrics.csv``: a ``csv.writer`` with the default (``excel``) dialect, one header row (the
  metrics keys in insertion order) and one data row. The dialect ends rows with ``"\\r\\n"`` and
  ``newline="\\n"`` leaves that alone, so the original's file has CRLF line ends; so does ours.
- ``summary.md``: fixed lines; numbers as ``str()`` of the value (Python's shortest repr for a
  float, which survives the event log unchanged: msgspec writes floats in shortest repr too).

All functions are pure: they return bytes and never touch the filesystem.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

from .events import ProbeStarted

CONTRACT_REL_GOLDEN_DRAFT = "docs/gpu/objective_contract_v1.md"
CONTRACT_REPO_PATH = "Golden Draft/docs/gpu/objective_contract_v1.md"
WORKLOAD_SCHEMA_REL_GOLDEN_DRAFT = "docs/gpu/workload_schema_v1.md"
WORKLOAD_SCHEMA_REPO_PATH = "Golden Draft/docs/gpu/workload_schema_v1.md"

RUN_CMD_NOTES = (
    "seq_len is accounting (tokens/sec uses seq_len).",
    "synth_len is generated input length (x uses synth_len).",
    "out_dim is not part of workload_schema_v1; do not compare across out_dim without probe_id.",
)
SUMMARY_TITLE = "# GPU Capacity Probe Summary (VRA-32)"


def _json_file(obj: Any) -> bytes:
    """The original's JSON artifact layout: sorted keys, indent 2, ASCII escapes, final newline."""
    return (json.dumps(obj, ensure_ascii=True, sort_keys=True, indent=2) + "\n").encode("utf-8")


def metrics_json(metrics: Mapping[str, Any]) -> bytes:
    """``metrics.json`` (keys sorted, so the dict's own order does not matter here)."""
    return _json_file(dict(metrics))


def env_json(env: Mapping[str, Any]) -> bytes:
    """``env.json``: the recorded ``gpu_env_dump`` object in its writer's layout."""
    return _json_file(dict(env))


def csv_cell(value: Any) -> str:
    """One metrics value as a CSV cell: None empty, scalars by ``str()`` (``True``), the rest JSON."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float | str):
        return str(value)
    # Lists and dicts as JSON, so the cell parses back to what metrics.json holds.
    return json.dumps(value, ensure_ascii=True, sort_keys=True)


def metrics_csv(metrics: Mapping[str, Any]) -> bytes:
    """``metrics.csv``: header row and data row, columns in the metrics' insertion order, CRLF ends."""
    keys = list(metrics)
    buf = io.StringIO(newline="")  # keep the dialect's "\r\n" exactly as the original's file had it
    writer = csv.writer(buf)
    writer.writerow(keys)
    writer.writerow([csv_cell(metrics[k]) for k in keys])
    return buf.getvalue().encode("utf-8")


def debug_settings(started: ProbeStarted) -> str:
    """``(stall_after_step=N, stall_s=F, stall_threshold_s=F)``, as both debug notes spell it."""
    return (
        f"(stall_after_step={int(started.debug_stall_after_step)}, "
        f"stall_s={float(started.debug_stall_s)}, "
        f"stall_threshold_s={float(started.debug_stall_threshold_s)})"
    )


def is_debug_self_test(started: ProbeStarted) -> bool:
    """Whether the watchdog self-test (an injected stall) was on: not a rankable datapoint."""
    return int(started.debug_stall_after_step) >= 0


def run_cmd_notes(started: ProbeStarted) -> list[str]:
    notes = list(RUN_CMD_NOTES)
    if is_debug_self_test(started):
        notes.append(
            f"DEBUG: watchdog self-test enabled {debug_settings(started)}. Not a rankable datapoint."
        )
    return notes


def run_cmd_txt(started: ProbeStarted) -> bytes:
    """``run_cmd.txt``: the command, the contract paths, the resolved workload and its ids, notes."""
    return _json_file(
        {
            "argv": list(started.argv),
            "contract_rel_golden_draft": CONTRACT_REL_GOLDEN_DRAFT,
            "contract_repo_path": CONTRACT_REPO_PATH,
            "workload_schema_rel_golden_draft": WORKLOAD_SCHEMA_REL_GOLDEN_DRAFT,
            "workload_schema_repo_path": WORKLOAD_SCHEMA_REPO_PATH,
            "resolved_spec": started.resolved_spec,
            "canonical_spec": started.canonical_spec,
            "workload_id": started.workload_id,
            "probe_id": started.probe_id,
            "notes": run_cmd_notes(started),
        }
    )


def status(metrics: Mapping[str, Any]) -> str:
    """``PASS`` or ``FAIL``: the stability verdict (never the exit code, per the contract)."""
    return "PASS" if bool(metrics.get("stability_pass")) else "FAIL"


def reasons_text(metrics: Mapping[str, Any]) -> str:
    reasons = metrics.get("fail_reasons") or []
    return ", ".join(str(r) for r in reasons) if reasons else "(none)"


def summary_md(metrics: Mapping[str, Any], started: ProbeStarted) -> bytes:
    """``summary.md``: status, ids, shape, throughput, step times, VRAM, reasons, contract path.

    Values print as ``str()`` does (``None`` for a missing one), as the original's f-string did;
    the ids, precision, amp and out_dim come from the start, as the original took its args.
    """
    m = metrics
    lines = [
        SUMMARY_TITLE,
        "",
        f"- status: {status(m)}",
        f"- probe_id: {started.probe_id}",
        f"- workload_id: {started.workload_id}",
        f"- device: {m.get('device')}",
        f"- precision/amp: {started.precision} / {int(started.amp)}",
        f"- out_dim: {int(started.out_dim)}",
        f"- batch_size: {m.get('batch_size')}",
        f"- seq_len (accounting): {m.get('seq_len')}",
        f"- synth_len (generated): {m.get('synth_len')}",
        f"- throughput_samples_per_s: {m.get('throughput_samples_per_s')}",
        f"- throughput_tokens_per_s: {m.get('throughput_tokens_per_s')}",
        f"- median_step_time_s: {m.get('median_step_time_s')}",
        f"- p95_step_time_s: {m.get('p95_step_time_s')}",
        f"- peak_vram_reserved_bytes: {m.get('peak_vram_reserved_bytes')}",
        f"- peak_vram_allocated_bytes: {m.get('peak_vram_allocated_bytes')}",
        f"- fail_reasons: {reasons_text(m)}",
        "",
        f"Contract: {CONTRACT_REPO_PATH}",
    ]
    if is_debug_self_test(started):
        lines += ["", f"NOTE: debug watchdog self-test enabled {debug_settings(started)}."]
    return ("\n".join(lines) + "\n").encode("utf-8")
