"""Qoitech Otii Arc / Ace through the Otii TCP server and ``otii_tcp_client``.

The Otii application (or Otii Server) owns the USB device; this backend talks
to its TCP server (``resource`` = ``host:port``, default 127.0.0.1:1905). The
Otii supplies the DUT on main (``supply_voltage``), records main current
(``mc``), main voltage (``mv``) and a digital input (``i1`` or ``i2``) as the
marker, and trips main off above ``max_current_a`` - a trip during the
acquisition is reported as an error, not as a short trace.
"""

from __future__ import annotations

import logging
import math
import socket
import time
from typing import Any, Literal

import numpy as np
from otii_tcp_client import otii_client, otii_connection, otii_exception

from harness.errors import MeasurementError, MonitorDisconnected
from harness.power.monitor import FoundMonitor, register_discovery, register_monitor
from harness.power.trace import Trace

log = logging.getLogger(__name__)

INSTRUMENT = "Otii"
DEFAULT_RESOURCE = "127.0.0.1:1905"
# what the client library raises for a refused, broken or unanswered connection
_LINK_ERRORS = (OSError, socket.timeout, otii_connection.DisconnectedException,
                otii_exception.Otii_Exception, otii_client.OtiiClientException,
                KeyError, ValueError)


def _host_port(resource: str) -> tuple[str, int]:
    host, _, port = resource.rpartition(":")
    try:
        return host or "127.0.0.1", int(port)
    except ValueError:
        raise MeasurementError(f"{INSTRUMENT}: resource {resource!r} is not host:port") from None


def _why(exc: BaseException) -> str:
    return str(getattr(exc, "message", None) or exc or type(exc).__name__)


class OtiiMonitor:
    def __init__(self, resource: str | None = None, device: str | None = None,
                 marker_input: Literal["i1", "i2"] = "i1",
                 licensing: Literal["auto", "manual"] = "auto",
                 max_current_a: float = 0.5, connect_timeout_s: float = 3.0) -> None:
        if marker_input not in ("i1", "i2"):
            raise MeasurementError(f"{INSTRUMENT}: marker_input is 'i1' or 'i2' (GPI1/GPI2)")
        self._resource = resource or DEFAULT_RESOURCE
        self._host, self._port = _host_port(self._resource)
        self._device_name = device
        self._marker = marker_input
        self._licensing = otii_client.LicensingMode(licensing)
        self._max_current_a = float(max_current_a)
        self._connect_timeout_s = connect_timeout_s
        self._client: otii_client.OtiiClient | None = None
        self._arc: Any = None
        self._project: Any = None
        self._identity: dict[str, str] = {}
        self._volts = 3.3
        self._wall: tuple[float, float] | None = None

    # -- PowerMonitor -------------------------------------------------------------------
    def configure(self, sample_rate: float, supply_voltage: float | None,
                  current_range_a: float | None) -> None:
        self._volts = 3.3 if supply_voltage is None else float(supply_voltage)
        limit = self._max_current_a if current_range_a is None else float(current_range_a)
        with self._errors("configure"):
            otii = self._connect()
            arc = self._arc = self._pick_device(otii)
            version = arc.get_version()
            self._identity = {"model": f"Qoitech Otii {arc.type}", "device_name": arc.name,
                              "device_id": arc.id,
                              "hw_version": str(version.get("hw_version", "?")),
                              "fw_version": str(version.get("fw_version", "?"))}
            try:
                self._project = otii.get_active_project()
            except Exception:  # the client raises a bare OtiiException when there is none
                self._project = otii.create_project()
            arc.add_to_project()
            arc.set_range("low")             # "low" is the Otii's auto-ranging
            arc.set_max_current(limit)
            arc.set_main_voltage(self._volts)
            for channel in ("mc", "mv", self._marker):
                arc.enable_channel(channel, True)
            arc.set_channel_samplerate("mc", int(sample_rate))
            arc.set_main(True)               # the DUT runs from main: power it now
        log.info("%s %s on %s: main %.3g V, trip %.3g A", INSTRUMENT, arc.name,
                 self._resource, self._volts, limit)

    def set_output(self, on: bool) -> None:
        """Main, the supply the board runs from."""
        with self._errors("set_output"):
            if self._arc is None:
                raise MeasurementError(f"{INSTRUMENT}: configure() connects; call it first")
            self._arc.set_main(bool(on))

    def start(self) -> None:
        with self._errors("start"):
            self._require_project().start_recording()
        self._wall = (time.monotonic(), 0.0)

    def stop(self) -> None:
        if self._wall is None:
            raise MeasurementError(f"{INSTRUMENT} on {self._resource}: stop() before start()")
        with self._errors("stop"):
            self._require_project().stop_recording()
            self._wall = (self._wall[0], time.monotonic())
            main_on = self._arc.get_main()
        if not main_on:
            raise MeasurementError(f"{INSTRUMENT} {self._arc.name} on {self._resource} switched "
                                   f"main off during the acquisition: the DUT drew more than "
                                   f"the {self._max_current_a:g} A trip level")

    def read(self) -> Trace:
        if self._wall is None or not self._wall[1]:
            raise MeasurementError(f"{INSTRUMENT} on {self._resource}: read() before start() "
                                   "and stop()")
        arc = self._arc
        with self._errors("read"):
            recording = self._require_project().get_last_recording()
            if recording is None:
                raise MeasurementError(f"{INSTRUMENT} on {self._resource}: no recording")
            current = self._analog(recording, "mc")
            volts = self._analog(recording, "mv")
            n_edges = recording.get_channel_data_count(arc.id, self._marker)
            edges = recording.get_channel_data(arc.id, self._marker, 0, n_edges)["values"]
        fs = 1.0 / current["interval"]
        amps = np.asarray(current["values"], dtype=np.float64)
        n = len(amps)
        times = current["timestamp"] + (np.arange(n) + 0.5) / fs  # marker read mid-sample
        voltage: np.ndarray | float = (np.asarray(volts["values"], dtype=np.float64)
                                       if len(volts["values"]) == n else self._volts)
        return Trace(sample_rate=fs, current_a=amps, voltage_v=voltage,
                     markers={"marker": _levels(edges, times)}, t0=float(current["timestamp"]),
                     instrument={"backend": "otii", "resource": self._resource,
                                 "marker_input": self._marker,
                                 "max_current_a": f"{self._max_current_a:g}",
                                 **self._identity},
                     wall_duration_s=self._wall[1] - self._wall[0])

    def close(self) -> None:
        if self._client is None:
            return
        try:
            self._client.disconnect()  # returns licenses it reserved; main stays as it is
        except _LINK_ERRORS as exc:
            log.warning("%s on %s: disconnect: %s", INSTRUMENT, self._resource, _why(exc))
        self._client = self._arc = self._project = None

    # -- helpers ------------------------------------------------------------------------
    def _connect(self) -> Any:
        if self._client is None:
            client = otii_client.OtiiClient()
            client.connect(host=self._host, port=self._port,
                           try_for_seconds=math.ceil(self._connect_timeout_s),  # whole seconds
                           licensing=self._licensing)
            self._client = client
        return self._client.otii

    def _pick_device(self, otii: Any) -> Any:
        devices = otii.get_devices(timeout=int(self._connect_timeout_s))
        names = ", ".join(f"{d.name} ({d.id})" for d in devices) or "none"
        if self._device_name is None:
            if len(devices) != 1:
                raise MeasurementError(f"{INSTRUMENT} on {self._resource}: {len(devices)} "
                                       f"devices ({names}); name one with params.device")
            return devices[0]
        for d in devices:
            if self._device_name in (d.name, d.id):
                return d
        raise MeasurementError(f"{INSTRUMENT} on {self._resource}: no device "
                               f"{self._device_name!r} (connected: {names})")

    def _analog(self, recording: Any, channel: str) -> dict:
        count = recording.get_channel_data_count(self._arc.id, channel)
        return recording.get_channel_data(self._arc.id, channel, 0, count)

    def _require_project(self) -> Any:
        if self._project is None:
            raise MeasurementError(f"{INSTRUMENT}: configure() connects; call it first")
        return self._project

    def _errors(self, step: str) -> _OtiiErrors:
        return _OtiiErrors(f"{INSTRUMENT} on {self._resource}: {step}")


