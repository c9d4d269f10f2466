"""vrx regressions, the command: options, exit codes, console output and the files it writes, run
through a plain argparse harness (add_regressions + cmd_regressions)."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from vrx_core.hooks.host import Commands, common_options
from vrx_plugins.run_telemetry.regressions_cli import add_regressions, cmd_regressions


@dataclass
class Result:
    code: int
    out: str
    err: str


Run = Callable[..., Result]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Run:
    """``vrx regressions ARGS...`` through a fresh argparse parser, from ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")  # long tmp paths stay on one line in the panel
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):  # Rich's overrides of "not a tty"
        monkeypatch.delenv(name, raising=False)

    def go(*args: str) -> Result:
        parser = argparse.ArgumentParser(prog="vrx")
        add_regressions(parser.add_subparsers(dest="command"))
        capsys.readouterr()
        try:
            ns = parser.parse_args(["regressions", *args])
            ns.argv = ["vrx", "regressions", *args]
            code = ns.handler(ns)
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return go


def summary(losses: list[float], tps: float, tflops: float, mem: float) -> dict[str, Any]:
    return {
        "schema_version": "mgr.telemetry.v1",
        "meta": {
            "run_id": "r", "kind": "baseline", "device": "cuda", "git": {"commit": "abc1234", "dirty": False},
        },
        "config": {"attention_type": "standard", "use_flex_attention": False},
        "results": {
            "losses": losses, "tokens_per_second": tps, "tflops_per_second_est": tflops,
            "peak_memory_allocated_gb": mem,
        },
    }


