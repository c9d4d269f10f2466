"""``vrx ls``: runs found at any depth, their status from the head and tail of the log (the reader's
rules), filters, order, JSON fields, and the plugins' verdicts (vrx_run_verdict)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from vrx_core.cli.ls import fit_widths, format_duration, inspect_all, parse_since, print_runs
from vrx_core.engine.runinfo import derived_current, find_runs, inspect_run
from vrx_core.errors import UsageError
from vrx_core.events import Metric, Params
from vrx_core.log.lock import boot_id
from vrx_core.log.writer import Recorder

GOLDEN = Path(__file__).resolve().parents[1] / "golden"

JSON_FIELDS = {
    "path", "name", "run_id", "status", "end_status", "start", "start_utc", "end", "last_event",
    "duration_s", "lines", "bytes", "metrics", "step", "verdicts", "why", "problem",
    "torn_tail_bytes", "derived", "ranks",
}  # fmt: skip


def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    return int(proc.stdout)


def record(run: Path, *, n: int = 20, name: str | None = None, end: bool = True, **kw: Any) -> Path:
    """A run with params and ``n`` steps of loss and acc; without ``end`` it looks crashed (no
    run_end, and a lock naming a process that is gone)."""
    rec = Recorder(run, name=name, environment=False, **kw)
    rec.emit(Params(values={"lr": 0.1}))
    for i in range(n):
        rec.emit(Metric(name="loss", value=1.0 / (i + 1), step=i))
        rec.emit(Metric(name="acc", value=i / n, step=i))
    rec.close(end=end)
    if not end:
        holder = {"run_id": run.name, "host": socket.gethostname(), "pid": _dead_pid(), "boot_id": boot_id()}
        (run / "writer.lock").write_bytes(msgspec.json.encode({**holder, "since": time.time()}) + b"\n")
    return run


def ls_json(cli: Any, *args: str) -> list[dict[str, Any]]:
    r = cli("ls", *args, "--json")
    assert r.code == 0, r.err
    rows: list[dict[str, Any]] = json.loads(r.out)
    return rows


def by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in rows}


def verify_code(cli: Any, run: Path) -> int:
    code: int = cli("verify", str(run)).code
    return code


# -- statuses -----------------------------------------------------------------------------------


def test_running_ended_crashed(tmp_path: Path, cli: Any) -> None:
    record(tmp_path / "done", name="train-done")
    record(tmp_path / "dead", end=False)
    record(tmp_path / "gone", end=False)
    (tmp_path / "gone" / "writer.lock").unlink()  # no writer holds it
    live = Recorder(tmp_path / "live", environment=False)
    try:
        live.emit(Metric(name="loss", value=0.5, step=3))
        rows = by_name(ls_json(cli, str(tmp_path)))
    finally:
        live.close()
    assert rows["train-done"]["status"] == "ended" and rows["train-done"]["end_status"] == "ok"
    assert rows["train-done"]["path"] == str(tmp_path / "done")
    assert rows["dead"]["status"] == "crashed" and "gone" in rows["dead"]["why"]
    assert rows["gone"]["status"] == "crashed" and "writer.lock is missing" in rows["gone"]["why"]
    assert rows["live"]["status"] == "running" and f"pid={os.getpid()}" in rows["live"]["why"]
    assert rows["live"]["metrics"] == {"loss": 0.5} and rows["live"]["step"] == 3
    assert rows["train-done"]["metrics"] == {"acc": 0.95, "loss": 0.05} and rows["train-done"]["step"] == 19


def test_ended_with_an_error_status(tmp_path: Path, cli: Any) -> None:
    rec = Recorder(tmp_path / "failed", environment=False)
    rec.close("error", "RuntimeError: boom")
    (row,) = ls_json(cli, str(tmp_path))
    assert (row["status"], row["end_status"], row["why"]) == ("ended", "error", "RuntimeError: boom")
    assert "ended/error" in cli("ls", str(tmp_path)).out
    assert ls_json(cli, str(tmp_path), "--status", "error") == [row]
    assert ls_json(cli, str(tmp_path), "--status", "ok") == []


def test_a_torn_last_line_of_a_crashed_run_is_a_crash(tmp_path: Path, cli: Any) -> None:
    run = record(tmp_path / "torn", end=False)
    with (run / "events.jsonl").open("ab") as f:
        f.write(b'{"seq":41,"t":17000000')
    (row,) = ls_json(cli, str(tmp_path))
    assert (row["status"], row["torn_tail_bytes"], row["problem"]) == ("crashed", 22, None)
    assert verify_code(cli, run) == 3


def _flip(log: Path, offset: int) -> None:
    data = bytearray(log.read_bytes())
    data[offset] ^= 0x01
    log.write_bytes(bytes(data))


def test_a_flipped_byte_in_the_tail_window_is_corrupt(tmp_path: Path, cli: Any) -> None:
    run = record(tmp_path / "flip", n=600)  # ~150 KiB: the window is the last 16 KiB
    log = run / "events.jsonl"
    _flip(log, log.stat().st_size - 8_000)
    (row,) = ls_json(cli, str(tmp_path))
    assert row["status"] == "corrupt"
    assert row["problem"].startswith(f"{log}:") and ": crc: checksum mismatch" in row["problem"]
    assert verify_code(cli, run) == 65
    r = cli("ls", str(tmp_path))
    assert r.code == 0 and "corrupt" in r.out and f"vrx: corrupt: {log}:" in r.err


def test_damage_before_the_window_is_not_seen(tmp_path: Path) -> None:
    """ls reads the head and the tail only: a flip in the middle of a long log is verify's to find."""
    run = record(tmp_path / "long", n=1200)
    _flip(run / "events.jsonl", 100_000)
    assert inspect_run(run).status == "ended"


