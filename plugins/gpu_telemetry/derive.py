"""The gpu_telemetry deriver: ``gpu_telemetry.json`` for any run that recorded GPU telemetry."""

from __future__ import annotations

import re
from typing import Any

from vrx_core.codec import canonical_json
from vrx_core.hooks.api import DerivedFiles, Deriver, handles

from ..telemetry.events import GpuQueryFailed, GpuSample, GpuTelemetryStatus, GpuTelemetryStopped
from ..telemetry.summary import TelemetrySummary

OUTPUT = "gpu_telemetry.json"
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # a UTF-16 surrogate pair, as JSON spells characters beyond the BMP
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def ascii_json(obj: Any) -> bytes:
    """Canonical JSON with every non-ASCII character escaped (``ensure_ascii``), so the file is ASCII.

    Outside strings canonical JSON is ASCII already, so escaping the whole text only touches
    strings (a device name or an NVML message in another language).
    """
    return _NON_ASCII.sub(_escape, canonical_json(obj).decode("utf-8")).encode("ascii")


class GpuTelemetryDeriver(Deriver):
    """gpu.* events -> ``gpu_telemetry.json``; for a run without any, nothing."""

    outputs = frozenset({OUTPUT})

    def __init__(self) -> None:
        self.summary = TelemetrySummary()

    @handles(GpuSample, GpuTelemetryStatus, GpuQueryFailed, GpuTelemetryStopped)
    def on_telemetry(
        self, event: GpuSample | GpuTelemetryStatus | GpuQueryFailed | GpuTelemetryStopped
    ) -> None:
        self.summary.add(event)

    def run_outputs(self) -> frozenset[str]:
        return self.outputs if self.summary.seen else frozenset()

    def snapshot(self) -> dict[str, Any]:
        return self.summary.snapshot()

    def finish(self, out: DerivedFiles) -> None:
        if self.summary.seen:
            out.write_bytes(OUTPUT, ascii_json(self.summary.to_dict()))
