"""``vrx packet`` end to end: original-format and vrx roots, errors, the recorded derivation."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_packet_fixtures import (
    VECTOR_TOKEN_BUDGET,
    dump,
    original_metrics,
    original_roots,
    vector_roots,
)

from vrx_core.events import Source
from vrx_core.log.reader import read_events
from vrx_core.testing import PluginContract, make_plugins
from vrx_plugins import ant_ratio
from vrx_plugins.ant_ratio import sources
from vrx_plugins.ant_ratio.events import PacketStarted

ROOT = Path(__file__).resolve().parents[2]
Cli = Callable[..., Any]


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # outside any git repository: roots absolute, git_commit null
    # Exactly the plugins under test: another plugin's state (or its warnings) cannot change the result.
    monkeypatch.setenv("VRX_LOAD_PLUGINS", "ant_ratio,gpu_probe")


def packet_args(probe: Path, assoc: Path, *extra: str) -> list[str]:
    return ["packet", "--probe-run-root", str(probe), "--assoc-run-root", str(assoc), *extra]


def test_the_upstream_vector_on_stdout(cli: Cli, tmp_path: Path) -> None:
    probe, assoc = vector_roots(tmp_path)
    r = cli(
        *packet_args(
            probe,
            assoc,
            "--token-budget",
            str(VECTOR_TOKEN_BUDGET),
            "--min-steps",
            "1",
            "--max-steps",
            "10000",
            "--run-dir",
            "run",
        )
    )
    assert r.code == 0, r.err
    pkt = json.loads(r.out)
    assert r.out == json.dumps(pkt, sort_keys=True, indent=2, ensure_ascii=True) + "\n"
    assert (tmp_path / "run" / "packet.json").read_text() == r.out
    assert (pkt["ant_tier"], pkt["ant_body_cells"], pkt["ant_body_scale_vs_small"]) == ("small", 524288, 1.0)
    assert (pkt["expert_heads"], pkt["vram_ratio_reserved"], pkt["stability_pass"]) == (4, 0.85, True)
    assert (pkt["assoc_eval_disjoint"], pkt["assoc_byte_disjoint_accuracy"], pkt["assoc_eval_n"]) == (
        True,
        0.75,
        1234,
    )
    assert (pkt["token_budget"], pkt["token_budget_steps"]) == (VECTOR_TOKEN_BUDGET, 10)
    assert (pkt["probe_run_root"], pkt["assoc_run_root"]) == (
        probe.resolve().as_posix(),
        assoc.resolve().as_posix(),
    )
    assert pkt["git_commit"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", pkt["generated_utc"])
    assert "packet run: run" in r.err


def test_original_format_roots(cli: Cli, tmp_path: Path) -> None:
    probe, assoc = original_roots(tmp_path)
    out = tmp_path / "out" / "deep" / "packet.json"
    r = cli(*packet_args(probe, assoc, "--token-budget", "1000000", "--max-steps", "2000", "--out", str(out)))
    assert r.code == 0, r.err
    assert r.out == ""
    pkt = json.loads(out.read_text())
    assert (pkt["ant_tier"], pkt["ant_ring_len"], pkt["ant_slot_dim"]) == ("real", 8192, 576)
    assert (pkt["ant_body_cells"], pkt["ant_body_scale_vs_small"]) == (4718592, 9.0)
    assert (pkt["expert_heads"], pkt["batch_size"], pkt["precision"], pkt["amp"]) == (2, 12, "fp16", 1)
    assert pkt["vram_ratio_reserved"] == 0.8
    assert (pkt["throughput_tokens_per_s"], pkt["throughput_samples_per_s"]) == (25600.0, 100.0)
    assert (pkt["assoc_byte_disjoint_accuracy"], pkt["assoc_eval_n"]) == (0.0078125, 4096)
    assert (pkt["token_budget_tokens_per_step"], pkt["token_budget_steps"]) == (3072, 325)
    assert pkt["stability_pass"] is True
    assert (pkt["workload_id"], pkt["probe_id"]) == (
        "wl_v1_0123456789ab",
        "wl_v1_0123456789ab__E2__fp16_amp1",
    )
    # the default run location: a new runs/packet-<time> under the working directory
    runs = sorted((tmp_path / "runs").glob("packet-*"))
    assert len(runs) == 1 and (runs[0] / "packet.json").read_bytes() == out.read_bytes()


def test_an_original_fail_run_is_a_fail(cli: Cli, tmp_path: Path) -> None:
    metrics = original_metrics(
        stability_pass=False,
        fail_reasons=["runtime_exception", "oom"],
        had_oom=True,
        peak_vram_reserved_bytes=None,
        runtime_exception_msg="CUDA out of memory",
    )
    probe, assoc = original_roots(tmp_path, metrics=metrics)
    r = cli(*packet_args(probe, assoc, "--run-dir", "run"))
    pkt = json.loads(r.out)
    assert (pkt["stability_pass"], pkt["had_oom"], pkt["fail_reasons"]) == (
        False,
        True,
        ["runtime_exception", "oom"],
    )
    assert pkt["vram_ratio_reserved"] is None


def test_roots_under_the_git_work_tree_are_repo_relative(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe, assoc = vector_roots(tmp_path / "repo" / "runs")
    monkeypatch.setattr(sources, "git_context", lambda cwd: ((tmp_path / "repo").resolve(), "c0ffee"))
    r = cli(*packet_args(probe, assoc, "--run-dir", "run"))
    pkt = json.loads(r.out)
    assert (pkt["probe_run_root"], pkt["assoc_run_root"], pkt["git_commit"]) == (
        "runs/probe",
        "runs/assoc",
        "c0ffee",
    )


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout")
def test_git_context_is_the_work_tree_and_its_head() -> None:
    top, commit = sources.git_context(ROOT / "plugins")
    assert top == ROOT.resolve()
    assert commit is not None and re.fullmatch(r"[0-9a-f]{40}", commit)


def test_git_context_outside_a_repository(tmp_path: Path) -> None:
    assert sources.git_context(tmp_path) == (None, None)


# -- a probe root written by vrx ---------------------------------------------------------------------


def test_a_probe_root_written_by_vrx_probe_run(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VRX_FORCE_DEVICE", "cpu")
    ant = json.dumps({"ring_len": 32, "slot_dim": 16, "ptr_dtype": "fp32", "precision": "fp32"})
    colony = json.dumps(
        {"seq_len": 8, "synth_len": 4, "batch_size": 2, "ptr_update_every": 1, "state_loop_samples": 0}
    )
    probe = tmp_path / "probe"
    r = cli(
        "probe",
        "run",
        "--ant",
        ant,
        "--colony",
        colony,
        "--out-dim",
        "1",
        "--batch",
        "2",
        "--warmup-steps",
        "1",
        "--measure-steps",
        "2",
        "--precision",
        "fp32",
        "--amp",
        "0",
        "--output-dir",
        str(probe),
        "--telemetry-interval",
        "0",
    )
    assert r.code == 0, r.err
    dump(
        tmp_path / "assoc" / "report.json",
        {"settings": {"eval_disjoint": True}, "eval": {"eval_acc": 0.5, "eval_n": 512}},
    )
    r = cli(
        *packet_args(
            probe, tmp_path / "assoc", "--token-budget", "160", "--min-steps", "1", "--run-dir", "run"
        )
    )
    assert r.code == 0, r.err
    pkt = json.loads(r.out)
    metrics = json.loads((probe / "metrics.json").read_text())
    assert (pkt["ant_tier"], pkt["ant_body_cells"], pkt["ant_body_scale_vs_small"]) == (
        "custom",
        512,
        512 / 524288,
    )
    assert (pkt["expert_heads"], pkt["batch_size"], pkt["seq_len"], pkt["precision"]) == (1, 2, 8, "fp32")
    assert pkt["stability_pass"] is (metrics["stability_pass"] is True)
    assert pkt["vram_ratio_reserved"] is None  # no CUDA peaks on a CPU run
    assert (pkt["workload_id"], pkt["probe_id"]) == (metrics["workload_id"], metrics["probe_id"])
    assert (pkt["token_budget_tokens_per_step"], pkt["token_budget_steps"]) == (16, 10)


def test_an_assoc_root_written_by_vrx_assoc_run(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VRX_LOAD_PLUGINS", "ant_ratio,assoc_eval")
    monkeypatch.setenv("VRX_FORCE_DEVICE", "cpu")
    ant = json.dumps({"ring_len": 16, "slot_dim": 8, "ptr_dtype": "fp64", "precision": "fp32"})
    assoc = tmp_path / "assoc-tiny"
    tiny = ["--keys", "4", "--pairs", "2", "--val-range", "4", "--seq-len", "8", "--max-samples", "64"]
    r = cli(
        "assoc",
        "run",
        "--output-dir",
        str(assoc),
        "--ant",
        ant,
        *tiny,
        "--eval-samples",
        "64",
        "--steps",
        "3",
    )
    assert r.code == 0, r.err
    report = json.loads((assoc / "report.json").read_text())
    probe, _ = vector_roots(tmp_path)
    r = cli(*packet_args(probe, assoc, "--run-dir", "run"))
    assert r.code == 0, r.err
    pkt = json.loads(r.out)
    assert pkt["assoc_byte_disjoint_accuracy"] == report["eval"]["eval_acc"]
    assert (pkt["assoc_eval_n"], pkt["assoc_eval_disjoint"]) == (64, True)


def test_a_vrx_run_without_its_derived_files_says_how_to_derive_them(cli: Cli, tmp_path: Path) -> None:
    probe, assoc = vector_roots(tmp_path)
    (probe / "metrics.json").unlink()
    (probe / "events.jsonl").write_text("")
    r = cli(*packet_args(probe, assoc))
    assert r.code == 2
    assert r.err.strip() == (
        f"ERROR: {probe}/metrics.json: missing required artifact (the run has a log: "
        f"`vrx replay {probe}` derives its files)"
    )


# -- errors: exit 2, nothing recorded ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "what"),
    [
        ("metrics.json", None, "missing required artifact"),
        ("env.json", "{not json", "failed to parse JSON (Expecting property name enclosed in double quotes"),
        ("run_cmd.txt", "", "failed to parse JSON (Expecting value: line 1 column 1 (char 0))"),
        ("report.json", "[1, 2]", "not a JSON object (a JSON list)"),
        ("report.json", b"\xff\xfe{}", "failed to parse JSON (not UTF-8"),
    ],
)
def test_a_missing_or_unparseable_input_is_exit_2(
    cli: Cli, tmp_path: Path, name: str, content: str | bytes | None, what: str
) -> None:
    probe, assoc = vector_roots(tmp_path)
    path = (assoc if name == "report.json" else probe) / name
    if content is None:
        path.unlink()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    r = cli(*packet_args(probe, assoc, "--out", str(tmp_path / "p.json")))
    assert r.code == 2
    assert r.err.startswith(f"ERROR: {path}: {what}")
    assert r.out == ""
    assert not (tmp_path / "runs").exists() and not (tmp_path / "p.json").exists()


def test_every_problem_is_reported(cli: Cli, tmp_path: Path) -> None:
    r = cli(*packet_args(tmp_path / "nope", tmp_path / "nada"))
    assert r.code == 2
    lines = r.err.splitlines()
    assert lines == [
        f"ERROR: {tmp_path / 'nope' / name}: missing required artifact (no such directory)"
        for name in ("metrics.json", "env.json", "run_cmd.txt")
    ] + [f"ERROR: {tmp_path / 'nada' / 'report.json'}: missing required artifact (no such directory)"]


def test_a_budget_over_zero_tokens_per_step_is_exit_2(cli: Cli, tmp_path: Path) -> None:
    probe, assoc = vector_roots(tmp_path)
    dump(probe / "metrics.json", {**json.loads((probe / "metrics.json").read_text()), "batch_size": 0})
    r = cli(*packet_args(probe, assoc, "--token-budget", "100"))
    assert r.code == 2
    assert (
        r.err.strip() == f"ERROR: {probe / 'metrics.json'}: invalid tokens_per_step=0 (batch=0, seq_len=256)"
    )
    assert not (tmp_path / "runs").exists()


def test_the_roots_are_required(cli: Cli) -> None:
    r = cli("packet", "--probe-run-root", "x")
    assert r.code == 2 and "the following arguments are required: --assoc-run-root" in r.err


def test_an_existing_run_is_never_reused(cli: Cli, tmp_path: Path) -> None:
    probe, assoc = vector_roots(tmp_path)
    assert cli(*packet_args(probe, assoc, "--run-dir", "run")).code == 0
    log = (tmp_path / "run" / "events.jsonl").read_bytes()
    r = cli(*packet_args(probe, assoc, "--run-dir", "run"))
    assert r.code == 2 and "a run is already there" in r.err
    assert (tmp_path / "run" / "events.jsonl").read_bytes() == log


# -- the recorded derivation -------------------------------------------------------------------------


def test_the_run_records_each_source_with_its_sha256_and_text(cli: Cli, tmp_path: Path) -> None:
    probe, assoc = vector_roots(tmp_path)
    assert cli(*packet_args(probe, assoc, "--token-budget", "5", "--run-dir", "run")).code == 0
    events = list(read_events(tmp_path / "run", registry=make_plugins(ant_ratio).registry))
    started = [e for e in events if isinstance(e, PacketStarted)]
    srcs = [e for e in events if isinstance(e, Source)]
    assert len(started) == 1 and started[0].token_budget == 5 and started[0].capability_steps is None
    files = [probe / "metrics.json", probe / "env.json", probe / "run_cmd.txt", assoc / "report.json"]
    assert [s.path for s in srcs] == [str(f.resolve()) for f in files]
    for src, f in zip(srcs, files, strict=True):
        assert src.text == f.read_text() and src.size_bytes == f.stat().st_size


def test_the_packet_replays_byte_for_byte(cli: Cli, tmp_path: Path) -> None:
    probe, assoc = original_roots(tmp_path)
    assert cli(*packet_args(probe, assoc, "--token-budget", "1000000", "--run-dir", "run")).code == 0
    before = (tmp_path / "run" / "packet.json").read_bytes()
    (tmp_path / "run" / "packet.json").unlink()
    for f in (probe / "metrics.json", assoc / "report.json"):
        f.unlink()  # replay reads the log, never the sources
    assert cli("replay", str(tmp_path / "run")).code == 0
    assert (tmp_path / "run" / "packet.json").read_bytes() == before


def test_replay_check_names_a_changed_source(cli: Cli, tmp_path: Path) -> None:
    probe, assoc = vector_roots(tmp_path)
    assert cli(*packet_args(probe, assoc, "--run-dir", "run")).code == 0
    r = cli("replay", "--check", str(tmp_path / "run"))
    assert r.code == 0, r.out + r.err
    dump(
        assoc / "report.json",
        {"settings": {"eval_disjoint": True}, "eval": {"eval_acc": 0.99, "eval_n": 1234}},
    )
    r = cli("replay", "--check", str(tmp_path / "run"))
    assert r.code == 65
    assert f"{(assoc / 'report.json').resolve()}: source changed since the run read it (seq 5)" in r.out
    assert "metrics.json" not in r.out


def test_replay_check_names_a_vanished_source(cli: Cli, tmp_path: Path) -> None:
    probe, assoc = vector_roots(tmp_path)
    assert cli(*packet_args(probe, assoc, "--run-dir", "run")).code == 0
    (probe / "env.json").unlink()
    r = cli("replay", "--check", str(tmp_path / "run"))
    assert (
        r.code == 65
        and f"{(probe / 'env.json').resolve()}: source recorded at seq 3 cannot be read now" in r.out
    )


class TestPacketDeriverContract(PluginContract):
    """Replay twice == once; in parts == whole; no clock."""

    plugin = ant_ratio

    def events(self) -> list[Any]:
        texts = {
            "metrics.json": '{"batch_size": 16, "seq_len": 256, "stability_pass": true}',
            "env.json": "{}",
            "run_cmd.txt": "{}",
            "report.json": '{"eval": {"eval_n": 7}}',
        }
        inputs = {name: f"/data/{name}" for name in texts}
        started = PacketStarted(
            argv=["vrx", "packet"],
            probe_run_root="/data",
            assoc_run_root="/data",
            inputs=inputs,
            generated_utc="2026-02-07T12:00:00Z",
            token_budget=10**6,
        )
        return [
            started,
            *(Source(path=inputs[n], sha256="0" * 64, size_bytes=len(t), text=t) for n, t in texts.items()),
        ]


def test_other_runs_get_no_packet(tmp_path: Path) -> None:
    from vrx_core.testing import replay_to_dict, write_log

    ps = make_plugins(ant_ratio)
    src = Source(path="/data/metrics.json", sha256="0" * 64, size_bytes=2, text="{}")
    run = write_log(tmp_path / "run", [src], plugins=ps)
    assert "packet.json" not in replay_to_dict(run, ps, tmp_path / "out")
    incomplete = TestPacketDeriverContract().events()[:3]  # the start and two of the four sources
    run = write_log(tmp_path / "run2", incomplete, plugins=ps)
    assert "packet.json" not in replay_to_dict(run, ps, tmp_path / "out2")
