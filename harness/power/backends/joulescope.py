"""Joulescope JS110 / JS220 through ``pyjoulescope_driver`` (streaming).

The driver is publish/subscribe over topics under a device path such as
``u/js220/000415``: ``h/fs`` sets the host-side sample rate, ``s/i/ctrl``,
``s/v/ctrl`` and ``s/gpi/<n>/ctrl`` switch the current, voltage and
general-purpose-input streams on, and each stream arrives on ``.../!data`` as
a dict with ``sample_id`` (in the instrument's native samples),
``decimate_factor``, ``sample_rate`` and ``data`` (float32 for i/v, bits packed
eight to a byte for a GPI). Samples are placed by their ``sample_id``: a gap
between messages is lost samples, held over and counted.

A Joulescope only measures (it does not supply the DUT): the voltage in the
trace is the measured one. ``resource`` is the device path or its serial
number; GPI ``marker_input`` (default 0) is the marker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from pyjoulescope_driver import Driver

from harness.errors import MeasurementError, MonitorDisconnected
from harness.power.backends.gaps import hold_over_missing
from harness.power.monitor import FoundMonitor, register_discovery, register_monitor
from harness.power.trace import Trace

log = logging.getLogger(__name__)

INSTRUMENT = "Joulescope"
NATIVE_RATE = {"js110": 2_000_000, "js220": 1_000_000}
#: a stream that ends this much (and this share) before stop() was cut off: the
#: device went away without the driver saying so
SHORT_STREAM_S, SHORT_STREAM_SHARE = 0.25, 0.1


class _Stream:
    """Messages of one signal, as (first sample index at the trace rate, samples)."""

    def __init__(self, bits: bool) -> None:
        self.bits = bits
        self.chunks: list[tuple[int, np.ndarray]] = []
        self.rate: float | None = None

    def add(self, value: dict) -> None:
        factor = int(value["decimate_factor"]) or 1
        self.rate = float(value["sample_rate"]) / factor
        data = np.asarray(value["data"])
        if self.bits:  # one bit per sample, least significant first
            data = np.unpackbits(data.astype(np.uint8), bitorder="little")
        self.chunks.append((int(value["sample_id"]) // factor, data))

    def assemble(self, first: int, n: int) -> np.ndarray:
        """Samples ``first .. first+n`` with NaN where nothing arrived."""
        out = np.full(n, np.nan)
        for start, data in self.chunks:
            lo, hi = max(start, first), min(start + len(data), first + n)
            if hi > lo:
                out[lo - first:hi - first] = data[lo - start:hi - start]
        return out


class JoulescopeMonitor:
    def __init__(self, resource: str | None = None, marker_input: int = 0,
                 driver_factory: Callable[[], Any] = Driver) -> None:
        if not 0 <= int(marker_input) <= 3:
            raise MeasurementError(f"{INSTRUMENT}: marker_input is GPI 0..3, "
                                   f"got {marker_input!r}")
        self._resource = resource
        self._gpi = int(marker_input)
        self._driver_factory = driver_factory
        self._driver: Any = None
        self._path: str | None = None
        self._rate = 0.0
        self._lock = threading.Lock()
        self._streams: dict[str, _Stream] = {}
        self._wall: tuple[float, float] | None = None

    @property
    def _topics(self) -> dict[str, str]:
        """Stream name -> topic prefix under the device."""
        return {"i": "s/i", "v": "s/v", "marker": f"s/gpi/{self._gpi}"}

    # -- PowerMonitor -------------------------------------------------------------------
    def configure(self, sample_rate: float, supply_voltage: float | None,
                  current_range_a: float | None) -> None:
        if self._driver is None:
            self._driver = self._driver_factory()
        path = self._path = self._pick(self._driver.device_paths())
        model = path.split("/")[1]
        native = NATIVE_RATE.get(model, 1_000_000)
        if sample_rate > native or native % round(sample_rate):
            raise MeasurementError(f"{INSTRUMENT} {path}: {sample_rate:g} S/s is not a "
                                   f"divisor of its {native} S/s")
        self._rate = float(round(sample_rate))
        if supply_voltage is not None:
            log.info("%s only measures: the supply (%g V) comes from elsewhere", INSTRUMENT,
                     supply_voltage)
        try:
            self._driver.open(path, "defaults")
            # auto-ranging; a fixed range only clips what a TinyML board draws in bursts
            self._driver.publish(self._range_topic, "auto")
            self._driver.publish(f"{path}/h/fs", int(self._rate))
            for prefix in self._topics.values():
                self._driver.subscribe(f"{path}/{prefix}/!data", ["pub"], self._on_data)
        except Exception as exc:  # the driver raises its own error types per call
            raise MeasurementError(f"{INSTRUMENT} {path}: setup failed: {exc}") from exc
        log.info("%s %s at %g S/s, marker GPI%d", INSTRUMENT, path, self._rate, self._gpi)

    @property
    def _range_topic(self) -> str:
        path = self._require_path()
        return f"{path}/s/i/range/select" if "/js110/" in path else f"{path}/s/i/range/mode"

    def set_output(self, on: bool) -> None:
        """The board's supply through the sensor: current range ``off`` opens the path
        (as Jetperch's dut_power example does), ``auto`` closes it. The supply itself
        comes from elsewhere."""
        try:
            self._driver.publish(self._range_topic, "auto" if on else "off")
        except Exception as exc:  # the driver raises its own error types per call
            raise MeasurementError(f"{INSTRUMENT} {self._path}: current range "
                                   f"{'auto' if on else 'off'} failed: {exc}") from exc

    def start(self) -> None:
        path = self._require_path()
        with self._lock:
            self._streams = {name: _Stream(bits=name == "marker") for name in self._topics}
        self._publish_ctrl(1)
        self._wall = (time.monotonic(), 0.0)
        log.debug("%s %s streaming", INSTRUMENT, path)

    def stop(self) -> None:
        if self._wall is None:
            raise MeasurementError(f"{INSTRUMENT} {self._path}: stop() before start()")
        self._wall = (self._wall[0], time.monotonic())
        try:
            self._publish_ctrl(0)
        except MeasurementError as exc:  # a streaming device that cannot be stopped is gone
            raise MonitorDisconnected(str(exc)) from exc

    def read(self) -> Trace:
        if self._wall is None or not self._wall[1]:
            raise MeasurementError(f"{INSTRUMENT} {self._path}: read() before start() and "
                                   "stop()")
        with self._lock:
            streams = self._streams
        current = streams["i"]
        for name, label in (("i", "current"), ("v", "voltage")):
            if not streams[name].chunks:
                raise MeasurementError(f"{INSTRUMENT} {self._path}: no {label} samples arrived "
                                       "between start and stop")
        if current.rate is not None and abs(current.rate - self._rate) > 1e-6:
            raise MeasurementError(f"{INSTRUMENT} {self._path}: streamed at {current.rate:g} "
                                   f"S/s, configured for {self._rate:g}")
        first = min(start for start, _ in current.chunks)
        n = max(start + len(d) for start, d in current.chunks) - first
        amps, dropped = hold_over_missing(current.assemble(first, n))
        volts, _ = hold_over_missing(streams["v"].assemble(first, n))
        marker, _ = hold_over_missing(streams["marker"].assemble(first, n))
        if dropped:
            log.warning("%s: %d samples missing from the stream", INSTRUMENT, dropped)
        wall_s = self._wall[1] - self._wall[0]
        short_s = wall_s - n / self._rate
        interrupted = None
        if short_s > SHORT_STREAM_S and short_s > SHORT_STREAM_SHARE * wall_s:
            interrupted = (f"the stream stopped {n / self._rate:.3f} s into a {wall_s:.3f} s "
                           "acquisition")
        _, model, serial = (self._path or "//").split("/")
        return Trace(sample_rate=self._rate, current_a=amps,
                     voltage_v=volts,
                     markers={"marker": np.nan_to_num(marker).astype(np.uint8)},
                     t0=first / self._rate,
                     instrument={"backend": "joulescope", "model": f"Joulescope {model.upper()}",
                                 "serial_number": serial, "resource": str(self._path),
                                 "marker_input": f"GPI{self._gpi}", "current_range": "auto"},
                     dropped_samples=dropped, wall_duration_s=None if interrupted else wall_s,
                     interrupted=interrupted)

    def close(self) -> None:
        if self._driver is None:
            return
        try:
            if self._path is not None:
                for prefix in self._topics.values():
                    self._driver.unsubscribe(f"{self._path}/{prefix}/!data", self._on_data)
                self._driver.close(self._path)
        except Exception as exc:  # closing must not hide the error that led here
            log.warning("%s %s: close: %s", INSTRUMENT, self._path, exc)
        finally:
            self._driver.finalize()
            self._driver = self._path = None

    # -- helpers ------------------------------------------------------------------------
    def _on_data(self, topic: str, value: dict) -> None:
        """Driver thread: file each message under its stream."""
        name = next((n for n, p in self._topics.items() if topic.endswith(f"/{p}/!data")), None)
        with self._lock:
            if name in self._streams:
                self._streams[name].add(value)

    def _publish_ctrl(self, on: int) -> None:
        path = self._require_path()
        try:
            for prefix in self._topics.values():
                self._driver.publish(f"{path}/{prefix}/ctrl", on)
        except Exception as exc:
            raise MeasurementError(f"{INSTRUMENT} {path}: streaming "
                                   f"{'on' if on else 'off'} failed: {exc}") from exc

    def _require_path(self) -> str:
        if self._path is None:
            raise MeasurementError(f"{INSTRUMENT}: configure() opens the device; call it first")
        return self._path

    def _pick(self, paths: list[str]) -> str:
        listed = ", ".join(paths) or "none"
        if self._resource is None:
            if len(paths) != 1:
                raise MeasurementError(f"{INSTRUMENT}: {len(paths)} devices connected "
                                       f"({listed}); name one as the monitor's resource")
            return paths[0]
        for path in paths:
            if self._resource in (path, path.rsplit("/", 1)[-1]):
                return path
        raise MeasurementError(f"{INSTRUMENT}: no device {self._resource!r} "
                               f"(connected: {listed})")


@register_discovery("joulescope")
def discover() -> list[FoundMonitor]:
    driver = Driver()
    try:
        return [FoundMonitor("joulescope", path, f"Joulescope {path.split('/')[1].upper()} "
                             f"serial {path.rsplit('/', 1)[-1]}")
                for path in driver.device_paths()]
    finally:
        driver.finalize()


register_monitor("joulescope")(JoulescopeMonitor)
