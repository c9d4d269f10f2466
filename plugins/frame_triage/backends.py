"""Camera backends: where frames come from. ``sim`` is built in; plugins add others by hook.

A backend plugin implements ``vrx_triage_backends() -> dict[str, CameraBackend]`` (a hookspec this
plugin adds through ``vrx_add_hookspecs``), so a real camera SDK can be wired in without touching
vrx: its frames are recorded and derived exactly like the simulated ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from vrx_core.hooks.specs import hookspec

from .scenario import sim_config_from_scenario
from .sim import Frame, SimConfig, simulate


class CameraBackend(Protocol):
    """A source of frames for one capture."""

    name: str

    def configure(self, scenario: Mapping[str, Any]) -> SimConfig:
        """Apply the scenario; return the effective stream settings (fps, duration, seed, ...)."""
        ...

    def applied_params(self, config: SimConfig) -> list[tuple[str, str]]:
        """The parameters as applied to the device, in order (recorded as ``triage.config_applied``)."""
        ...

    def frames(self, config: SimConfig, stream_start_ns: int) -> Iterable[Frame]:
        """Frame samples in the order the device returns them (possibly out of timestamp order)."""
        ...


class SimBackend:
    """The deterministic simulated camera (ORIGINS §4.3): same scenario and seed, same frames."""

    name = "sim"

    def configure(self, scenario: Mapping[str, Any]) -> SimConfig:
        return sim_config_from_scenario(scenario)

    def applied_params(self, config: SimConfig) -> list[tuple[str, str]]:
        return config.applied_params()

    def frames(self, config: SimConfig, stream_start_ns: int) -> Iterable[Frame]:
        return simulate(config, stream_start_ns)


class BackendSpecs:
    """Hook specifications added by frame_triage."""

    @hookspec
    def vrx_triage_backends(self) -> dict[str, CameraBackend]:  # type: ignore[empty-body]
        """Return camera backends by name for ``vrx triage run --backend NAME``.

        .. versionadded:: 0.1
        """
