"""The ``env.json`` object of a GPU probe run (env_lock v1, ORIGINS 2.3): what the machine was.

Behaviour follows the original ``gpu_env_dump.py``: exactly the v1 keys, every fact best-effort,
a missing fact is null plus a line in ``errors``; nothing here raises for a missing torch, driver,
nvidia-smi or git. It writes no file: the probe records the dict as a ``probe.env`` event and
``env.json`` is derived from the log (:func:`env_json` is the original's serialization).

Subprocesses and ``which`` are parameters so tests can play a machine with or without
nvidia-smi or git; torch is imported only when the collection runs.
"""

from __future__ import annotations

import csv
import importlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

ENV_SCHEMA_VERSION = "v1"
#: Kept as the original tool names itself: readers of env_lock v1 files compare it.
TOOL_VERSION = "gpu_env_dump/1.0"

#: The exact key set (and order) of an env.json, v1.
ENV_KEYS_V1: tuple[str, ...] = (
    "env_schema_version",
    "tool_version",
    "generated_utc",
    "os",
    "python_version",
    "torch_version",
    "cuda_version",
    "precision",
    "amp",
    "gpu_name",
    "total_vram_bytes",
    "compute_capability",
    "driver_version",
    "cuda_driver_reported",
    "driver_model",
    "nvidia_smi_query",
    "nvidia_smi_raw",
    "git_commit",
    "git_dirty",
    "git_error",
    "env_vars",
    "errors",
)

ENV_VAR_WHITELIST: tuple[str, ...] = (
    "CUDA_VISIBLE_DEVICES",
    "PYTORCH_CUDA_ALLOC_CONF",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
)

#: ``nvidia_smi_raw`` is cut to this many characters (the end replaced by a marker).
RAW_MAX_CHARS = 65536
_TRUNCATED = "\n...<truncated>...\n"
#: Structured queries, richest first; the first that parses wins (driver_model is Windows-only).
SMI_QUERIES: tuple[str, ...] = (
    "driver_version,name,memory.total,compute_cap,driver_model.current",
    "driver_version,name,memory.total,compute_cap",
)
_SMI_TIMEOUT_S = 3.0
_GIT_TIMEOUT_S = 2.0


class Completed(NamedTuple):
    """A subprocess's outcome: exit code, stdout, stderr, or ``error`` when it could not run."""

    returncode: int
    stdout: str
    stderr: str
    error: str | None = None


#: ``run(argv, cwd, timeout_s)``: how commands are run (injectable).
Runner = Callable[[Sequence[str], Path | None, float], Completed]
#: ``which(name)``: the path of a program, or None (injectable).
Which = Callable[[str], str | None]


def run_command(argv: Sequence[str], cwd: Path | None, timeout_s: float) -> Completed:
    """Run ``argv`` and capture its text output; never raises (a failure to run is ``error``)."""
    try:
        done = subprocess.run(
            list(argv),
            cwd=cwd,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",  # a stray byte must not cost the whole output, nor reach the log unpaired
            check=False,
            timeout=timeout_s,
        )
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return Completed(999, "", "", f"{type(exc).__name__}: {exc}")
    return Completed(done.returncode, done.stdout or "", done.stderr or "")


def truncate(text: str, max_chars: int) -> str:
    """``text`` when it fits, else its start plus a marker, within ``max_chars`` characters."""
    if len(text) <= max_chars:
        return text
    return text[: max_chars - 32] + _TRUNCATED