def put(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


@pytest.fixture
def smoke(tmp_path: Path) -> tuple[str, str]:
    """ORIGINS 3.1's smoke pair, as run directories."""
    put(tmp_path / "base" / "summary.json", summary([3.0, 2.0], 1000, 1.0, 2.0))
    put(tmp_path / "cand" / "summary.json", summary([3.0, 2.1], 950, 0.95, 2.2))
    return "base", "cand"


# -- the smoke test (upstream's test_cli_regressions_smoke) ----------------------------------


def test_smoke_exit_0_without_the_fail_flag(run: Run, smoke: tuple[str, str], tmp_path: Path) -> None:
    r = run("-b", smoke[0], "-c", smoke[1], "--run-id", "smoke")
    assert r.code == 0, r.err
    assert (tmp_path / "artifacts" / "regressions" / "smoke" / "summary.json").is_file()
    assert "Guardrail" not in r.out


def test_smoke_exit_1_with_fail_on_regression(run: Run, smoke: tuple[str, str], tmp_path: Path) -> None:
    r = run("-b", smoke[0], "-c", smoke[1], "--fail-on-regression", "--no-write-artifacts", "--no-html")
    assert r.code == 1
    assert "Guardrail" in r.out
    assert "Regressions detected: final_loss, peak_memory_allocated_gb" in r.out
    assert not (tmp_path / "artifacts").exists()


def test_console_output_sections_and_plain_text_when_piped(run: Run, smoke: tuple[str, str]) -> None:
    """Panel, both tables, upstream's number formats, sparklines; no colour codes off a terminal."""
    r = run("-b", smoke[0], "-c", smoke[1], "--no-write-artifacts", "--baseline-variant", "sdpa")
    assert r.code == 0
    assert "\x1b[" not in r.out
    for text in ("Regression Diff", "Baseline: base/summary.json", "Candidate: cand/summary.json",
                 "Variants: baseline=sdpa candidate=-", "Run provenance", "Metrics",
                 "Loss sparklines (tail)", "█▁"):
        assert text in r.out, text
    for key in ("run_id", "device", "commit", "dirty", "attention_type", "use_flex_attention", "compile"):
        assert re.search(rf"│ {key} +│", r.out), key
    line = next(x for x in r.out.splitlines() if "Tokens/s" in x)
    assert re.search(r"1000 +│ +950 +│ +-50 +│ +-5\.00% +│ ok", line)
    line = next(x for x in r.out.splitlines() if "Final loss" in x)
    assert re.search(r"2 +│ +2\.1 +│ +\+0\.1 +│ +\+5\.00% +│ regression", line)


# -- exit codes -------------------------------------------------------------------------------


def test_fail_on_missing_counts_only_with_fail_on_regression(run: Run, tmp_path: Path) -> None:
    put(tmp_path / "b.json", summary([2.0], 1000, 1.0, 2.0))
    no_memory = {"results": {"losses": [2.0], "tokens_per_second": 1000, "tflops_per_second_est": 1.0}}
    put(tmp_path / "c.json", no_memory)
    args = ("-b", "b.json", "-c", "c.json", "--no-write-artifacts")
    assert run(*args).code == 0
    assert run(*args, "--fail-on-missing").code == 0
    assert run(*args, "--fail-on-regression").code == 0
    r = run(*args, "--fail-on-regression", "--fail-on-missing")
    assert r.code == 1 and "Regressions detected: peak_memory_allocated_gb" in r.out
    assert run(*args, "--fail-on-regression", "--fail-on-missing", "--no-fail-on-missing").code == 0
    assert run(*args, "--fail-on-regression", "--no-fail-on-regression", "--fail-on-missing").code == 0


def test_memory_default_vs_mgr_compat_through_the_command(run: Run, tmp_path: Path) -> None:
    """mem 2.0 -> 2.05 with --memory-rel 0.10: ok by default, a regression with --mgr-compat."""
    put(tmp_path / "b.json", summary([2.0], 1000, 1.0, 2.0))
    put(tmp_path / "c.json", summary([2.0], 1000, 1.0, 2.05))
    args = ("-b", "b.json", "-c", "c.json", "--memory-rel", "0.10", "--fail-on-regression", "--json",
            "--no-write-artifacts")
    default = run(*args)
    assert default.code == 0
    assert json.loads(default.out)["comparisons"][3]["status"] == "ok"
    compat = run(*args, "--mgr-compat")
    assert compat.code == 1
    assert json.loads(compat.out)["comparisons"][3]["status"] == "regression"
    assert "Regressions detected: peak_memory_allocated_gb" in compat.err


def test_json_prints_summary_json_bytes(run: Run, smoke: tuple[str, str], tmp_path: Path) -> None:
    """--json: stdout is exactly the summary.json written; the artifacts line goes to stderr."""
    r = run("-b", smoke[0], "-c", smoke[1], "--json", "--run-id", "j")
    assert r.code == 0
    assert r.out == (tmp_path / "artifacts" / "regressions" / "j" / "summary.json").read_text()
    assert "Regression Diff" not in r.out and "artifacts" in r.err
    rows = json.loads(r.out)["comparisons"]
    assert [row["status"] for row in rows] == ["regression", "ok", "ok", "regression"]


def test_not_found_is_a_usage_error_naming_the_path(run: Run, smoke: tuple[str, str], tmp_path: Path) -> None:
    r = run("-b", "missing_run", "-c", smoke[1])
    assert r.code == 2 and r.out == ""
    assert r.err.count("\n") == 1
    assert r.err.startswith("vrx regressions: --baseline: ") and "missing_run" in r.err
    (tmp_path / "emptydir").mkdir()
    r = run("-b", smoke[0], "-c", "emptydir")
    assert r.code == 2 and r.err.startswith("vrx regressions: --candidate: no summary.json at emptydir")


def test_vrx_run_without_summary_says_to_replay(run: Run, smoke: tuple[str, str], tmp_path: Path) -> None:
    put(tmp_path / "runs" / "train-1" / "events.jsonl", "")
    r = run("-b", "runs/train-1", "-c", smoke[1])
    assert r.code == 2
    assert "run `vrx replay runs/train-1` to derive it" in r.err and r.err.count("\n") == 1


def test_artifacts_dir_lookup(run: Run, tmp_path: Path) -> None:
    put(tmp_path / "arts" / "baseline" / "nanochat" / "b1" / "summary.json", summary([2.0], 10, 1, 1))
    put(tmp_path / "arts" / "bench" / "c1" / "summary.json", summary([2.0], 10, 1, 1))
    r = run("-b", "baseline/nanochat/b1", "-c", "bench/c1", "--artifacts-dir", "arts", "--run-id", "x")
    assert r.code == 0, r.err
    meta = json.loads((tmp_path / "arts" / "regressions" / "x" / "summary.json").read_text())["meta"]
    assert meta["baseline_path"] == "arts/baseline/nanochat/b1/summary.json"
    assert meta["candidate_path"] == "arts/bench/c1/summary.json"


def test_invalid_json_is_one_line_with_file_and_exit_65(
    run: Run, smoke: tuple[str, str], tmp_path: Path
) -> None:
    put(tmp_path / "bad" / "summary.json", '{"results": {"losses": [1.0,]}}')
    r = run("-b", smoke[0], "-c", "bad")
    assert r.code == 65 and r.out == ""
    assert r.err == "vrx regressions: bad/summary.json:1: invalid JSON at column 29: Expecting value\n"


@pytest.mark.parametrize(
    "args",
    [
        ("--loss-abs", "-0.1"),
        ("--loss-rel", "-1"),
        ("--throughput-rel", "1.5"),
        ("--throughput-rel", "-0.01"),
        ("--tflops-rel", "2"),
        ("--memory-rel", "10.5"),
        ("--memory-rel", "nan"),
        ("--loss-abs", "inf"),
        ("--loss-rel", "Infinity"),
        ("--loss-abs", "nan"),
        ("--throughput-rel", "-inf"),
        ("--tflops-rel", "nan"),
        ("--loss-abs", "abc"),
        ("--run-id", "a/b"),
        ("--run-id", ".."),
    ],
)
def test_out_of_range_options_are_usage_errors(
    run: Run, smoke: tuple[str, str], args: tuple[str, str]
) -> None:
    r = run("-b", smoke[0], "-c", smoke[1], *args)
    assert r.code == 2
    assert f"argument {args[0]}" in r.err


@pytest.mark.parametrize(
    "args",
    [("--loss-abs", "0"), ("--loss-abs", "5"), ("--throughput-rel", "1"), ("--tflops-rel", "0"),
     ("--memory-rel", "10"), ("--loss-rel", "100")],
)
def test_range_bounds_are_inclusive(run: Run, smoke: tuple[str, str], args: tuple[str, str]) -> None:
    assert run("-b", smoke[0], "-c", smoke[1], "--no-write-artifacts", *args).code == 0


def test_baseline_and_candidate_are_required(run: Run, smoke: tuple[str, str]) -> None:
    assert run("-b", smoke[0]).code == 2
    assert run("-c", smoke[1]).code == 2


def test_help_explains_the_memory_rule(run: Run) -> None:
    r = run("--help")
    assert r.code == 0
    text = " ".join(r.out.split())
    for option in ("--baseline", "--candidate", "--baseline-variant", "--candidate-variant", "--loss-abs",
                   "--loss-rel", "--throughput-rel", "--tflops-rel", "--memory-rel", "--artifacts-dir",
                   "--run-id", "--write-artifacts, --no-write-artifacts", "--html, --no-html",
                   "--fail-on-regression, --no-fail-on-regression", "--fail-on-missing, --no-fail-on-missing",
                   "--mgr-compat", "--json"):
        assert option in text, option
    assert "by default it is judged by --memory-rel alone" in text
    assert "--mgr-compat reproduces upstream exactly" in text


def test_defaults(run: Run) -> None:
    parser = argparse.ArgumentParser(prog="vrx")
    add_regressions(parser.add_subparsers())
    ns = parser.parse_args(["regressions", "-b", "x", "-c", "y"])
    assert (ns.loss_abs, ns.loss_rel, ns.throughput_rel, ns.tflops_rel, ns.memory_rel) == (
        0.01, 0.01, 0.05, 0.05, 0.05,
    )
    assert (ns.artifacts_dir, ns.run_id, ns.write_artifacts, ns.html) == ("artifacts", None, True, True)
    assert (ns.fail_on_regression, ns.fail_on_missing, ns.mgr_compat, ns.json) == (False, False, False, False)
    assert (ns.baseline_variant, ns.candidate_variant) == (None, None)
    assert ns.handler is cmd_regressions


def test_registers_through_commands_with_the_common_options(smoke: tuple[str, str]) -> None:
    """From the plugin's vrx_add_commands hook: Commands.add, whose parents give --debug, -p, ..."""
    parser = argparse.ArgumentParser(prog="vrx")
    commands = Commands(parser.add_subparsers(dest="command"), [common_options()])
    add_regressions(commands)
    ns = parser.parse_args(["regressions", "-b", smoke[0], "-c", smoke[1], "--debug", "-p", "no:x"])
    assert ns.debug is True and ns.plugin_opts == ["no:x"] and ns.handler is cmd_regressions


# -- artifacts --------------------------------------------------------------------------------


def test_artifacts_summary_json(run: Run, smoke: tuple[str, str], tmp_path: Path) -> None:
    r = run("-b", smoke[0], "-c", smoke[1], "--run-id", "r1", "--baseline-variant", "v")
    assert r.code == 0
    out = tmp_path / "artifacts" / "regressions" / "r1"
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "run.md", "summary.json"]
    text = (out / "summary.json").read_text()
    data = json.loads(text)
    assert text == json.dumps(data, indent=2, sort_keys=True) + "\n"
    assert set(data) == {"meta", "thresholds", "baseline", "candidate", "comparisons"}  # no schema_version
    meta = data["meta"]
    assert set(meta) == {"run_id", "generated_at", "git", "argv", "baseline_path", "candidate_path",
                         "baseline_variant", "candidate_variant"}
    assert set(meta["git"]) == {"commit", "commit_full", "branch", "dirty"}
    assert meta["run_id"] == "r1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S*", meta["generated_at"])
    assert meta["argv"] == ["vrx", "regressions", "-b", "base", "-c", "cand", "--run-id", "r1",
                            "--baseline-variant", "v"]
    assert (meta["baseline_path"], meta["candidate_path"]) == ("base/summary.json", "cand/summary.json")
    assert (meta["baseline_variant"], meta["candidate_variant"]) == ("v", None)
    assert data["thresholds"] == {"loss_abs": 0.01, "loss_rel": 0.01, "throughput_rel": 0.05,
                                  "tflops_rel": 0.05, "memory_rel": 0.05}
    assert set(data["baseline"]) == {"run_id", "kind", "device", "commit", "dirty", "attention_type",
                                     "use_flex_attention", "compile", "command"}
    assert data["baseline"]["commit"] == "abc1234" and data["baseline"]["device"] == "cuda"
    rows = data["comparisons"]
    assert [set(row) for row in rows] == [
        {"metric", "label", "direction", "baseline", "candidate", "delta", "delta_rel", "status"}
    ] * 4
    assert rows[1] == {"metric": "tokens_per_second", "label": "Tokens/s", "direction": "higher",
                       "baseline": 1000.0, "candidate": 950.0, "delta": -50.0, "delta_rel": -0.05,
                       "status": "ok"}


