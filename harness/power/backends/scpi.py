"""SCPI instruments through pyvisa: Keysight N6705C (N6781A), Keithley 2450 and DMM6500.

One monitor class speaks every dialect in `scpi_dialects.py`; what differs between
the instruments lives there. Readings travel as IEEE 488.2 definite-length
binary blocks (``#<n><len><bytes>``). The monitor never sends ``*RST``: the
instrument may be what powers the board under test.

Time base: a fixed-rate instrument's rate is read back from it (it rounds what
it was asked for); a Keithley 2450 reads at whatever its NPLC and overhead allow,
so its rate comes from the readings' own timestamps, and gaps between them count
as dropped samples. The host monotonic time at which the acquisition was
triggered is kept in ``Trace.host_t0_s``: without a marker line
it is what `energy.measure_energy_from_timestamps` aligns windows with.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import select
import socket
import time
import warnings
from typing import Any

import numpy as np

from harness.errors import MeasurementError, MonitorCannotSource, MonitorDisconnected
from harness.power.backends.scpi_dialects import DIALECTS, ScpiDialect
from harness.power.monitor import FoundMonitor, register_discovery, register_monitor
from harness.power.trace import Trace

log = logging.getLogger(__name__)

OVER_RANGE = 9.9e37          # what SCPI instruments return for an overflowed reading
BACKEND_ENV = "HARNESS_VISA_BACKEND"     # pyvisa backend, e.g. "@py" (default: pyvisa's)
RESOURCES_ENV = "HARNESS_VISA_RESOURCES"  # extra resources to probe, comma-separated:
# raw-socket LAN instruments (TCPIP::host::port::SOCKET) cannot be enumerated, and
# serial (ASRL) ones are not probed unless named here
_SCAN_TTL_S = 5.0  # the three SCPI backends share one scan per `harness monitors`


def _visa():
    import pyvisa  # an optional extra: imported only when an SCPI backend is used

    return pyvisa


class ScpiMonitor:
    """A `PowerMonitor` for one SCPI instrument; see the module docstring."""

    def __init__(self, dialect: ScpiDialect, resource: str | None = None,
                 visa_backend: str | None = None, timeout_s: float = 10.0, channel: int = 1,
                 marker_input: bool | None = None, marker_high_v: float = 3.3,
                 points: int | None = None, buffer: str = "defbuffer1",
                 current_limit_a: float = 0.5, max_duration_s: float = 3600.0) -> None:
        if not resource:
            raise MeasurementError(f"{dialect.model}: no VISA resource given (the bench "
                                   "file's monitors[].resource; `harness monitors` lists them)")
        if marker_input and dialect.fetch_marker is None:
            raise MeasurementError(f"{dialect.model} has no marker input: leave marker_input "
                                   "unset and align windows from host timestamps")
        self.dialect = dialect
        self.resource = resource
        self._visa_backend = visa_backend if visa_backend is not None else os.environ.get(
            BACKEND_ENV, "")
        self._timeout_s = float(timeout_s)
        self._marker = dialect.fetch_marker is not None if marker_input is None else marker_input
        self._marker_high_v = float(marker_high_v)
        self._fields: dict[str, Any] = {
            "ch": int(channel), "buffer": buffer, "ilimit": float(current_limit_a),
            "max_s": float(max_duration_s),
            "points": min(int(points or dialect.max_points), dialect.max_points)}
        self._rm: Any = None
        self._inst: Any = None
        self._idn = ""
        self._rate = 0.0
        self._volts = float("nan")
        self._range: float | None = None
        self._t_start: float | None = None
        self._t_stop: float | None = None

    # -- instrument I/O, every error naming the instrument and the command --

    def _fail(self, what: str, exc: Exception) -> MeasurementError:
        pyvisa = _visa()
        detail = str(exc)
        codes = pyvisa.constants.StatusCode
        code = exc.error_code if isinstance(exc, pyvisa.errors.VisaIOError) else None
        if code == codes.error_timeout:
            detail = "no answer within the timeout"
        # gone: the VISA library says so, the socket fails, or a timeout on a socket the
        # instrument has closed (pyvisa-py reports a hung-up peer only as silence)
        if (code == codes.error_connection_lost or isinstance(exc, ConnectionError)
                or (code == codes.error_timeout and _peer_closed(self._inst))):
            return MonitorDisconnected(f"{self.dialect.model} at {self.resource}: {what}: "
                                       f"the instrument went away ({detail})")
        return MeasurementError(f"{self.dialect.model} at {self.resource}: {what}: {detail}")

    def _write(self, command: str) -> None:
        log.debug("%s <- %s", self.resource, command)
        try:
            self._inst.write(command)
        except Exception as exc:
            raise self._fail(repr(command), exc) from exc

    def _query(self, command: str) -> str:
        try:
            answer = self._inst.query(command).strip()
        except Exception as exc:
            raise self._fail(repr(command), exc) from exc
        log.debug("%s <- %s -> %s", self.resource, command, answer)
        return answer

    def _query_block(self, command: str) -> np.ndarray:
        try:
            return self._inst.query_binary_values(
                command, datatype=self.dialect.datatype, is_big_endian=self.dialect.big_endian,
                container=np.array)
        except Exception as exc:
            raise self._fail(f"binary block for {command!r}", exc) from exc

    def _send(self, templates: tuple[str, ...]) -> None:
        for template in templates:
            self._write(template.format(**self._fields))

    def _check_errors(self, after: str) -> None:
        """Drain the SCPI error queue; any entry means the instrument did not do as told."""
        errors = []
        for _ in range(32):
            answer = self._query("SYST:ERR?")
            code = answer.split(",", 1)[0].strip()
            if not code.lstrip("+-").isdigit():
                raise MeasurementError(f"{self.dialect.model} at {self.resource}: SYST:ERR? "
                                       f"answered {answer!r}")
            if int(code) == 0:
                break
            errors.append(answer)
        if errors:
            raise MeasurementError(f"{self.dialect.model} at {self.resource} reports after "
                                   f"{after}: {'; '.join(errors)}")

    # -- the PowerMonitor protocol --

    def _open(self) -> None:
        if self._inst is not None:
            return
        pyvisa = _visa()
        try:
            self._rm = pyvisa.ResourceManager(self._visa_backend)
            self._inst = self._rm.open_resource(self.resource, read_termination="\n",
                                                write_termination="\n",
                                                timeout=int(self._timeout_s * 1000))
        except Exception as exc:
            raise MeasurementError(f"{self.dialect.model}: cannot open VISA resource "
                                   f"{self.resource!r}: {exc}") from exc
        if self.resource.upper().endswith("::SOCKET"):
            _no_delay(self._inst)
        self._idn = self._query("*IDN?")
        if not re.match(self.dialect.idn_pattern, self._idn, re.IGNORECASE):
            raise MeasurementError(f"{self.resource} answers *IDN? with {self._idn!r}, not a "
                                   f"{self.dialect.model} (bench backend "
                                   f"{self.dialect.backend!r})")
        self._write("*CLS")

    def configure(self, sample_rate: float, supply_voltage: float | None,
                  current_range_a: float | None) -> None:
        d = self.dialect
        if not 0 < sample_rate <= d.max_rate:
            raise MeasurementError(f"{d.model}: sample_rate {sample_rate:g} S/s is outside "
                                   f"0..{d.max_rate:g}")
        if supply_voltage is None:  # power is current x the supply voltage
            raise MeasurementError(f"{d.model}: the bench file must give the monitor's "
                                   "supply_voltage (or the board file its supply voltage)")
        self._open()
        self._range = current_range_a if current_range_a is not None else d.default_range_a
        line_hz = float(self._query(d.line_frequency_query)) if d.line_frequency_query else 50.0
        self._fields |= {"rate": float(sample_rate), "interval": 1.0 / sample_rate,
                         "range": self._range, "volts": supply_voltage,
                         # as short an integration as the rate asks for, within NPLC limits
                         "nplc": min(10.0, max(0.01, line_hz / sample_rate))}
        self._send(d.setup)
        self._send(d.range_fixed if current_range_a is not None else d.range_auto)
        self._send(d.source + d.output_on)
        if self._marker:
            self._send(d.marker_setup)
        self._check_errors("configuring")
        self._volts = float(supply_voltage)
        self._rate = float(sample_rate)
        if d.rate_query:
            got = float(self._query(d.rate_query.format(**self._fields)))
            self._rate = 1.0 / got if d.rate_query_is_interval else got

    def set_output(self, on: bool) -> None:
        """The instrument's output, which supplies the board."""
        d = self.dialect
        if not d.output_on:
            raise MonitorCannotSource(f"{d.model} only measures: it cannot switch the "
                                      "board's supply")
        if self._inst is None:
            raise MeasurementError(f"{d.model}: set_output() before configure()")
        self._send(d.output_on if on else d.output_off)
        self._check_errors(f"switching the output {'on' if on else 'off'}")

    def start(self) -> None:
        if self._inst is None:
            raise MeasurementError(f"{self.dialect.model}: start() before configure()")
        *setup, trigger = self.dialect.arm
        self._send(tuple(setup))
        self._t_stop = None
        self._t_start = time.monotonic()
        self._write(trigger.format(**self._fields))

    def stop(self) -> None:
        self._t_stop = time.monotonic()
        self._send(self.dialect.stop)

    def read(self) -> Trace:
        if self._t_start is None or self._t_stop is None:
            raise MeasurementError(f"{self.dialect.model}: read() before start() and stop()")
        d, points = self.dialect, self._fields["points"]
        host_span = self._t_stop - self._t_start
        wall: float | None = host_span
        if d.wait_complete:  # a fixed-length capture: wait for its end, time it by the host
            capture_s = points / self._rate
            waited = time.monotonic() < self._t_start + capture_s
            self._inst.timeout = int((capture_s + self._timeout_s) * 1000)
            try:
                self._query("*OPC?")
            finally:
                self._inst.timeout = int(self._timeout_s * 1000)
            # only a wait that ended with the capture measures the capture's length
            wall = time.monotonic() - self._t_start if waited else None
        count = int(float(self._query(d.count_query.format(**self._fields)))) \
            if d.count_query else points
        if count <= 0:
            raise MeasurementError(f"{d.model} at {self.resource}: no readings were stored")
        values = self._fetch(d.fetch_current, count, d.elements).reshape(count, d.elements)
        self._check_errors("fetching the readings")
        current = values[:, 0].astype(np.float64)
        over = ~np.isfinite(current) | (np.abs(current) >= OVER_RANGE)
        if over.any():  # kept in the trace at full scale, counted, and flagged downstream
            full_scale = self._range or float(np.max(np.abs(current[~over]), initial=0.0))
            current[over] = np.copysign(full_scale, np.nan_to_num(current[over]))
        extra: dict[str, str] = {}
        rate, dropped = self._rate, 0
        if d.timestamped:
            rate, dropped, extra = _rate_from_timestamps(values[:, 1])
        if count >= points:  # the buffer filled: the end of the run is missing
            dropped += max(0, round(host_span * rate) - count)
            wall = None
        markers = {}
        if self._marker and d.fetch_marker:
            aux_v = self._fetch(d.fetch_marker, count, 1)
            markers["marker"] = np.clip(aux_v / self._marker_high_v, 0.0, 1.0)
        instrument = {"backend": d.backend, "model": d.model, "idn": self._idn,
                      "resource": self.resource, "sample_rate": f"{rate:.9g}",
                      "requested_rate": f"{self._fields['rate']:.9g}",
                      "current_range_a": "auto" if self._range is None else f"{self._range:g}",
                      "points": str(points), "marker": "aux input" if markers else "none",
                      **extra}
        return Trace(sample_rate=rate, current_a=current, voltage_v=self._volts, markers=markers,
                     instrument=instrument, dropped_samples=dropped,
                     over_range_samples=int(over.sum()), wall_duration_s=wall,
                     host_t0_s=self._t_start)

    def _fetch(self, template: str, count: int, elements: int) -> np.ndarray:
        d = self.dialect
        if d.fetch_block is None:
            data = self._query_block(template.format(**self._fields))
        else:  # 1-based inclusive reading indices
            parts = [self._query_block(template.format(**self._fields, start=first,
                                                       end=min(first + d.fetch_block - 1, count)))
                     for first in range(1, count + 1, d.fetch_block)]
            data = np.concatenate(parts)
        if len(data) != count * elements:
            raise MeasurementError(f"{d.model} at {self.resource}: expected {count} readings, "
                                   f"got {len(data)} values")
        return data

    def close(self) -> None:
        for thing in (self._inst, self._rm):
            if thing is not None:
                try:
                    thing.close()
                except Exception as exc:  # closing must not hide the measurement's outcome
                    log.warning("%s: closing: %s", self.resource, exc)
        self._inst = self._rm = None
        self._t_start = self._t_stop = None


