"""The power-monitor backends: where each lives, what its ``params`` may say, what it needs.

One table (`BACKENDS`, the built-in backends) and one registry (`MONITOR_BACKENDS`:
those plus the ``tinyml_harness.monitors`` entry points, `harness/plugins.py`) for
the bench schema, the factories in `monitor.py` and pre-flight. It is declared
apart from the backends because they import their vendor libraries on import;
`harness check` validates a bench's ``monitors[].params`` and names the missing
package without importing any of them. Each schema lists the keyword arguments of
its backend's constructor that a bench file may set (``resource``, ``sample_rate``
and ``supply_voltage`` are top-level keys of ``monitors[]``; the sim monitor's
activity log, supply file and idle current come from the simulated board).
tests/test_preflight.py checks every schema against its constructor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.plugins import Registry
from harness.power.backends.scpi_dialects import DIALECTS


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SimParams(_Params):
    noise_a: float = Field(default=0.0, ge=0, description="Gaussian noise on each sample, A")
    seed: int = Field(default=0, description="seed of the noise and of injected faults")
    glitches: int = Field(default=0, ge=0,
                          description="one-sample marker pulses between the windows of a trace")
    disconnect_rate: float = Field(default=0.0, ge=0, le=1,
                                   description="P(the monitor disconnects during a trace)")
    disconnect_after_s: float | None = Field(default=None, ge=0,
                                             description="disconnect this long into every trace")


class JoulescopeParams(_Params):
    marker_input: int = Field(default=0, ge=0, le=3, description="GPI the marker is wired to")


class Ppk2Params(_Params):
    mode: Literal["source", "ampere"] = "source"
    marker_input: int = Field(default=0, ge=0, le=7, description="logic input D0..D7")
    timeout_s: float = Field(default=2.0, gt=0)


class Lpm01aParams(_Params):
    baudrate: int = Field(default=3_686_400, gt=0)
    output: Literal["energy", "current"] = "energy"
    eventsrc: str = Field(default="d7 fal", description="the LPM01A's eventsrc argument")
    marker_events: Literal["toggle", "direction"] = "toggle"
    timeout_s: float = Field(default=2.0, gt=0)


class OtiiParams(_Params):
    device: str | None = Field(default=None, description="device name (default: the first)")
    marker_input: Literal["i1", "i2"] = "i1"
    licensing: Literal["auto", "manual"] = "auto"
    max_current_a: float = Field(default=0.5, gt=0)
    connect_timeout_s: float = Field(default=3.0, gt=0)


class ScpiParams(_Params):
    visa_backend: str | None = Field(default=None, description="pyvisa backend, e.g. @py")
    timeout_s: float = Field(default=10.0, gt=0)
    channel: int = Field(default=1, ge=1)
    marker_input: bool | None = None
    marker_high_v: float = Field(default=3.3, gt=0)
    points: int | None = Field(default=None, gt=0)
    buffer: str = "defbuffer1"
    current_limit_a: float = Field(default=0.5, gt=0)
    max_duration_s: float = Field(default=3600.0, gt=0)


class _FieldError(ValueError):
    """A cross-field check failed; names its field for the ConfigError (yaml_loader.validate)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _scpi_schema(backend: str) -> type[_Params]:
    """`ScpiParams` that also knows whether this instrument has a marker input."""
    dialect = DIALECTS[backend]

    class Params(ScpiParams):
        @model_validator(mode="after")
        def _marker_exists(self) -> Params:
            if self.marker_input and dialect.fetch_marker is None:
                raise _FieldError("marker_input", f"{dialect.model} has no marker input: leave "
                                  "it unset and align windows from host timestamps")
            return self

    Params.__name__ = f"ScpiParams[{backend}]"
    return Params


@dataclass(frozen=True)
class Package:
    module: str        # what the backend imports
    distribution: str  # what pip installs


@dataclass(frozen=True)
class BackendInfo:
    """A backend's entry in the registry (a plugin's entry point names one of these)."""

    module: str                 # imports the vendor library and registers the factory
    label: str                  # what the instrument is, for people
    params: type[BaseModel]     # what ``monitors[].params`` may say
    packages: tuple[Package, ...] = ()
    extra: str = ""             # the tinyml-harness extra that installs ``packages``
    needs_resource: bool = False  # cannot find its instrument without ``monitors[].resource``


_INSTRUMENTS = "instruments"
_PYVISA = (Package("pyvisa", "pyvisa"),)
BACKENDS: dict[str, BackendInfo] = {
    "sim": BackendInfo("harness.power.sim_monitor", "simulated monitor (a sim board's supply)",
                       SimParams),
    "joulescope": BackendInfo("harness.power.backends.joulescope", "Joulescope JS220 / JS110",
                              JoulescopeParams,
                              (Package("pyjoulescope_driver", "pyjoulescope-driver"),),
                              _INSTRUMENTS),
    "ppk2": BackendInfo("harness.power.backends.ppk2", "Nordic Power Profiler Kit II",
                        Ppk2Params),
    "lpm01a": BackendInfo("harness.power.backends.lpm01a", "ST X-NUCLEO-LPM01A",
                          Lpm01aParams),
    "otii": BackendInfo("harness.power.backends.otii", "Qoitech Otii Arc / Ace", OtiiParams,
                        (Package("otii_tcp_client", "otii-tcp-client"),), _INSTRUMENTS),
    **{name: BackendInfo("harness.power.backends.scpi", dialect.model, _scpi_schema(name),
                         _PYVISA, _INSTRUMENTS, needs_resource=True)
       for name, dialect in DIALECTS.items()},
}
MONITOR_BACKENDS = Registry("power monitor backend", "tinyml_harness.monitors", BackendInfo,
                            BACKENDS)