def test_damage_in_line_one_is_corrupt(tmp_path: Path, cli: Any) -> None:
    run = record(tmp_path / "head")
    _flip(run / "events.jsonl", 30)
    (row,) = ls_json(cli, str(tmp_path))
    assert row["status"] == "corrupt" and row["problem"].startswith(f"{run / 'events.jsonl'}:1 (byte 0)")
    assert row["name"] == "head"  # the directory's name: line 1 says nothing


def test_crash_residue_after_the_last_sync_is_a_crash_not_corruption(tmp_path: Path, cli: Any) -> None:
    """A damaged last line with no sync line after it is what a crash leaves (the reader's rule)."""
    run = record(tmp_path / "residue", end=False)
    log = run / "events.jsonl"
    _flip(log, log.stat().st_size - 20)
    (row,) = ls_json(cli, str(tmp_path))
    assert row["status"] == "crashed" and row["problem"].endswith("[crash residue]")
    assert verify_code(cli, run) == 3


def test_a_log_shorter_than_derived_json_recorded_is_corrupt(tmp_path: Path, cli: Any) -> None:
    run = record(tmp_path / "cut")
    assert cli("replay", str(run)).code == 0
    (row,) = ls_json(cli, str(tmp_path))
    assert row["status"] == "ended" and row["derived"]["current"] is True and row["derived"]["files"] >= 1
    log = run / "events.jsonl"
    log.write_bytes(log.read_bytes()[:-200])
    (row,) = ls_json(cli, str(tmp_path))
    assert row["status"] == "corrupt" and "shorter than" in row["problem"]


def test_derived_current_is_ls_rule_for_one_run(tmp_path: Path, cli: Any) -> None:
    """derived_current (vrx regressions' staleness check) says what ``derived.current`` says."""
    run = record(tmp_path / "grown")
    assert derived_current(run) is None  # never replayed
    assert cli("replay", str(run)).code == 0
    assert derived_current(run) is True and derived_current(run / "events.jsonl") is True
    with Recorder(run, resume="allow", environment=False) as rec:
        rec.emit(Metric(name="loss", value=0.01, step=99))
    (row,) = ls_json(cli, str(tmp_path))
    assert row["derived"]["current"] is False and derived_current(run) is False


def test_the_window_agrees_with_the_reader_on_any_tail_size(tmp_path: Path) -> None:
    """Small windows start mid-line, on a line start, or inside line 1's neighbourhood."""
    run = record(tmp_path / "w", n=50)
    full = inspect_run(run)
    for window in (1024, 1500, 2048, 4096, 10_000, 1 << 20):
        got = inspect_run(run, window=window)
        assert (got.status, got.lines, got.end, got.problem) == ("ended", full.lines, full.end, None)


# -- finding runs, filters, order ---------------------------------------------------------------


