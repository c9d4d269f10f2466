"""The ``environment`` event: git, Python, host, packages, an allowlist of variables, torch if imported."""

from __future__ import annotations

import os
import platform
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest

from vrx_core.capture.environment import ENV_VAR_ALLOWLIST, collect_environment, torch_facts
from vrx_core.capture.proc import Completed
from vrx_core.events import Environment, GitInfo, TorchInfo

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def fake_git(argv: Sequence[str], cwd: Path | None, timeout_s: float) -> Completed:
    answers = {
        "rev-parse HEAD": Completed(0, COMMIT + "\n", ""),
        "status --porcelain": Completed(0, "", ""),
        "rev-parse --abbrev-ref HEAD": Completed(0, "main\n", ""),
        "log -1 --format=%s": Completed(0, "Subject\n", ""),
    }
    return answers.get(" ".join(argv[1:]), Completed(1, "", "unexpected arguments"))


def has_git(name: str) -> str | None:
    return f"/usr/bin/{name}"


def collect(cwd: Path, **kwargs: Any) -> Environment:
    return collect_environment(cwd, run=fake_git, which=has_git, **kwargs)


class Version(str):
    """As torch's ``TorchVersion``: a str subclass the log's encoder would refuse."""


def fake_torch(cuda: Any, *, version: Any = None) -> types.SimpleNamespace:
    return types.SimpleNamespace(
        __version__=Version("2.13.0+cu128"),
        version=types.SimpleNamespace(cuda="12.8") if version is None else version,
        cuda=cuda,
    )


def props(name: str, memory: int, major: int, minor: int) -> types.SimpleNamespace:
    return types.SimpleNamespace(name=Version(name), total_memory=memory, major=major, minor=minor)


def two_gpus() -> types.SimpleNamespace:
    devices = [props("NVIDIA H200", 150_000_000_000, 9, 0), props("NVIDIA A100", 80_000_000_000, 8, 0)]
    return types.SimpleNamespace(
        is_available=lambda: True, device_count=lambda: 2, get_device_properties=devices.__getitem__
    )


def test_without_torch_imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    env = collect(tmp_path)
    assert env.torch is None
    assert "torch" not in sys.modules  # the collection never imports it
    assert "msgspec" in env.packages and env.packages["msgspec"] == msgspec.__version__
    assert list(env.packages) == sorted(env.packages, key=str.lower)
    assert env.git == GitInfo(commit_full=COMMIT, branch="main", dirty=False, message="Subject")
    assert env.cwd == str(tmp_path)
    assert env.python["version"] == platform.python_version()
    assert env.python["executable"] == sys.executable
    assert set(env.host) == {"hostname", "platform", "machine", "cpu_count", "memory_bytes", "user"}
    assert env.host["platform"] == platform.platform()


def test_a_fake_cuda_torch_with_two_devices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", fake_torch(two_gpus()))  # imported by the process
    env = collect(tmp_path)
    assert env.torch == TorchInfo(
        version="2.13.0+cu128",
        cuda_version="12.8",
        cuda_available=True,
        devices=[
            {"index": 0, "name": "NVIDIA H200", "total_memory_bytes": 150_000_000_000, "capability": "9.0"},
            {"index": 1, "name": "NVIDIA A100", "total_memory_bytes": 80_000_000_000, "capability": "8.0"},
        ],
    )
    assert type(env.torch.version) is str and type(env.torch.devices[0]["name"]) is str
    assert msgspec.json.decode(msgspec.json.encode(env), type=Environment) == env  # the log can hold it


def test_an_explicit_torch_wins_over_sys_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    torch = types.ModuleType("torch")
    torch.__dict__.update(vars(fake_torch(two_gpus())))
    env = collect(tmp_path, torch=torch)
    assert env.torch is not None and len(env.torch.devices) == 2


def test_a_torch_whose_cuda_raises(tmp_path: Path) -> None:
    def broken() -> bool:
        raise RuntimeError("CUDA driver version is insufficient")

    env = collect(tmp_path, torch=fake_torch(types.SimpleNamespace(is_available=broken)))
    assert env.torch is not None
    assert (env.torch.version, env.torch.cuda_available, env.torch.devices) == ("2.13.0+cu128", False, [])
    assert env.torch.errors == ["torch_cuda_props_failed: RuntimeError: CUDA driver version is insufficient"]


def test_a_torch_whose_cuda_version_raises() -> None:
    class Broken:
        @property
        def cuda(self) -> str:
            raise OSError("libcudart missing")

    info = torch_facts(fake_torch(types.SimpleNamespace(is_available=lambda: False), version=Broken()))
    assert info.cuda_version is None and info.cuda_available is False
    assert info.errors == ["torch_cuda_version_failed: OSError: libcudart missing"]


def test_a_cpu_torch_has_no_devices() -> None:
    cpu = fake_torch(
        types.SimpleNamespace(is_available=lambda: False), version=types.SimpleNamespace(cuda=None)
    )
    info = torch_facts(cpu)
    assert info == TorchInfo(version="2.13.0+cu128")


def test_env_vars_only_from_the_allowlist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VAR_ALLOWLIST:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_API_TOKEN", "hunter2")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,0")
    env = collect(tmp_path)
    assert env.env_vars == {"CUDA_VISIBLE_DEVICES": "1,0", "OMP_NUM_THREADS": "3"}
    assert "SECRET_API_TOKEN" not in env.env_vars
    assert "hunter2" not in msgspec.json.encode(env).decode()
    assert "SECRET_API_TOKEN" in os.environ  # the variable was set: the allowlist left it out


def test_git_without_a_binary_is_named_not_raised(tmp_path: Path) -> None:
    env = collect_environment(tmp_path, run=fake_git, which=lambda name: None)
    assert env.git == GitInfo(error="git_not_found")


def test_a_device_that_fails_to_answer_keeps_the_others() -> None:
    def device(index: int) -> types.SimpleNamespace:
        if index == 1:
            raise RuntimeError("device 1 fell off the bus")
        return props("NVIDIA H200", 1, 9, 0)

    cuda = types.SimpleNamespace(
        is_available=lambda: True, device_count=lambda: 2, get_device_properties=device
    )
    info = torch_facts(fake_torch(cuda))
    assert [d["index"] for d in info.devices] == [0]
    assert info.errors == ["torch_cuda_props_failed: RuntimeError: device 1 fell off the bus"]
