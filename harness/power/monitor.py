"""The power-monitor interface every backend implements, and the backend registry."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Protocol

from harness.errors import ConfigError, MeasurementError
from harness.power.trace import Trace


class PowerMonitor(Protocol):
    """Acquires a `Trace`; knows nothing of inferences or Joules."""

    def configure(self, sample_rate: float, supply_voltage: float | None,
                  current_range_a: float | None) -> None:
        """Set the rate, the supply it sources (None: it only measures) and the range
        (None: the widest/auto range)."""
        ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def read(self) -> Trace:
        """The samples acquired between start() and stop()."""
        ...

    def close(self) -> None: ...


MonitorFactory = Callable[..., PowerMonitor]
_MONITORS: dict[str, MonitorFactory] = {}
# Backend name -> module that registers it; imported only when a bench asks for it,
# so one backend's optional vendor library never breaks the others.
_BUILTIN_MODULES: dict[str, str] = {
    "sim": "harness.power.sim_monitor",
}


def register_monitor(name: str) -> Callable[[MonitorFactory], MonitorFactory]:
    def decorate(factory: MonitorFactory) -> MonitorFactory:
        if name in _MONITORS:
            raise ValueError(f"a power monitor backend {name!r} is already registered")
        _MONITORS[name] = factory
        return factory

    return decorate


def create_monitor(name: str, **params: Any) -> PowerMonitor:
    """Open the backend ``name`` with the bench file's ``params`` (and resource)."""
    if name not in _MONITORS and name in _BUILTIN_MODULES:
        importlib.import_module(_BUILTIN_MODULES[name])
    try:
        factory = _MONITORS[name]
    except KeyError:
        known = ", ".join(sorted(set(_MONITORS) | set(_BUILTIN_MODULES)))
        raise MeasurementError(f"power monitor backend {name!r} is not available "
                               f"(available: {known})") from None
    try:
        return factory(**params)
    except TypeError as exc:  # an unknown or missing entry under the monitor's params:
        raise ConfigError("bench file", f"monitors.params ({name})", str(exc)) from exc