def test_runs_at_any_depth_and_inside_runs(tmp_path: Path, cli: Any) -> None:
    record(tmp_path / "a" / "b" / "c" / "deep")
    record(tmp_path / "sweep")
    record(tmp_path / "sweep" / "configs" / "x" / "probe")
    record(tmp_path / ".hidden" / "skipped")
    record(tmp_path / "__pycache__" / "skipped2")
    (tmp_path / "sweep" / "artifacts").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "a")  # not followed: "deep" is listed once
    names = sorted(r["name"] for r in ls_json(cli, str(tmp_path)))
    assert names == ["deep", "probe", "sweep"]
    assert list(find_runs(tmp_path / "sweep" / "events.jsonl")) == [tmp_path / "sweep"]
    # overlapping DIRs list each run once
    assert len(ls_json(cli, str(tmp_path), str(tmp_path / "sweep"))) == 3


def test_filters_and_sort(tmp_path: Path, cli: Any) -> None:
    record(tmp_path / "r1", name="train-b", n=5)
    record(tmp_path / "r2", name="train-a", n=50)
    record(tmp_path / "r3", name="eval-c", end=False)
    assert [r["name"] for r in ls_json(cli, str(tmp_path))] == ["train-b", "train-a", "eval-c"]  # by start
    assert [r["name"] for r in ls_json(cli, str(tmp_path), "--sort", "name")] == [
        "eval-c", "train-a", "train-b",
    ]  # fmt: skip
    assert [r["name"] for r in ls_json(cli, str(tmp_path), "--sort", "name", "-r")] == [
        "train-b", "train-a", "eval-c",
    ]  # fmt: skip
    # crashed before ended; ties by path
    assert [r["name"] for r in ls_json(cli, str(tmp_path), "--sort", "status")] == [
        "eval-c", "train-b", "train-a",
    ]  # fmt: skip
    by_duration = ls_json(cli, str(tmp_path), "--sort", "duration")
    assert [r["duration_s"] for r in by_duration] == sorted(r["duration_s"] for r in by_duration)
    assert [r["name"] for r in ls_json(cli, str(tmp_path), "--name", "train-*", "--sort", "name")] == [
        "train-a", "train-b",
    ]  # fmt: skip
    assert [r["name"] for r in ls_json(cli, str(tmp_path), "--status", "crashed")] == ["eval-c"]
    assert len(ls_json(cli, str(tmp_path), "--status", "crashed", "--status", "ended")) == 3
    assert len(ls_json(cli, str(tmp_path), "--since", "1h")) == 3
    assert ls_json(cli, str(tmp_path), "--since", "2999-01-01") == []
    assert len(ls_json(cli, str(tmp_path), "--since", "2000-01-01T00:00Z")) == 3


def test_json_fields(tmp_path: Path, cli: Any) -> None:
    record(tmp_path / "one", name="n1")
    (row,) = ls_json(cli, str(tmp_path))
    assert set(row) == JSON_FIELDS
    # run_start, params, 40 metrics, sync, run_end
    assert row["run_id"] == "one" and row["lines"] == 44
    assert row["bytes"] == (tmp_path / "one" / "events.jsonl").stat().st_size
    assert row["start_utc"].endswith("Z") and row["start"] <= row["end"] == row["last_event"]
    assert row["duration_s"] == pytest.approx(row["end"] - row["start"])
    assert row["derived"] is None and row["verdicts"] == {} and row["problem"] is None


def test_plain_table(tmp_path: Path, cli: Any) -> None:
    record(tmp_path / "one", name="n1")
    r = cli("ls", str(tmp_path))
    header, line = r.out.splitlines()
    assert header.split() == ["status", "start", "(UTC)", "duration", "name", "path", "metrics", "verdicts"]
    assert line.split()[0] == "ended" and "n1" in line and str(tmp_path / "one") in line
    assert "acc=0.95 loss=0.05" in line


def test_no_runs_and_missing_dirs(tmp_path: Path, cli: Any) -> None:
    r = cli("ls", str(tmp_path))
    assert (r.code, r.out) == (0, "") and "no runs found" in r.err
    r = cli("ls", str(tmp_path), "--json")
    assert (r.code, r.out) == (0, "[]\n")
    r = cli("ls", str(tmp_path / "nope"))
    assert r.code == 66 and "no such directory" in r.err
    r = cli("ls", str(tmp_path), "--since", "yesterday")
    assert r.code == 2 and "--since" in r.err


