"""env.json capture (env_lock v1, ORIGINS 2.3): exact keys, ASCII, and every missing fact recorded."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec
import pytest

from vrx_core.capture.proc import Completed, truncate
from vrx_plugins.gpu_probe.envinfo import ENV_KEYS_V1, RAW_MAX_CHARS, collect_env, env_json

SMI_TABLE = (
    "+-----------------------------------------------------------------------------------------+\n"
    "| NVIDIA-SMI 570.86.15              Driver Version: 570.86.15      CUDA Version: 12.8     |\n"
    "|   0  NVIDIA H200                    On  |   00000000:19:00.0 Off |                    0 |\n"
)


class FakeMachine:
    """``which`` and ``run`` of a machine with the given programs; records each command."""

    def __init__(self, programs: dict[str, Completed | dict[str, Completed]]) -> None:
        self.programs = programs
        self.commands: list[tuple[list[str], Path | None]] = []

    def which(self, name: str) -> str | None:
        return f"/usr/bin/{name}" if name in self.programs else None

    def run(self, argv: Sequence[str], cwd: Path | None, timeout_s: float) -> Completed:
        self.commands.append((list(argv), cwd))
        answers = self.programs[argv[0]]
        if isinstance(answers, Completed):
            return answers
        return answers.get(" ".join(argv[1:]), Completed(1, "", "unexpected arguments"))


def _env(machine: FakeMachine, **kwargs: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"precision": "bf16", "amp": 1, **kwargs}
    return collect_env(run=machine.run, which=machine.which, **options)


def test_exact_key_set_in_v1_order() -> None:
    env = _env(FakeMachine({}))
    assert tuple(env) == ENV_KEYS_V1
    assert len(ENV_KEYS_V1) == 22
    assert (env["env_schema_version"], env["tool_version"]) == ("v1", "gpu_env_dump/1.0")
    assert (env["precision"], env["amp"]) == ("bf16", 1)


def test_missing_nvidia_smi_and_git_are_recorded() -> None:
    env = _env(FakeMachine({}))
    assert env["errors"] == ["nvidia_smi_not_found", "git_not_found"]
    assert env["git_error"] == "git_not_found"
    assert env["nvidia_smi_raw"] is None and env["nvidia_smi_query"] is None


def test_torch_import_failure_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    env = _env(FakeMachine({}))
    assert env["torch_version"] is None and env["cuda_version"] is None
    (failure,) = [e for e in env["errors"] if e.startswith("torch_import_failed: ")]
    assert failure == "torch_import_failed: ModuleNotFoundError: import of torch halted; None in sys.modules"


def test_a_non_git_directory_does_not_crash(tmp_path: Path) -> None:
    env = collect_env(precision="fp32", amp=0, cwd=tmp_path)  # the real git, outside any repository
    if env["git_error"] == "git_not_found":
        pytest.skip("git is not installed")
    assert env["git_commit"] is None and env["git_dirty"] is None
    assert str(env["git_error"]).startswith("git_rev_parse_nonzero_rc:128:")
    assert env["git_error"] in env["errors"]


def test_a_missing_directory_does_not_crash(tmp_path: Path) -> None:
    env = collect_env(precision="fp32", amp=0, cwd=tmp_path / "gone", which=lambda name: f"/usr/bin/{name}")
    assert str(env["git_error"]).startswith("git_rev_parse_failed:")


def test_git_commit_and_dirty_flag(tmp_path: Path) -> None:
    machine = FakeMachine(
        {"git": {"rev-parse HEAD": Completed(0, "abc123\n", ""), "status --porcelain": Completed(0, "", "")}}
    )
    env = _env(machine, cwd=tmp_path)
    assert (env["git_commit"], env["git_dirty"], env["git_error"]) == ("abc123", 0, None)
    assert all(cwd == tmp_path for argv, cwd in machine.commands if argv[0] == "git")
    dirty = FakeMachine(
        {
            "git": {
                "rev-parse HEAD": Completed(0, "abc123\n", ""),
                "status --porcelain": Completed(0, " M x\n", ""),
            }
        }
    )
    assert _env(dirty, cwd=tmp_path)["git_dirty"] == 1


def test_extra_errors_are_appended_after_the_collected_ones() -> None:
    reason = "nvml_unavailable: NVMLError_LibraryNotFound: NVML Shared Library Not Found"
    env = _env(FakeMachine({}), extra_errors=[reason])
    assert env["errors"] == ["nvidia_smi_not_found", "git_not_found", reason]


def test_nvidia_smi_header_and_query_fill_the_gpu_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    query = "--query-gpu=driver_version,name,memory.total,compute_cap,driver_model.current"
    row = "570.86.15, NVIDIA H200, 143771, 9.0, [N/A]\n"
    machine = FakeMachine(
        {
            "nvidia-smi": {
                "": Completed(0, SMI_TABLE, ""),
                f"{query} --format=csv,noheader,nounits": Completed(0, row, ""),
            }
        }
    )
    env = _env(machine)
    assert env["nvidia_smi_raw"] == SMI_TABLE
    assert (env["driver_version"], env["cuda_driver_reported"], env["cuda_version"]) == (
        "570.86.15",
        "12.8",
        "12.8",
    )
    assert (env["gpu_name"], env["compute_capability"]) == ("NVIDIA H200", "9.0")
    assert env["total_vram_bytes"] == 143771 * 1024 * 1024
    assert env["driver_model"] == "[N/A]"
    assert env["nvidia_smi_query"] == {
        "driver_version": "570.86.15",
        "name": "NVIDIA H200",
        "memory.total": "143771",
        "compute_cap": "9.0",
        "driver_model.current": "[N/A]",
    }


def test_nvidia_smi_query_falls_back_to_the_shorter_one() -> None:
    short = "--query-gpu=driver_version,name,memory.total,compute_cap --format=csv,noheader,nounits"
    machine = FakeMachine(
        {
            "nvidia-smi": {
                "": Completed(9, "", "NVIDIA-SMI has failed"),
                short: Completed(0, "1.0, G, 10, 8.6\n", ""),
            }
        }
    )
    env = _env(machine)
    rich = "driver_version,name,memory.total,compute_cap,driver_model.current"
    assert env["errors"][:2] == ["nvidia_smi_raw_nonzero_rc:9", f"nvidia_smi_query_nonzero_rc({rich}):1"]
    assert env["nvidia_smi_raw"] == "NVIDIA-SMI has failed" and env["gpu_name"] == "G"
    assert env["total_vram_bytes"] == 10 * 1024 * 1024


def test_raw_output_is_truncated_at_65536_characters() -> None:
    machine = FakeMachine({"nvidia-smi": {"": Completed(0, "x" * 100_000, "")}})
    raw = _env(machine)["nvidia_smi_raw"]
    assert isinstance(raw, str) and len(raw) <= RAW_MAX_CHARS and raw.endswith("...<truncated>...\n")
    assert truncate("short", RAW_MAX_CHARS) == "short"


def test_serialized_env_is_ascii_only() -> None:
    machine = FakeMachine(
        {"nvidia-smi": {"": Completed(0, "GPU \u00e9\u2713 \U0001d53e Driver Version: 1.2", "")}}
    )
    env = _env(machine, environ={"OMP_NUM_THREADS": "\u00e9"})
    data = env_json(env)
    assert data.isascii() and data.endswith(b"}\n")
    assert json.loads(data) == env
    assert data == (json.dumps(env, ensure_ascii=True, sort_keys=True, indent=2) + "\n").encode()


def test_generated_utc_is_isoformat_in_utc() -> None:
    fixed = datetime(2026, 2, 17, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    assert _env(FakeMachine({}), now_utc=fixed)["generated_utc"] == "2026-02-17T07:30:00+00:00"
    now = datetime.fromisoformat(str(_env(FakeMachine({}))["generated_utc"]))
    assert now.utcoffset() == timedelta(0) and abs(datetime.now(tz=UTC) - now) < timedelta(hours=1)


def test_values_on_this_cpu_machine_are_sane() -> None:
    env: dict[str, Any] = collect_env(precision="fp32", amp=0)
    assert isinstance(env["os"], str) and env["os"]
    assert str(env["python_version"]).startswith(f"{sys.version_info.major}.{sys.version_info.minor}.")
    assert "\n" not in str(env["python_version"])
    assert set(env["env_vars"]) == {
        "CUDA_VISIBLE_DEVICES",
        "PYTORCH_CUDA_ALLOC_CONF",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
    }
    try:
        import torch
    except Exception:
        assert any(e.startswith("torch_import_failed") for e in env["errors"])
        return
    assert env["torch_version"] == torch.__version__
    if not torch.cuda.is_available():  # this machine and CI: no GPU
        assert (env["gpu_name"], env["total_vram_bytes"], env["compute_capability"]) == (None, None, None)
        if torch.version.cuda is None and env["nvidia_smi_raw"] is None:
            assert env["cuda_version"] is None
    assert env["git_dirty"] in (0, 1, None)
    assert env_json(env).isascii()
    assert _plain(env)  # the probe records it as an event: torch's str subclasses must not reach it


def _plain(value: Any) -> bool:
    """Only the JSON types themselves, no subclasses: what the log's encoder accepts."""
    if isinstance(value, dict):
        return all(type(k) is str and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return type(value) in (str, int, float, bool, type(None))


def test_a_fake_cuda_torch_fills_the_gpu_fields_with_plain_values(monkeypatch: pytest.MonkeyPatch) -> None:
    class TorchVersion(str):  # torch.__version__ is a str subclass
        pass

    props = types.SimpleNamespace(
        name=TorchVersion("NVIDIA H200"), total_memory=150_000_000_000, major=9, minor=0
    )
    cuda = types.SimpleNamespace(
        is_available=lambda: True, device_count=lambda: 1, get_device_properties=lambda index: props
    )
    torch = types.SimpleNamespace(
        __version__=TorchVersion("2.13.0+cu128"), version=types.SimpleNamespace(cuda="12.8"), cuda=cuda
    )
    monkeypatch.setitem(sys.modules, "torch", torch)
    env = _env(FakeMachine({}))
    assert (env["torch_version"], env["cuda_version"]) == ("2.13.0+cu128", "12.8")
    assert (env["gpu_name"], env["total_vram_bytes"], env["compute_capability"]) == (
        "NVIDIA H200",
        150_000_000_000,
        "9.0",
    )
    assert _plain(env)
    assert msgspec.json.decode(msgspec.json.encode(env)) == env


def test_a_failing_cuda_query_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> bool:
        raise RuntimeError("CUDA driver version is insufficient")

    cuda = types.SimpleNamespace(is_available=broken)
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(__version__="2.13.0", cuda=cuda))
    env = _env(FakeMachine({}))
    assert "torch_cuda_props_failed: RuntimeError: CUDA driver version is insufficient" in env["errors"]
    assert env["torch_version"] == "2.13.0" and env["gpu_name"] is None