def test_artifacts_run_md_sections(run: Run, smoke: tuple[str, str], tmp_path: Path) -> None:
    run("-b", smoke[0], "-c", smoke[1], "--run-id", "r2", "--candidate-variant", "flex")
    md = (tmp_path / "artifacts" / "regressions" / "r2" / "run.md").read_text()
    headings = [line for line in md.splitlines() if line.startswith("#")]
    assert headings == ["# Regression Report", "## Thresholds", "## Metrics", "## Loss sparklines (tail)",
                        "## Command"]
    for bullet in ("- generated_at: ", "- baseline: `base/summary.json`", "- candidate: `cand/summary.json`",
                   "- variants: baseline=- candidate=flex"):
        assert bullet in md, bullet
    thresholds = md.split("```json\n", 1)[1].split("```", 1)[0]
    assert json.loads(thresholds)["memory_rel"] == 0.05
    assert "memory_rel alone" in md
    assert "| metric | baseline | candidate | delta | delta% | status |" in md
    assert "| Peak mem (GB) | 2 | 2.2 | +0.2 | +10.00% | regression |" in md
    assert "```bash\nvrx regressions -b base -c cand --run-id r2 --candidate-variant flex\n```" in md


def test_run_md_without_variants_or_losses(run: Run, tmp_path: Path) -> None:
    put(tmp_path / "b.json", {"results": {"tokens_per_second": 1.0}})
    run("-b", "b.json", "-c", "b.json", "--run-id", "r3", "--mgr-compat")
    md = (tmp_path / "artifacts" / "regressions" / "r3" / "run.md").read_text()
    assert "- variants" not in md and "## Loss sparklines" not in md
    assert "(--mgr-compat, as mgr regressions)" in md
    assert "| Final loss | - | - | - | - | missing |" in md


