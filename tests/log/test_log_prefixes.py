"""Every prefix of a log is a valid crashed log (RELIABILITY §4 row 1a, rule 1 of §5.2).

A file cut at any byte holds exactly the lines that end before the cut; the rest is an
uncommitted tail that no reader mode treats as an error.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from _log_harness import line_spans, read_all, sample_events, write_log

from vrx_core.engine.verify import verify_log
from vrx_core.errors import ExitCode
from vrx_core.log.rundir import LOG as LOG_NAME


def test_log_every_prefix_reads_exactly_the_lines_before_the_cut(tmp_path: Path) -> None:
    """For every cut offset of a small closed log (a copy truncated with os.truncate), the
    recover and strict readers never raise and return exactly the lines that end at or before the
    cut; the remainder is reported as torn bytes; verify says INCOMPLETE (3) except for the
    whole file, which is OK (0)."""
    log = write_log(tmp_path / "src", sample_events(14, big_every=6, big_size=200), fsync_every_n=4)
    data = log.read_bytes()
    spans = line_spans(data)
    assert len(spans) > 15 and data.endswith(b"\n")
    full, _ = read_all(log, mode="strict")
    run = tmp_path / "cut"
    run.mkdir()
    copy = run / LOG_NAME
    shutil.copyfile(log, copy)
    ends = [end for _, end in spans]
    n = len(spans)
    for cut in range(len(data), -1, -1):
        os.truncate(copy, cut)
        while n and ends[n - 1] > cut:
            n -= 1
        committed_end = ends[n - 1] if n else 0
        for mode in ("recover", "strict"):
            events, report = read_all(copy, mode=mode)
            assert events == full[:n], (cut, mode)
            assert report.torn_tail_bytes == cut - committed_end
            assert report.valid_end == committed_end
            assert not report.problems and report.residue is None
            assert report.complete == (cut == len(data))
        verdict = verify_log(run)
        assert verdict.exit_code == (ExitCode.OK if cut == len(data) else ExitCode.INCOMPLETE), (
            cut,
            verdict.lines(),
        )


def test_log_prefix_ending_in_a_complete_line_without_newline_is_uncommitted(tmp_path: Path) -> None:
    """A line whose JSON and CRC are complete but whose ``\\n`` is missing is not part of the
    log (RELIABILITY finding 1: a kill can stop a write right before the newline)."""
    log = write_log(tmp_path / "r", sample_events(3))
    data = log.read_bytes()
    log.write_bytes(data[:-1])
    events, report = read_all(log)
    assert len(events) == len(line_spans(data)) - 1
    assert report.torn_tail_bytes == len(data) - line_spans(data)[-1][0] - 1
    assert not report.complete
