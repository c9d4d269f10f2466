"""The structlog processor records a user's structlog entries as ``log`` events."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import structlog
from _log_harness import assert_verdict, read_all
from structlog.testing import LogCapture

import vrx_core
from vrx_core.events import Log
from vrx_core.log.rundir import LOG as LOG_NAME
from vrx_core.log.writer import Recorder


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque>"


@pytest.mark.usefixtures("clean_structlog")
def test_log_structlog_entries_become_log_events(tmp_path: Path) -> None:
    """Each entry of a structlog pipeline that includes ``structlog_processor(rec)`` is recorded
    as a ``log`` event (level, message, logger, the other key/values as fields; non-JSON values
    and non-finite floats as their repr) and passes on to the next processor unchanged."""
    capture = LogCapture()
    with Recorder(tmp_path) as rec:
        structlog.configure(
            processors=[structlog.processors.add_log_level, vrx_core.structlog_processor(rec), capture],
            logger_factory=structlog.ReturnLoggerFactory(),
        )
        log = structlog.get_logger().bind(logger="train", run="r1")
        log.info("epoch done", epoch=3, loss=0.5, tags=["a", "b"], cfg={"lr": 1e-3})
        log.warning("diverging", loss=math.nan, obj=Opaque(), t=(1, 2))
    assert [e["event"] for e in capture.entries] == ["epoch done", "diverging"]
    assert capture.entries[0]["loss"] == 0.5 and math.isnan(capture.entries[1]["loss"])
    assert isinstance(capture.entries[1]["obj"], Opaque), "the entry passes on unchanged"
    events, _ = read_all(tmp_path / LOG_NAME, mode="strict")
    logs = [e for e in events if isinstance(e, Log)]
    assert [(e.level, e.msg, e.logger) for e in logs] == [
        ("info", "epoch done", "train"),
        ("warning", "diverging", "train"),
    ]
    assert logs[0].fields == {"run": "r1", "epoch": 3, "loss": 0.5, "tags": ["a", "b"], "cfg": {"lr": 0.001}}
    assert logs[1].fields == {"run": "r1", "loss": "NaN", "obj": "<Opaque>", "t": [1, 2]}
    assert_verdict(tmp_path, "OK")


@pytest.mark.usefixtures("clean_structlog")
def test_log_structlog_after_close_still_logs_but_records_nothing(tmp_path: Path) -> None:
    """Once the recorder is closed the processor stops recording and never raises: the user's
    logging keeps working after the run ended."""
    capture = LogCapture()
    rec = Recorder(tmp_path)
    structlog.configure(
        processors=[vrx_core.structlog_processor(rec), capture],
        logger_factory=structlog.ReturnLoggerFactory(),
    )
    structlog.get_logger().info("during")
    rec.close()
    before = (tmp_path / LOG_NAME).read_bytes()
    structlog.get_logger().error("after", code=1)
    assert [e["event"] for e in capture.entries] == ["during", "after"]
    assert (tmp_path / LOG_NAME).read_bytes() == before
    logs = [e for e in read_all(tmp_path / LOG_NAME, mode="strict")[0] if isinstance(e, Log)]
    assert [(e.level, e.msg) for e in logs] == [("info", "during")]


def test_log_structlog_fixture_restores_global_config(clean_structlog: None) -> None:
    """Sanity check of the fixture: the configuration seen here is structlog's default, so the
    tests above leave no global configuration behind."""
    assert not structlog.is_configured()