def test_artifacts_report_html_row_classes_and_escaping(run: Run, tmp_path: Path) -> None:
    put(tmp_path / "a<b>" / "summary.json", summary([2.0], 1000, 1.0, 2.0))
    no_memory = {"results": {"losses": [2.5], "tokens_per_second": 1000, "tflops_per_second_est": 1}}
    put(tmp_path / "c.json", no_memory)
    assert run("-b", "a<b>", "-c", "c.json", "--run-id", "h").code == 0
    page = (tmp_path / "artifacts" / "regressions" / "h" / "report.html").read_text()
    assert re.findall(r'<tr class="(\w+)">', page) == ["regression", "ok", "ok", "missing"]
    assert "a&lt;b&gt;/summary.json" in page and "a<b>" not in page


def test_no_html_and_no_write_artifacts(run: Run, smoke: tuple[str, str], tmp_path: Path) -> None:
    run("-b", smoke[0], "-c", smoke[1], "--run-id", "n", "--no-html")
    out = tmp_path / "artifacts" / "regressions" / "n"
    assert sorted(p.name for p in out.iterdir()) == ["run.md", "summary.json"]
    run("-b", smoke[0], "-c", smoke[1], "--run-id", "m", "--no-write-artifacts")
    assert not (tmp_path / "artifacts" / "regressions" / "m").exists()


