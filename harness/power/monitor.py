"""The power-monitor interface every backend implements, and the factories of the backends
in the registry (`backend_params.MONITOR_BACKENDS`: built-in and entry-point ones)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from harness.errors import ConfigError, HarnessError, MeasurementError, MonitorCannotSource
from harness.power.backend_params import MONITOR_BACKENDS, BackendInfo
from harness.power.trace import Trace


class PowerMonitor(Protocol):
    """Acquires a `Trace`; knows nothing of inferences or Joules."""

    def configure(self, sample_rate: float, supply_voltage: float | None,
                  current_range_a: float | None) -> None:
        """Set the rate, the supply it sources (None: it only measures) and the range
        (None: the widest/auto range)."""
        ...

    def set_output(self, on: bool) -> None:
        """Switch the board's supply on or off (after configure(), which leaves it on):
        a sourcing instrument's output, an inline one's pass-through. Raises
        `MonitorCannotSource` when the monitor only measures."""
        ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def read(self) -> Trace:
        """The samples acquired between start() and stop(). An instrument that went away
        raises `MonitorDisconnected` here or in stop(), or marks the trace
        ``interrupted``."""
        ...

    def close(self) -> None: ...


def power_board(monitor: PowerMonitor, on: bool = True) -> bool:
    """Switch the board's supply through ``monitor``; False when the monitor only
    measures, so the board is powered from elsewhere."""
    try:
        monitor.set_output(on)
    except MonitorCannotSource:
        return False
    return True


MonitorFactory = Callable[..., PowerMonitor]
# Filled as a backend's module (BackendInfo.module) is imported, which happens only when a
# bench asks for it, so one backend's optional vendor library never breaks the others.
_MONITORS: dict[str, MonitorFactory] = {}


@dataclass(frozen=True)
class FoundMonitor:
    """An instrument a backend sees connected (for ``harness monitors``)."""

    backend: str
    resource: str       # what a bench file's ``resource`` should say to pick it
    description: str    # model, serial number, firmware


Discoverer = Callable[[], list[FoundMonitor]]
_DISCOVERERS: dict[str, Discoverer] = {}


def register_monitor(name: str) -> Callable[[MonitorFactory], MonitorFactory]:
    def decorate(factory: MonitorFactory) -> MonitorFactory:
        if name in _MONITORS:
            raise ValueError(f"a power monitor backend {name!r} is already registered")
        _MONITORS[name] = factory
        return factory

    return decorate


def register_discovery(name: str) -> Callable[[Discoverer], Discoverer]:
    """Register how backend ``name`` lists connected instruments."""

    def decorate(discover: Discoverer) -> Discoverer:
        _DISCOVERERS[name] = discover
        return discover

    return decorate


def _import_backend(name: str) -> BackendInfo:
    try:
        info = MONITOR_BACKENDS.get(name)
    except HarnessError as exc:  # unknown, or a plugin that does not load
        raise MeasurementError(str(exc)) from exc
    if name in _MONITORS:
        return info
    try:
        importlib.import_module(info.module)
    except ImportError as exc:  # the backend's vendor library, not our module, is missing
        install = (f"tinyml-harness[{info.extra}]" if info.extra else
                   " ".join(p.distribution for p in info.packages) or "tinyml-harness[all]")
        raise MeasurementError(f"power monitor backend {name!r} needs "
                               f"{exc.name or 'a library'} (pip install '{install}')") from exc
    if name not in _MONITORS:
        raise MeasurementError(f"power monitor backend {name!r}: importing {info.module} "
                               f"registered no monitor of that name (@register_monitor)")
    return info


def discover_monitors() -> tuple[list[FoundMonitor], dict[str, str]]:
    """Instruments every backend can see, and per backend why it could not look."""
    found: list[FoundMonitor] = []
    problems: dict[str, str] = {}
    for name in MONITOR_BACKENDS.names():
        try:
            _import_backend(name)
            discover = _DISCOVERERS.get(name)
            if discover is not None:
                found += discover()
        except Exception as exc:  # one backend's trouble must not hide the rest
            problems[name] = str(exc)
    return found, problems


def create_monitor(name: str, **params: Any) -> PowerMonitor:
    """Open the backend ``name`` with the bench file's ``params`` (and resource)."""
    _import_backend(name)
    factory = _MONITORS[name]
    try:
        return factory(**params)
    except TypeError as exc:  # an unknown or missing entry under the monitor's params:
        raise ConfigError("bench file", f"monitors.params ({name})", str(exc)) from exc