def collect_env(
    *,
    precision: str,
    amp: int | None,
    cwd: Path | None = None,
    extra_errors: Sequence[str] = (),
    now_utc: datetime | None = None,
    run: Runner = run_command,
    which: Which = shutil.which,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The env.json object: exactly :data:`ENV_KEYS_V1`, in that order.

    ``cwd`` is where git is asked for the commit (default: the current directory, the code being
    run); ``extra_errors`` are appended to ``errors`` (``nvml_unavailable: ...`` from the
    sampler, for one); ``now_utc`` fixes ``generated_utc``; ``run``, ``which`` and ``environ``
    stand in for subprocesses, ``shutil.which`` and ``os.environ``.
    """
    errors: list[str] = []
    env: dict[str, Any] = dict.fromkeys(ENV_KEYS_V1)
    env.update(
        env_schema_version=ENV_SCHEMA_VERSION,
        tool_version=TOOL_VERSION,
        generated_utc=_utc_iso(now_utc),
        os=platform.platform(),
        python_version=sys.version.replace("\n", " "),
        precision=precision,
        amp=amp,
        env_vars=_env_vars(os.environ if environ is None else environ),
    )
    _collect_torch(env, errors)
    _collect_nvidia_smi(env, errors, run, which)
    _collect_git(env, errors, run, which, Path.cwd() if cwd is None else cwd)
    env["errors"] = [*errors, *extra_errors]
    return env


def env_json(env: Mapping[str, Any]) -> bytes:
    """The bytes of env.json as the original wrote them: sorted keys, indent 2, ASCII, newline."""
    return (json.dumps(env, ensure_ascii=True, sort_keys=True, indent=2) + "\n").encode("ascii")


def _utc_iso(now_utc: datetime | None) -> str:
    now = datetime.now(tz=UTC) if now_utc is None else now_utc.astimezone(UTC)
    return now.isoformat()


def _env_vars(environ: Mapping[str, str]) -> dict[str, str | None]:
    return {name: environ.get(name) for name in ENV_VAR_WHITELIST}


# -- torch ---------------------------------------------------------------------------------------


def _collect_torch(env: dict[str, Any], errors: list[str]) -> None:
    try:
        torch = importlib.import_module("torch")
    except Exception as exc:  # ImportError, or whatever a broken CUDA install raises on import
        errors.append(f"torch_import_failed: {type(exc).__name__}: {exc}")
        return
    version = getattr(torch, "__version__", None)
    # str(): torch's TorchVersion is a str subclass that msgspec (the log) will not encode.
    env["torch_version"] = None if version is None else str(version)
    try:
        cuda_version = getattr(getattr(torch, "version", None), "cuda", None)
        if isinstance(cuda_version, str) and cuda_version.strip():
            env["cuda_version"] = str(cuda_version.strip())
    except Exception as exc:
        errors.append(f"torch_cuda_version_failed: {type(exc).__name__}: {exc}")
    try:
        _collect_cuda_device(env, getattr(torch, "cuda", None))
    except Exception as exc:  # a driver/runtime mismatch surfaces here, not at import
        errors.append(f"torch_cuda_props_failed: {type(exc).__name__}: {exc}")


def _collect_cuda_device(env: dict[str, Any], cuda: Any) -> None:
    """Name, memory and compute capability of CUDA device 0, when CUDA is usable."""
    if cuda is None or not bool(cuda.is_available()):
        return
    props = cuda.get_device_properties(0)
    name = getattr(props, "name", None)
    env["gpu_name"] = None if name is None else str(name)
    total = getattr(props, "total_memory", None)
    env["total_vram_bytes"] = int(total) if total is not None else None
    major, minor = getattr(props, "major", None), getattr(props, "minor", None)
    if major is not None and minor is not None:
        env["compute_capability"] = f"{major}.{minor}"


# -- nvidia-smi ----------------------------------------------------------------------------------


def _collect_nvidia_smi(env: dict[str, Any], errors: list[str], run: Runner, which: Which) -> None:
    if which("nvidia-smi") is None:
        errors.append("nvidia_smi_not_found")
        return
    _collect_smi_raw(env, errors, run)
    _collect_smi_query(env, errors, run)


def _collect_smi_raw(env: dict[str, Any], errors: list[str], run: Runner) -> None:
    """The plain ``nvidia-smi`` table, kept for post-mortems, and what its header tells."""
    done = run(["nvidia-smi"], None, _SMI_TIMEOUT_S)
    raw = done.stdout if done.stdout.strip() else done.stderr
    if done.error is not None:
        errors.append(f"nvidia_smi_raw_failed: {done.error}")
    elif done.returncode != 0:
        errors.append(f"nvidia_smi_raw_nonzero_rc:{done.returncode}")
    if not raw:
        return
    env["nvidia_smi_raw"] = truncate(raw, RAW_MAX_CHARS)
    driver = _search(r"Driver Version:\s*([0-9.]+)", raw)
    cuda = _search(r"CUDA Version:\s*([0-9.]+)", raw)
    if env["driver_version"] is None and driver is not None:
        env["driver_version"] = driver
    if cuda is not None:
        env["cuda_driver_reported"] = cuda
        if env["cuda_version"] is None:  # no torch: the driver's CUDA is the best we know
            env["cuda_version"] = cuda
    if env["driver_model"] is None:
        env["driver_model"] = _search(r"\b(WDDM|TCC)\b", raw)


def _search(pattern: str, text: str) -> str | None:
    match = re.search(pattern, text)
    return match.group(1) if match else None


def _collect_smi_query(env: dict[str, Any], errors: list[str], run: Runner) -> None:
    for query in SMI_QUERIES:
        row = _smi_query_row(query, errors, run)
        if row is not None:
            _apply_smi_row(env, errors, row)
            return


def _smi_query_row(query: str, errors: list[str], run: Runner) -> dict[str, str] | None:
    """The first GPU's row of ``--query-gpu=query``, or None (with the reason in ``errors``)."""
    done = run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits"], None, _SMI_TIMEOUT_S)
    if done.error is not None:
        errors.append(f"nvidia_smi_query_failed({query}): {done.error}")
        return None
    if done.returncode != 0:
        errors.append(f"nvidia_smi_query_nonzero_rc({query}):{done.returncode}")
        return None
    if not done.stdout.strip():
        errors.append(f"nvidia_smi_query_empty({query})")
        return None
    try:
        rows = list(csv.reader(done.stdout.splitlines()))
    except csv.Error as exc:
        errors.append(f"nvidia_smi_query_parse_failed({query}): Error: {exc}")
        return None
    if not rows:
        errors.append(f"nvidia_smi_query_parse_empty({query})")
        return None
    fields = query.split(",")
    if len(rows[0]) != len(fields):
        errors.append(f"nvidia_smi_query_field_mismatch({query}): got {len(rows[0])} expected {len(fields)}")
        return None
    return {name: value.strip() for name, value in zip(fields, rows[0], strict=True)}


def _apply_smi_row(env: dict[str, Any], errors: list[str], row: dict[str, str]) -> None:
    """Fill what torch and the raw header left null from the query row."""
    env["nvidia_smi_query"] = row
    for key, column in (
        ("driver_version", "driver_version"),
        ("gpu_name", "name"),
        ("compute_capability", "compute_cap"),
        ("driver_model", "driver_model.current"),
    ):
        if env[key] is None:
            env[key] = row.get(column) or None
    mem_mib = row.get("memory.total", "")
    if env["total_vram_bytes"] is None and mem_mib:
        try:
            env["total_vram_bytes"] = int(float(mem_mib) * 1024 * 1024)  # nounits: MiB
        except ValueError:
            errors.append(f"nvidia_smi_parse_memory_total_failed:{mem_mib!r}")


# -- git -----------------------------------------------------------------------------------------


def _collect_git(env: dict[str, Any], errors: list[str], run: Runner, which: Which, cwd: Path) -> None:
    if which("git") is None:
        env["git_error"] = "git_not_found"
        errors.append("git_not_found")
        return
    commit = run(["git", "rev-parse", "HEAD"], cwd, _GIT_TIMEOUT_S)
    failure = _git_failure("rev_parse", commit)
    if failure is None:
        env["git_commit"] = commit.stdout.strip() or None
        status = run(["git", "status", "--porcelain"], cwd, _GIT_TIMEOUT_S)
        failure = _git_failure("status", status)
        if failure is None:
            env["git_dirty"] = 1 if status.stdout.strip() else 0
    if failure is not None:
        env["git_error"] = failure
        errors.append(failure)


def _git_failure(step: str, done: Completed) -> str | None:
    """``git_<step>_failed:...`` / ``git_<step>_nonzero_rc:<rc>:<stderr>``, or None on success."""
    if done.error is not None:
        return f"git_{step}_failed:{done.error}"
    if done.returncode != 0:
        return f"git_{step}_nonzero_rc:{done.returncode}:{truncate(done.stderr.strip(), 200)}"
    return None