def test_default_run_id_is_local_time(run: Run, smoke: tuple[str, str], tmp_path: Path) -> None:
    assert run("-b", smoke[0], "-c", smoke[1]).code == 0
    (made,) = (tmp_path / "artifacts" / "regressions").iterdir()
    assert re.fullmatch(r"\d{8}_\d{6}", made.name)


def test_cmd_regressions_is_callable_directly(
    smoke: tuple[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The handler needs only the parsed options (argv falls back to sys.argv)."""
    monkeypatch.chdir(tmp_path)
    ns = argparse.Namespace(
        baseline=smoke[0], candidate=smoke[1], baseline_variant=None, candidate_variant=None,
        loss_abs=0.01, loss_rel=0.01, throughput_rel=0.05, tflops_rel=0.05, memory_rel=0.05,
        artifacts_dir="artifacts", run_id="d", write_artifacts=False, html=False,
        fail_on_regression=True, fail_on_missing=False, mgr_compat=False, json=True,
    )
    assert cmd_regressions(ns) == 1
    assert json.loads(capsys.readouterr().out)["meta"]["run_id"] == "d"


# -- through the vrx command: vrx runs, stale summaries, unwritable artifacts ----------------------


def _vrx_run(cli: Callable[..., Any], run: Path, *, metrics: bool = True) -> None:
    """A recorded vrx run, replayed (summary.json derived when it has a metric)."""
    from vrx_core.events import Metric, Params
    from vrx_core.log.writer import Recorder

    with Recorder(run, environment=False, summary=False) as rec:
        rec.emit(Params(values={"tokens_per_step": 10}))
        if metrics:
            rec.emit(Metric("loss", 2.0, 0))
    assert cli("replay", str(run)).code == 0


def test_a_stale_summary_of_a_vrx_run_is_refused(
    cli: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log grew since the replay: its summary.json would be compared silently; refused (exit 2)
    until `vrx replay` derives it again. A summary.json named as a file is taken as it is."""
    monkeypatch.chdir(tmp_path)
    _vrx_run(cli, Path("runs/train-1"))
    ok = ("-c", "runs/train-1", "--no-write-artifacts")
    assert cli("regressions", "-b", "runs/train-1", *ok).code == 0
    more = put(tmp_path / "more.jsonl", '{"type": "metric", "name": "loss", "value": 9.0, "step": 1}\n')
    assert cli("ingest", "runs/train-1", str(more), "--resume", "allow").code == 0
    for raw in ("runs/train-1", "runs/train-1/events.jsonl"):
        r = cli("regressions", "-b", raw, "-c", "runs/train-1/summary.json", "--no-write-artifacts")
        assert (r.code, r.out) == (2, "")
        assert r.err == (
            "vrx regressions: --baseline: summary.json of runs/train-1 is stale (the log changed since it"
            " was derived); run `vrx replay runs/train-1`\n"
        )
    r = cli("regressions", "-b", "runs/train-1/summary.json", *ok)
    assert r.code == 2 and r.err.startswith("vrx regressions: --candidate: summary.json of runs/train-1")
    assert cli("regressions", "-b", "runs/train-1/summary.json", "-c", "runs/train-1/summary.json",
               "--no-write-artifacts").code == 0  # fmt: skip
    assert cli("replay", "runs/train-1").code == 0
    r = cli("regressions", "-b", "runs/train-1", *ok, "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["comparisons"][0]["baseline"] == 9.0  # the new loss


def test_a_replayed_vrx_run_without_metrics_is_not_told_to_replay(
    cli: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _vrx_run(cli, Path("runs/params-only"), metrics=False)
    _vrx_run(cli, Path("runs/train-1"))
    r = cli("regressions", "-b", "runs/params-only", "-c", "runs/train-1", "--no-write-artifacts")
    assert (r.code, r.err.count("\n")) == (2, 1)
    assert r.err == (
        "vrx regressions: --baseline: no summary.json in vrx run runs/params-only: this run records no"
        " metrics, so it has no summary.json\n"
    )
    # Never replayed with the telemetry plugin: it may have metrics, so the hint stays.
    assert cli("replay", "runs/params-only", "-p", "no:telemetry").code == 0
    r = cli("regressions", "-b", "runs/params-only", "-c", "runs/train-1", "--no-write-artifacts")
    assert r.code == 2 and "run `vrx replay runs/params-only` to derive it" in r.err


def test_an_unwritable_artifacts_dir_exits_73_even_with_fail_on_regression(
    cli: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    put(tmp_path / "b.json", summary([2.0], 1000, 1, 2))
    put(tmp_path / "c.json", summary([3.0], 1000, 1, 2))
    put(tmp_path / "afile", "")  # a file where the artifacts directory should be
    for gate in ((), ("--fail-on-regression",)):
        r = cli("regressions", "-b", "b.json", "-c", "c.json", "--artifacts-dir", "afile", *gate)
        assert r.code == 73 and "Metrics" in r.out  # the comparison was printed first
        assert r.err.count("\n") == 1 and "afile" in r.err and "Traceback" not in r.err
