"""The ``environment`` event: git, Python, host, installed packages and torch/CUDA, read once.

torch is never imported here: its facts are read when the process has already imported it (a
training script or the GPU probe has), so recording a run costs no torch import. Without torch
the package list still carries its version.
"""

from __future__ import annotations

import getpass
import importlib.metadata
import os
import platform
import socket
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from vrx_core.capture.git import read_git
from vrx_core.capture.proc import Runner, Which, run_command
from vrx_core.events import Environment, JSONValue, TorchInfo

#: Environment variables worth keeping with a run (what changes numerics or placement); never
#: the whole environment, which holds tokens and passwords.
ENV_VAR_ALLOWLIST: tuple[str, ...] = (
    "CUDA_VISIBLE_DEVICES",
    "PYTORCH_CUDA_ALLOC_CONF",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "CUBLAS_WORKSPACE_CONFIG",
    "RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
)


def collect_environment(
    cwd: str | Path | None = None,
    *,
    torch: ModuleType | None = None,
    run: Runner = run_command,
    which: Which | None = None,
) -> Environment:
    """Everything the ``environment`` event holds, for the process running now.

    ``cwd``: where git is asked (default: the current directory, the code being run). ``torch``:
    the module to read (default: ``sys.modules["torch"]`` if imported). ``run`` and ``which``
    stand in for subprocesses and ``shutil.which`` in tests.
    """
    where = Path.cwd() if cwd is None else Path(cwd)
    git = read_git(where, run=run) if which is None else read_git(where, run=run, which=which)
    module = torch if torch is not None else sys.modules.get("torch")
    return Environment(
        git=git,
        python={
            "executable": sys.executable,
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
        },
        host=host_facts(),
        cwd=str(where),
        packages=package_versions(),
        env_vars={k: os.environ[k] for k in ENV_VAR_ALLOWLIST if k in os.environ},
        torch=torch_facts(module) if module is not None else None,
    )


def host_facts() -> dict[str, JSONValue]:
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "memory_bytes": _memory_bytes(),
        "user": _user(),
    }


def package_versions() -> dict[str, str]:
    """``{distribution name: version}`` of every installed distribution, sorted by name."""
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if name:
            found.setdefault(str(name), str(dist.version))
    return dict(sorted(found.items(), key=lambda kv: kv[0].lower()))


def torch_facts(torch: Any) -> TorchInfo:
    """Version, CUDA build and every visible device of an imported torch; each failure is named
    in ``errors`` (``torch_cuda_version_failed: ...``, ``torch_cuda_props_failed: ...``)."""
    errors: list[str] = []
    # str(): torch's TorchVersion is a str subclass that msgspec (the log) will not encode.
    version = str(getattr(torch, "__version__", "unknown"))
    cuda_version: str | None = None
    try:
        raw = getattr(getattr(torch, "version", None), "cuda", None)
        if isinstance(raw, str) and raw.strip():
            cuda_version = str(raw.strip())
    except Exception as exc:
        errors.append(f"torch_cuda_version_failed: {type(exc).__name__}: {exc}")
    available = False
    devices: list[dict[str, JSONValue]] = []
    cuda: Any = None
    try:
        cuda = getattr(torch, "cuda", None)
        available = cuda is not None and bool(cuda.is_available())
        count = int(cuda.device_count()) if cuda is not None and available else 0
    except Exception as exc:  # a driver/runtime mismatch surfaces here, not at import
        errors.append(f"torch_cuda_props_failed: {type(exc).__name__}: {exc}")
        count = 0
    for index in range(count):
        # Each device on its own: one that fails to answer must not cost the facts of device 0.
        try:
            devices.append({"index": index, **_device(cuda.get_device_properties(index))})
        except Exception as exc:
            errors.append(f"torch_cuda_props_failed: {type(exc).__name__}: {exc}")
    return TorchInfo(
        version=version, cuda_version=cuda_version, cuda_available=available, devices=devices, errors=errors
    )


def _device(props: Any) -> dict[str, JSONValue]:
    name = getattr(props, "name", None)
    total = getattr(props, "total_memory", None)
    major, minor = getattr(props, "major", None), getattr(props, "minor", None)
    return {
        "name": None if name is None else str(name),
        "total_memory_bytes": None if total is None else int(total),
        "capability": f"{major}.{minor}" if major is not None and minor is not None else None,
    }


def _memory_bytes() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers) and no USER variable
        return None


__all__ = ["ENV_VAR_ALLOWLIST", "collect_environment", "host_facts", "package_versions", "torch_facts"]
