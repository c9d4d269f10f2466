"""The ``config`` event: a run's configuration as composed (``${...}`` kept) and resolved.

OmegaConf (2.4, the ``config`` extra) composes and resolves. A plain dict without interpolations
needs no OmegaConf. Resolution happens here, before the run starts, so a config that cannot be
resolved stops the program with one line naming the key instead of failing hours in.
"""

from __future__ import annotations

import enum
import math
import os
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

from vrx_core.errors import ExitCode, VrxError
from vrx_core.events import Config, JSONValue

INSTALL_HINT = "pip install 'vrx-core[config]'"


class ConfigError(VrxError):
    """The run's configuration cannot be recorded: unresolvable, unparsable or not JSON-like."""

    exit_code = ExitCode.USAGE


class ConfigFileError(ConfigError):
    """The config file is missing or cannot be read: exit 66 (``NOINPUT``), like any input file."""

    exit_code = ExitCode.NOINPUT


def capture_config(config: Any, *, source: str | os.PathLike[str] | None = None) -> Config:
    """The ``config`` event of ``config``: an OmegaConf ``DictConfig``, a mapping, or the path of
    a YAML file (loaded with OmegaConf). Raises :class:`ConfigError` naming the first key that
    cannot be resolved (``${...}`` to a missing key, a ``???`` mandatory value, a failing resolver).
    """
    if isinstance(config, str | PurePath):
        source = config
        config = _load_yaml(Path(config))
    where = os.fspath(source) if source is not None else None
    # An OmegaConf object is a Mapping too, but reading its values would resolve them.
    from_omegaconf = type(config).__module__.startswith("omegaconf")
    if isinstance(config, Mapping) and not from_omegaconf and not _has_interpolation(config):
        plain = _jsonable(config, "", where)
        return Config(composed=plain, resolved=plain, source=where)
    omegaconf = _omegaconf("a config with ${...} interpolations or an OmegaConf object")
    cfg = config if omegaconf.OmegaConf.is_config(config) else omegaconf.OmegaConf.create(dict(config))
    if not omegaconf.OmegaConf.is_dict(cfg):
        raise ConfigError("the config must be a mapping at the top, got a list", path=where)
    composed = omegaconf.OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)
    try:
        resolved = omegaconf.OmegaConf.to_container(
            cfg, resolve=True, throw_on_missing=True, enum_to_str=True
        )
    except omegaconf.errors.OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "?"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"cannot resolve config key `{key}`: {reason}", path=where) from None
    return Config(
        composed=_jsonable(composed, "", where), resolved=_jsonable(resolved, "", where), source=where
    )


def _load_yaml(path: Path) -> Any:
    omegaconf = _omegaconf("loading a YAML config")
    try:
        return omegaconf.OmegaConf.load(path)
    except FileNotFoundError:
        raise ConfigFileError("no such config file", path=path) from None
    except OSError as exc:
        raise ConfigFileError(f"cannot read config file: {exc.strerror}", path=path) from None
    except (ValueError, omegaconf.errors.OmegaConfBaseException) as exc:
        raise ConfigError(f"cannot load config: {_first_line(exc)}", path=path) from None
    except Exception as exc:  # yaml.YAMLError: PyYAML is only importable through OmegaConf
        raise _yaml_error(exc, path) from None


def _yaml_error(exc: Exception, path: Path) -> ConfigError:
    """``FILE:LINE: cannot parse YAML: <problem> (column C)`` from PyYAML's marked error (1-based
    line and column); the first line of any other error."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    line, column = getattr(mark, "line", None), getattr(mark, "column", None)
    if not isinstance(line, int) or not isinstance(column, int):
        return ConfigError(f"cannot parse YAML: {_first_line(exc)}", path=path)
    what = problem if isinstance(problem, str) and problem else _first_line(exc)
    return ConfigError(f"cannot parse YAML: {what} (column {column + 1})", path=path, line=line + 1)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _omegaconf(needed_for: str) -> Any:
    try:
        import omegaconf
    except ImportError:
        raise ConfigError(f"{needed_for} needs OmegaConf: {INSTALL_HINT}") from None
    return omegaconf


def _has_interpolation(value: Any) -> bool:
    if isinstance(value, str):
        return "${" in value or value == "???"
    if isinstance(value, Mapping):
        return any(_has_interpolation(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_interpolation(v) for v in value)
    return False


def _jsonable(value: Any, key: str, where: str | None) -> Any:
    """``value`` as JSON data (what the log holds), or a ConfigError naming the key that is not."""
    if isinstance(value, float) and not math.isfinite(value):
        # The log keeps NaN/Inf only in float fields of a kind; a config is free-form JSON.
        raise ConfigError(
            f"config value at `{key}` is {value}; only finite numbers can be recorded", path=where
        )
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        out: dict[str, JSONValue] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigError(f"config keys must be strings, got {k!r} under `{key or '.'}`", path=where)
            out[k] = _jsonable(v, f"{key}.{k}" if key else k, where)
        return out
    if isinstance(value, list | tuple):
        return [_jsonable(v, f"{key}[{i}]", where) for i, v in enumerate(value)]
    raise ConfigError(
        f"config value at `{key}` is a {type(value).__name__}; only JSON-like values can be recorded",
        path=where,
    )


__all__ = ["INSTALL_HINT", "ConfigError", "ConfigFileError", "capture_config"]