class _OtiiErrors:
    """Turns the client library's exceptions into a MeasurementError naming the server."""

    def __init__(self, where: str) -> None:
        self._where = where

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, exc: BaseException | None,
                 tb: object) -> Literal[False]:
        if exc is None:
            return False
        if _gone(exc):
            raise MonitorDisconnected(f"{self._where} failed, the Otii is gone: "
                                      f"{_why(exc)}") from exc
        if isinstance(exc, _LINK_ERRORS):
            raise MeasurementError(f"{self._where} failed: {_why(exc)}") from exc
        return False


def _gone(exc: BaseException | None) -> bool:
    """The server's connection dropped, or the server lost the device (unplugged)."""
    if isinstance(exc, otii_connection.DisconnectedException | ConnectionError):
        return True
    return (isinstance(exc, otii_exception.Otii_Exception)
            and getattr(exc, "type", "") == "Device not connected")


def _levels(edges: list[dict], times: np.ndarray) -> np.ndarray:
    """A digital channel's level at ``times`` from its list of timestamped values."""
    if not edges:
        return np.zeros(len(times), dtype=np.uint8)
    stamps = np.array([e["timestamp"] for e in edges], dtype=np.float64)
    values = np.array([bool(e["value"]) for e in edges], dtype=np.uint8)
    idx = np.searchsorted(stamps, times, side="right") - 1
    # before the first recorded value the input held the opposite level
    return np.where(idx >= 0, values[np.maximum(idx, 0)], 1 - values[0]).astype(np.uint8)


@register_discovery("otii")
def discover() -> list[FoundMonitor]:
    """Devices the local Otii server sees (none when no server is running)."""
    host, port = _host_port(DEFAULT_RESOURCE)
    try:
        with socket.create_connection((host, port), timeout=0.2):
            pass
    except OSError:
        return []  # no Otii server here: nothing to list, not an error
    client = otii_client.OtiiClient()
    try:
        otii = client.connect(host=host, port=port, try_for_seconds=1,
                              licensing=otii_client.LicensingMode.MANUAL)
        return [FoundMonitor("otii", DEFAULT_RESOURCE, f"Qoitech Otii {d.type} {d.name} "
                             f"({d.id})") for d in otii.get_devices(timeout=1)]
    finally:
        client.disconnect()


register_monitor("otii")(OtiiMonitor)