def test_a_file_is_not_a_directory_and_a_filtered_out_listing_says_so(tmp_path: Path, cli: Any) -> None:
    record(tmp_path / "lst" / "a")
    record(tmp_path / "lst" / "b")
    (tmp_path / "lst" / "a" / "run.md").write_text("# a\n")
    r = cli("ls", str(tmp_path / "lst" / "a" / "run.md"))
    assert r.code == 66 and r.out == ""
    assert r.err == f"vrx: {tmp_path / 'lst' / 'a' / 'run.md'}: not a directory (nor a run's events.jsonl)\n"
    assert len(ls_json(cli, str(tmp_path / "lst" / "a" / "events.jsonl"))) == 1  # a log names its run
    r = cli("ls", str(tmp_path / "lst"), "--status", "running")
    assert (r.code, r.out) == (0, "")
    assert r.err == f"vrx: 2 runs under {tmp_path / 'lst'}; none matched the filters\n"
    r = cli("ls", str(tmp_path / "lst" / "a"), "--status", "running")
    assert r.err == f"vrx: 1 run under {tmp_path / 'lst' / 'a'}; none matched the filters\n"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_narrow_terminal_still_gets_the_table_with_long_columns_folded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows wider than an 80-column terminal: the Rich table is drawn, the path folded (its every
    character kept), no line wider than the terminal; piped output stays one plain line a run."""
    run = record(tmp_path / "some" / "deeply" / "nested" / "runs" / "train-with-a-long-name-0001", name="t")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("TERM", "xterm")
    for name in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    infos = inspect_all([run])
    out = _Terminal()
    print_runs(infos, now=time.time(), out=out)
    lines = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue()).splitlines()
    assert lines and all(len(line) <= 80 for line in lines)
    head = next(i for i, line in enumerate(lines) if line.startswith("status "))  # start (UTC) may wrap
    assert lines[head + 1].split()[0] == "ended"
    path_column = lines[head].index("path")
    folded = "".join(line[path_column:].split(" ")[0] for line in lines[head + 1 :])
    assert folded.startswith(str(run)[:10]) and str(run) in folded
    piped = io.StringIO()
    print_runs(infos, now=time.time(), out=piped)
    assert len(piped.getvalue().splitlines()) == 2 and str(run) in piped.getvalue()


def test_fit_widths() -> None:
    grid = [["ended", "2025-06-01 12:00:00", "1.0s", "n" * 30, "p" * 70, "a=1 bb=2 loss=0.5 +2", "-"]]
    natural = [6, 19, 8, 30, 70, 20, 8]
    assert fit_widths(grid, 200) == natural
    widths = fit_widths(grid, 80)
    assert widths is not None and sum(widths) + 12 == 80
    assert widths[0] == 6 and widths[2] == 8  # status and duration never shrink
    assert widths[4] >= 24 and widths[5] >= len("loss=0.5")  # the path first, then a metric a line
    assert fit_widths(grid, 30) is None


def test_default_dir_is_the_current_one(tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    record(tmp_path / "runs" / "x")
    monkeypatch.chdir(tmp_path)
    (row,) = ls_json(cli)
    assert row["path"] == "runs/x"


def test_parse_since_and_durations() -> None:
    assert parse_since("2h", 10_000.0) == 10_000.0 - 7200
    assert parse_since("1.5d", 200_000.0) == 200_000.0 - 1.5 * 86400
    assert parse_since("1970-01-02T00:00:00+00:00", 0.0) == 86400.0
    with pytest.raises(UsageError):
        parse_since("soon", 0.0)
    assert [format_duration(s) for s in (None, 3.21, 65, 7325, 3 * 86400 + 4000)] == [
        "-", "3.2s", "1m05s", "2h02m", "3d01h",
    ]  # fmt: skip


def test_since_without_a_zone_is_utc_like_the_start_column(monkeypatch: pytest.MonkeyPatch) -> None:
    """The table's start is UTC, so a --since without a zone is too, whatever the local zone."""
    monkeypatch.setenv("TZ", "IST-5:30")  # a POSIX zone: no tz database needed
    time.tzset()
    try:
        for text in ("1970-01-02", "1970-01-02T00:00", "1970-01-02 00:00:00", "1970-01-02T00:00Z",
                     "1970-01-02T05:30+05:30", "1970-01-01T19:00-05:00"):  # fmt: skip
            assert parse_since(text, 0.0) == 86400.0, text
    finally:
        monkeypatch.undo()
        time.tzset()


# -- verdicts -----------------------------------------------------------------------------------


def _golden(tmp_path: Path, case: str) -> Path:
    dest = tmp_path / case
    shutil.copytree(GOLDEN / case, dest)
    return dest