def _socket(inst: Any) -> socket.socket | None:
    """The socket under a pyvisa-py session, where there is one."""
    sock = getattr(getattr(getattr(inst, "visalib", None), "sessions", {}).get(
        getattr(inst, "session", None)), "interface", None)
    return sock if isinstance(sock, socket.socket) else None


def _peer_closed(inst: Any) -> bool:
    """The instrument closed its end of a raw socket (a read would return nothing)."""
    sock = _socket(inst)
    if sock is None:
        return False
    try:
        if not select.select([sock], [], [], 0)[0]:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _no_delay(inst: Any) -> None:
    """TCP_NODELAY on a raw-socket resource.

    Without it Nagle's algorithm holds a short command written right after another
    one until the peer's delayed ACK (~40 ms): the trigger would reach the
    instrument that long after the host noted t0. pyvisa-py 0.8 wires the VISA
    attribute to a setter that rejects it, so set the socket option on its session's
    socket when it is there; elsewhere (NI-VISA) the attribute itself works.
    """
    pyvisa = _visa()
    try:
        inst.set_visa_attribute(pyvisa.constants.ResourceAttribute.tcpip_nodelay,
                                pyvisa.constants.VI_TRUE)
        return
    except Exception as exc:
        log.debug("VI_ATTR_TCPIP_NODELAY refused (%s): setting the socket option", exc)
    sock = _socket(inst)
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    else:
        log.warning("%s: cannot disable Nagle's algorithm; trigger timing may lag by ~40 ms",
                    inst.resource_name)


