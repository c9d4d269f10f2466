"""`vrx probe run` end to end on the CPU: the original's test cases (ORIGINS 2.2) and vrx's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vrx_core.capture import environment
from vrx_core.log.rundir import RunDir

HERE = Path(__file__).resolve().parent
ANT = json.dumps({"ring_len": 32, "slot_dim": 16, "ptr_dtype": "fp32", "precision": "fp32"})
COLONY = json.dumps(
    {"seq_len": 8, "synth_len": 4, "batch_size": 2, "ptr_update_every": 1, "state_loop_samples": 0}
)
ARTIFACTS = ("run_cmd.txt", "env.json", "metrics.json", "metrics.csv", "summary.md")
CONTRACT_KEYS = (
    "batch_size", "seq_len", "warmup_steps", "measure_steps", "measure_wall_time_s", "median_step_time_s",
    "p95_step_time_s", "throughput_samples_per_s", "throughput_tokens_per_s", "peak_vram_reserved_bytes",
    "peak_vram_allocated_bytes", "had_oom", "had_nan", "had_inf", "stability_pass", "fail_reasons",
)


@pytest.fixture(autouse=True)
def _cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VRX_FORCE_DEVICE", "cpu")
    monkeypatch.syspath_prepend(str(HERE))


def probe_argv(out: Path, *extra: str, ant: str = ANT, precision: str = "fp32", amp: str = "0") -> list[str]:
    return [
        "probe", "run", "--ant", ant, "--colony", COLONY, "--out-dim", "1", "--batch", "2",
        "--warmup-steps", "1", "--measure-steps", "2", "--precision", precision, "--amp", amp,
        "--output-dir", str(out), "--telemetry-interval", "0", *extra,
    ]


def metrics(out: Path) -> dict[str, Any]:
    return json.loads((out / "metrics.json").read_text())  # type: ignore[no-any-return]


def test_unknown_ant_key_is_rc2(cli: Callable[..., Any], tmp_path: Path) -> None:
    ant = json.dumps({**json.loads(ANT), "bogus": 1})
    r = cli(*probe_argv(tmp_path / "o", ant=ant))
    assert r.code == 2
    assert r.err.startswith("ERROR: invalid workload spec: ")
    assert "bogus" in r.err
    assert not (tmp_path / "o" / "metrics.json").exists()


def test_fp32_with_amp1_is_rc2(cli: Callable[..., Any], tmp_path: Path) -> None:
    r = cli(*probe_argv(tmp_path / "o", amp="1"))
    assert (r.code, r.err.strip()) == (2, "ERROR: invalid args: precision=fp32 requires --amp 0")


def test_cpu_run_writes_the_five_artifacts(cli: Callable[..., Any], tmp_path: Path) -> None:
    out = tmp_path / "o"
    r = cli(*probe_argv(out))
    assert r.code == 0, r.err
    for name in ARTIFACTS:
        assert (out / name).is_file(), name
    m = metrics(out)
    assert all(k in m for k in CONTRACT_KEYS)
    assert (m["seq_len"], m["synth_len"]) == (8, 4)
    assert m["throughput_tokens_per_s"] == pytest.approx(m["throughput_samples_per_s"] * 8, abs=1e-5)
    assert (m["device"], m["step_time_mode"]) == ("cpu", "perf_counter")
    assert m["stability_pass"] is True, m["fail_reasons"]
    assert "PASS" in r.out


def test_existing_env_json_is_the_overwrite_guard(cli: Callable[..., Any], tmp_path: Path) -> None:
    out = tmp_path / "o"
    out.mkdir()
    (out / "env.json").write_text("{}\n")
    r = cli(*probe_argv(out))
    assert r.code == 2
    assert "overwrite guard: env.json" in r.err


def test_a_second_run_into_the_same_dir_is_refused(cli: Callable[..., Any], tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert cli(*probe_argv(out)).code == 0
    (out / "env.json").unlink()
    (out / "metrics.json").unlink()
    (out / "summary.md").unlink()
    r = cli(*probe_argv(out))
    assert r.code == 2 and "events.jsonl already exists" in r.err


def test_replay_rebuilds_every_artifact_byte_for_byte(cli: Callable[..., Any], tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert cli(*probe_argv(out)).code == 0
    first = {name: (out / name).read_bytes() for name in ARTIFACTS}
    for name in ARTIFACTS:
        (out / name).unlink()
        assert cli("replay", str(out)).code == 0
        assert {n: (out / n).read_bytes() for n in ARTIFACTS} == first


def test_env_json_and_the_environment_event_are_one_collection(
    cli: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch and git are asked once per probe: the run's core `environment` event and env.json
    (derived from `probe.env`) say the same."""
    calls: list[str] = []
    for name in ("read_git", "torch_facts"):
        real = getattr(environment, name)

        def counted(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(environment, name, counted)
    out = tmp_path / "o"
    assert cli(*probe_argv(out)).code == 0
    assert sorted(calls) == ["read_git", "torch_facts"]
    events = [json.loads(line) for line in RunDir(out).log.read_text().splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds[:3] == ["run_start", "environment", "probe.start"] and kinds.count("environment") == 1
    git, torch = events[1]["git"], events[1]["torch"]
    env = json.loads((out / "env.json").read_text())
    assert (env["git_commit"], env["git_error"]) == (git.get("commit_full"), git.get("error"))
    assert env["git_dirty"] == {True: 1, False: 0}.get(git.get("dirty"))
    assert (env["torch_version"], env["os"]) == (torch["version"], events[1]["host"]["platform"])


def test_run_cmd_records_the_command_and_ids(cli: Callable[..., Any], tmp_path: Path) -> None:
    out = tmp_path / "o"
    argv = probe_argv(out)
    assert cli(*argv).code == 0
    cmd = json.loads((out / "run_cmd.txt").read_text())
    assert cmd["argv"] == ["vrx", *argv]
    assert cmd["probe_id"] == f"{cmd['workload_id']}__E1__fp32_amp0"
    assert cmd["resolved_spec"]["colony_spec"]["batch_size"] == 2


def test_nan_loss_is_a_fail_with_artifacts(cli: Callable[..., Any], tmp_path: Path) -> None:
    out = tmp_path / "o"
    r = cli(*probe_argv(out, "--model", "probe_models:nan_loss"))
    assert r.code == 0, r.err
    m = metrics(out)
    assert m["had_nan"] is True and m["stability_pass"] is False
    assert m["fail_reasons"][0] == "nan_or_inf"
    assert "timing_missing" in m["fail_reasons"]


def test_cpu_out_of_memory_is_a_recorded_oom_fail(cli: Callable[..., Any], tmp_path: Path) -> None:
    out = tmp_path / "o"
    r = cli(*probe_argv(out, "--model", "probe_models:out_of_memory"))
    assert r.code == 0, r.err
    m = metrics(out)
    assert m["had_oom"] is True
    assert m["fail_reasons"] == ["runtime_exception", "oom"]
    assert "allocate" in m["runtime_exception_msg"]


def test_own_model_is_named_in_probe_id_and_metrics(cli: Callable[..., Any], tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert cli(*probe_argv(out, "--model", "probe_models:linear")).code == 0
    m = metrics(out)
    assert m["probe_id"].endswith("__model-probe_models.linear")
    assert m["model"] == "probe_models:linear"


@pytest.mark.parametrize(
    ("model", "message"),
    [("nowhere_at_all:make", "cannot import nowhere_at_all"), ("probe_models:missing", "no callable missing"),
     ("not a ref", "must be MODULE:FACTORY")],
)
def test_bad_model_refs_are_invalid_args(
    cli: Callable[..., Any], tmp_path: Path, model: str, message: str
) -> None:
    r = cli(*probe_argv(tmp_path / "o", "--model", model))
    assert r.code == 2
    assert r.err.startswith("ERROR: invalid args: ") and message in r.err
    assert not (tmp_path / "o" / "events.jsonl").exists()


def test_compact_variant_is_named(cli: Callable[..., Any], tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert cli(*probe_argv(out, "--variant", "compact")).code == 0
    m = metrics(out)
    assert m["probe_id"].endswith("__compact") and m["variant"] == "compact"


def test_default_run_has_exactly_the_original_key_set(cli: Callable[..., Any], tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert cli(*probe_argv(out)).code == 0
    assert "variant" not in metrics(out) and "compile" not in metrics(out)


def test_device_cuda_without_cuda_is_refused(cli: Callable[..., Any], tmp_path: Path) -> None:
    r = cli(*probe_argv(tmp_path / "o", "--device", "cuda"))
    assert r.code == 2 and "CUDA is not available" in r.err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--debug-stall-after-step", "0"], "requires --debug-stall-s > 0"),
        (["--debug-stall-s", "1"], "require --debug-stall-after-step >= 0"),
        (["--debug-stall-after-step", "5", "--debug-stall-s", "1", "--debug-stall-threshold-s", "1"],
         "must be < --measure-steps"),
    ],
)
def test_debug_flags_go_together(
    cli: Callable[..., Any], tmp_path: Path, extra: list[str], message: str
) -> None:
    r = cli(*probe_argv(tmp_path / "o", *extra))
    assert r.code == 2 and message in r.err


def test_forced_stall_ends_as_a_fail_with_artifacts(tmp_path: Path) -> None:
    """The original's self-test: a 2 s sleep against a 1 s threshold, in a real process."""
    out = tmp_path / "stall"
    argv = probe_argv(out, "--debug-stall-threshold-s", "1.0", "--debug-stall-after-step", "0",
                      "--debug-stall-s", "2.0")
    argv[argv.index("--measure-steps") + 1] = "100"
    proc = subprocess.run(
        [sys.executable, "-m", "vrx_core", *argv], capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "VRX_FORCE_DEVICE": "cpu"},
    )
    assert proc.returncode == 0, proc.stderr
    for name in ARTIFACTS:
        assert (out / name).is_file(), name
    m = metrics(out)
    assert m["heartbeat_stall_detected"] is True
    assert "heartbeat_stall" in m["fail_reasons"]
    assert m["debug_stall_after_step"] == 0
    assert m["median_step_time_s"] is None  # frozen at the stall, as the original's exit left it
    assert RunDir(out).log.is_file()


def test_a_step_that_never_returns_is_abandoned_with_artifacts(tmp_path: Path) -> None:
    """A hung step cannot reach the loop's stall check: after the grace period the watchdog
    closes the log, the artifacts are derived from it, and the process exits 0."""
    out = tmp_path / "hung"
    argv = probe_argv(out, "--model", "probe_models:hangs", "--debug-stall-after-step", "0",
                      "--debug-stall-s", "0.1", "--debug-stall-threshold-s", "1.0")
    argv[argv.index("--measure-steps") + 1] = "10"
    code = (
        "import sys; import vrx_plugins.gpu_probe.watchdog as w; w.HUNG_GRACE_S = 1.0\n"
        "from vrx_core.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "VRX_FORCE_DEVICE": "cpu", "PYTHONPATH": str(HERE)},
    )
    assert proc.returncode == 0, proc.stderr
    for name in ARTIFACTS:
        assert (out / name).is_file(), name
    m = metrics(out)
    assert m["fail_reasons"] == ["heartbeat_stall"] and m["heartbeat_stall_detected"] is True
    last = json.loads(RunDir(out).log.read_text().splitlines()[-1])
    assert (last["type"], last["status"]) == ("run_end", "error")


def test_help_names_the_contract(cli: Callable[..., Any]) -> None:
    r = cli("probe", "run", "--help")
    assert r.code == 0
    assert "objective_contract_v1.md" in r.out and "workload_schema_v1.md" in r.out
    assert "Exit status: 0 whenever the artifacts were written" in r.out


def test_missing_nvml_is_one_line_in_env_errors(
    cli: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # as without nvidia-ml-py
    out = tmp_path / "o"
    argv = probe_argv(out)
    argv[argv.index("--telemetry-interval") + 1] = "0.2"
    r = cli(*argv)
    assert r.code == 0, r.err
    env = json.loads((out / "env.json").read_text())
    nvml = [e for e in env["errors"] if e.startswith("nvml_unavailable")]
    assert nvml == ["nvml_unavailable: pynvml not installed: pip install 'vrx-core[nvml]'"]
    assert metrics(out)["stability_pass"] is True


def test_the_own_model_example_runs(
    cli: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """examples/probe_own_model.py: an nn.TransformerEncoder through the same probe."""
    monkeypatch.syspath_prepend(str(HERE.parents[1] / "examples"))
    out = tmp_path / "own"
    r = cli(*probe_argv(out, "--model", "probe_own_model:make_encoder"))
    assert r.code == 0, r.err
    m = metrics(out)
    assert m["stability_pass"] is True, m["fail_reasons"]
    assert m["probe_id"].endswith("__model-probe_own_model.make_encoder")


def test_an_invalid_spec_leaves_nothing_behind(cli: Callable[..., Any], tmp_path: Path) -> None:
    ant = json.dumps({"ring_len": "64", "slot_dim": True, "ptr_dtype": "fp64"})
    r = cli(*probe_argv(tmp_path / "x", ant=ant))
    assert r.code == 2
    assert r.err.count("invalid workload spec") == 1
    assert "$.ant_spec.ring_len" in r.err and "$.ant_spec.slot_dim" in r.err
    assert not (tmp_path / "x").exists()


def test_a_model_module_that_fails_to_import_is_invalid_args(
    cli: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_model.py").write_text("def make(:\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    r = cli(*probe_argv(tmp_path / "o", "--model", "broken_model:make"))
    assert r.code == 2
    prefix = "ERROR: invalid args: --model broken_model:make: cannot import broken_model: SyntaxError"
    assert r.err.startswith(prefix)