def test_verdicts_of_the_builtin_plugins(tmp_path: Path, cli: Any) -> None:
    """Each plugin reads only the files derived.json says are its own: the probe's summary.md is not
    a triage summary, and a triage bundle's metrics.json is not a probe's."""
    _golden(tmp_path, "probe_pass")
    _golden(tmp_path, "probe_nan")
    _golden(tmp_path, "triage_sim_baseline")
    _golden(tmp_path, "triage_dropped_frames")
    rows = {Path(r["path"]).name: r for r in ls_json(cli, str(tmp_path))}
    assert rows["probe_pass"]["verdicts"] == {"gpu_probe": "PASS"}
    assert rows["probe_nan"]["verdicts"] == {"gpu_probe": "FAIL"}
    assert rows["triage_sim_baseline"]["verdicts"] == {"frame_triage": "PASS"}
    assert rows["triage_dropped_frames"]["verdicts"] == {"frame_triage": "FAIL"}
    assert all(r["status"] == "ended" and r["derived"]["current"] for r in rows.values())
    out = cli("ls", str(tmp_path), "--sort", "path").out
    assert "gpu_probe:PASS" in out and "frame_triage:FAIL" in out


def test_no_verdict_without_derived_files(tmp_path: Path, cli: Any) -> None:
    run = _golden(tmp_path, "probe_pass")
    (run / "derived.json").unlink()  # metrics.json of unknown origin: not the probe's to judge
    (row,) = ls_json(cli, str(tmp_path))
    assert row["verdicts"] == {} and row["derived"] is None


def test_a_failing_verdict_is_shown_not_raised(tmp_path: Path, cli: Any) -> None:
    plugin = tmp_path / "plugins" / "boom_verdict.py"
    plugin.parent.mkdir()
    plugin.write_text(
        "from vrx_core import hookimpl\n\n"
        "@hookimpl\n"
        "def vrx_run_verdict(run_dir):\n"
        "    raise RuntimeError('no')\n"
    )
    record(tmp_path / "runs" / "x")
    rows = ls_json(cli, str(tmp_path / "runs"), "--plugins-dir", str(plugin.parent))
    assert rows[0]["verdicts"] == {"boom_verdict": "error: RuntimeError"}


def test_assoc_and_ant_ratio_verdicts_read_their_own_files(tmp_path: Path) -> None:
    from vrx_plugins import ant_ratio, assoc_eval

    run = tmp_path / "assoc"
    run.mkdir()
    (run / "report.json").write_text(json.dumps({"eval": {"eval_acc": 0.93125, "eval_n": 64}}))
    assert assoc_eval.vrx_run_verdict(run_dir=run) is None  # not derived by assoc_eval
    (run / "derived.json").write_text(json.dumps({"files": {"report.json": {"plugin": "assoc_eval"}}}))
    assert assoc_eval.vrx_run_verdict(run_dir=run) == "acc 0.9313"
    assert ant_ratio.vrx_run_verdict(run_dir=run) is None

    packet = tmp_path / "packet"
    packet.mkdir()
    (packet / "packet.json").write_text(json.dumps({"stability_pass": False}))
    (packet / "derived.json").write_text(json.dumps({"files": {"packet.json": {"plugin": "ant_ratio"}}}))
    assert ant_ratio.vrx_run_verdict(run_dir=packet) == "FAIL"
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "sweep_meta.json").write_text(json.dumps({"ok": 3, "error": 1, "pending": ["x"]}))
    (sweep / "derived.json").write_text(json.dumps({"files": {"sweep_meta.json": {"plugin": "ant_ratio"}}}))
    assert ant_ratio.vrx_run_verdict(run_dir=sweep) == "3 ok, 1 error, 1 pending"


def test_newer_format_and_empty_logs(tmp_path: Path, cli: Any) -> None:
    from vrx_core.log.framing import frame

    newer = tmp_path / "newer"
    newer.mkdir()
    body = msgspec.json.encode(
        {
            "type": "run_start",
            "run_id": "n",
            "format_major": 2,
            "format_minor": 0,
            "writer": {"host": "h", "pid": 1},
        }
    )
    (newer / "events.jsonl").write_bytes(frame(0, 1_700_000_000.0, 1, body, 0))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "events.jsonl").write_bytes(b"")
    rows = {r["path"]: r for r in ls_json(cli, str(tmp_path))}
    assert rows[str(newer)]["status"] == "newer" and "upgrade vrx" in rows[str(newer)]["why"]
    assert rows[str(newer)]["start"] == 1_700_000_000.0
    assert rows[str(empty)]["status"] == "crashed" and rows[str(empty)]["start"] is None
    assert rows[str(empty)]["name"] == "empty" and rows[str(empty)]["lines"] == 0