def _rate_from_timestamps(rel_s: np.ndarray) -> tuple[float, int, dict[str, str]]:
    """Rate from the median reading interval; longer gaps count as dropped readings."""
    intervals = np.diff(rel_s)
    if len(intervals) == 0 or not np.median(intervals) > 0:
        raise MeasurementError("SCPI readings carry no usable timestamps")
    period = float(np.median(intervals))
    gaps = intervals[intervals > 1.5 * period]
    dropped = int(np.sum(np.round(gaps / period) - 1))
    return 1.0 / period, dropped, {"interval_jitter_s": f"{float(np.std(intervals)):.3g}"}


def _probe(resources: list[str], backend: str) -> list[tuple[str, str]]:
    """(resource, *IDN?) of every resource that answers."""
    pyvisa = _visa()
    rm = pyvisa.ResourceManager(backend)
    found = []
    try:
        for resource in resources:
            try:
                with rm.open_resource(resource, read_termination="\n", write_termination="\n",
                                      timeout=2000) as inst:
                    found.append((resource, inst.query("*IDN?").strip()))
            except Exception as exc:  # not an SCPI instrument, or busy: not ours to list
                log.debug("%s: no *IDN?: %s", resource, exc)
    finally:
        rm.close()
    return found


@functools.lru_cache(maxsize=1)
def _scan(bucket: int, backend: str, extra: str) -> list[tuple[str, str]]:
    pyvisa = _visa()
    rm = pyvisa.ResourceManager(backend)
    try:
        with warnings.catch_warnings():  # pyvisa-py's notes on optional discovery packages
            warnings.simplefilter("ignore", UserWarning)
            listed = rm.list_resources("?*::INSTR")
    finally:
        rm.close()
    # serial ports are left alone: "*IDN?" written to a board's console is not harmless
    listed = [r for r in listed if not r.upper().startswith("ASRL")]
    return _probe(listed + [r.strip() for r in extra.split(",") if r.strip()], backend)


def discover(dialect: ScpiDialect) -> list[FoundMonitor]:
    """Connected instruments whose *IDN? matches ``dialect``."""
    answers = _scan(int(time.monotonic() // _SCAN_TTL_S), os.environ.get(BACKEND_ENV, ""),
                    os.environ.get(RESOURCES_ENV, ""))
    return [FoundMonitor(dialect.backend, resource, idn) for resource, idn in answers
            if re.match(dialect.idn_pattern, idn, re.IGNORECASE)]


for _dialect in DIALECTS.values():
    register_monitor(_dialect.backend)(functools.partial(ScpiMonitor, _dialect))
    register_discovery(_dialect.backend)(functools.partial(discover, _dialect))
