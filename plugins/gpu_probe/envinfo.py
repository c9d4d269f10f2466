"""The ``env.json`` object of a GPU probe run (env_lock v1, ORIGINS 2.3): what the machine was.

Behaviour follows the original ``gpu_env_dump.py``: exactly the v1 keys, every fact best-effort,
a missing fact is null plus a line in ``errors``; nothing here raises for a missing torch, driver,
nvidia-smi or git. It writes no file: the probe records the dict as a ``probe.env`` event and
``env.json`` is derived from the log (:func:`env_json` is the original's serialization).

torch and git are read through the core (``vrx_core.capture``): :func:`collect_facts` makes the
run's ``environment`` event, which the probe records too, and :func:`env_from` builds env.json
from it plus what only the probe asks (nvidia-smi, precision, AMP, its variable whitelist), so
each is asked once per probe. Subprocesses and ``which`` are parameters so tests can play a
machine with or without nvidia-smi or git; torch is imported only when the collection runs.
"""

from __future__ import annotations

import csv
import importlib
import json
import os
import platform
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

from vrx_core.capture.environment import collect_environment
from vrx_core.capture.proc import Runner, Which, run_command, truncate
from vrx_core.events import Environment, GitInfo, TorchInfo

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
#: Structured queries, richest first; the first that parses wins (driver_model is Windows-only).
SMI_QUERIES: tuple[str, ...] = (
    "driver_version,name,memory.total,compute_cap,driver_model.current",
    "driver_version,name,memory.total,compute_cap",
)
_SMI_TIMEOUT_S = 3.0


class Facts(NamedTuple):
    """What the probe shares with the core: the run's ``environment`` event (git, torch, host) and
    why torch is missing from it (``torch_import_failed: ...``; the core never imports torch)."""

    environment: Environment
    torch_error: str | None = None


def collect_facts(
    cwd: Path | None = None, *, run: Runner = run_command, which: Which = shutil.which
) -> Facts:
    """Import torch (recording why it cannot be) and collect the ``environment`` event once.

    ``cwd`` is where git is asked for the commit (default: the current directory, the code being
    run).
    """
    torch, torch_error = _import_torch()
    return Facts(collect_environment(cwd, torch=torch, run=run, which=which), torch_error)


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
    """The env.json object of this machine now: :func:`collect_facts`, then :func:`env_from`."""
    return env_from(
        collect_facts(cwd, run=run, which=which),
        precision=precision,
        amp=amp,
        extra_errors=extra_errors,
        now_utc=now_utc,
        run=run,
        which=which,
        environ=environ,
    )


def env_from(
    facts: Facts,
    *,
    precision: str,
    amp: int | None,
    extra_errors: Sequence[str] = (),
    now_utc: datetime | None = None,
    run: Runner = run_command,
    which: Which = shutil.which,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The env.json object: exactly :data:`ENV_KEYS_V1`, in that order.

    torch and git come from ``facts``; nvidia-smi is asked here. ``extra_errors`` are appended to
    ``errors`` (``nvml_unavailable: ...`` from the sampler, for one); ``now_utc`` fixes
    ``generated_utc``; ``run``, ``which`` and ``environ`` stand in for subprocesses,
    ``shutil.which`` and ``os.environ``.
    """
    errors: list[str] = []
    env: dict[str, Any] = dict.fromkeys(ENV_KEYS_V1)
    host_platform = facts.environment.host.get("platform")
    env.update(
        env_schema_version=ENV_SCHEMA_VERSION,
        tool_version=TOOL_VERSION,
        generated_utc=_utc_iso(now_utc),
        os=host_platform if isinstance(host_platform, str) else platform.platform(),
        python_version=sys.version.replace("\n", " "),
        precision=precision,
        amp=amp,
        env_vars=_env_vars(os.environ if environ is None else environ),
    )
    if facts.torch_error is not None:
        errors.append(facts.torch_error)
    elif facts.environment.torch is not None:
        _apply_torch(env, errors, facts.environment.torch)
    _collect_nvidia_smi(env, errors, run, which)
    _apply_git(env, errors, facts.environment.git)
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


def _import_torch() -> tuple[ModuleType | None, str | None]:
    try:
        return importlib.import_module("torch"), None
    except Exception as exc:  # ImportError, or whatever a broken CUDA install raises on import
        return None, f"torch_import_failed: {type(exc).__name__}: {exc}"


def _apply_torch(env: dict[str, Any], errors: list[str], torch: TorchInfo) -> None:
    """Version, CUDA build and device 0 (name, memory, compute capability) when CUDA is usable."""
    # The core names a torch without __version__ "unknown"; env.json has always said null.
    env["torch_version"] = None if torch.version == "unknown" else torch.version
    env["cuda_version"] = torch.cuda_version
    errors.extend(torch.errors)  # torch_cuda_version_failed, then torch_cuda_props_failed
    device = next((d for d in torch.devices if d.get("index", 0) == 0), None)
    if device is not None:
        env["gpu_name"] = device.get("name")
        env["total_vram_bytes"] = device.get("total_memory_bytes")
        env["compute_capability"] = device.get("capability")


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


def _apply_git(env: dict[str, Any], errors: list[str], git: GitInfo) -> None:
    """``git_commit``, ``git_dirty`` as 1/0 (null when ``git status`` failed) and ``git_error``."""
    env["git_commit"] = git.commit_full
    env["git_dirty"] = None if git.dirty is None else int(git.dirty)
    env["git_error"] = git.error
    if git.error is not None:
        errors.append(git.error)
