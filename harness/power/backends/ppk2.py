"""Nordic Power Profiler Kit II over its USB CDC serial protocol.

The protocol (as Nordic's nRF Connect Power Profiler and the public ppk2-api
projects speak it): one-byte opcodes with arguments; GET_META_DATA answers with
``key: value`` text lines ending in ``END`` (calibration per measurement range
0..4: R, GS, GI, O, S, I, UG); during AVERAGE_START..STOP the kit streams
100 kS/s of 32-bit little-endian words:

    bits  0..13  ADC code (times 4 before calibration)
    bits 14..16  measurement range (0..4; more is not a valid range)
    bits 18..23  a counter that steps by one per sample (mod 64): gaps are lost samples
    bits 24..31  the eight digital inputs D0..D7

current [A] = UG * (x * (GS * x + GI) + S * vdd + I),  x = (4 * adc - O) * 1.8 / 163840 / R.

Nordic's app also smooths a few samples after each range switch for display;
that filter moves charge between samples, so it is not applied here.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import serial

from harness.errors import MeasurementError, MonitorDisconnected
from harness.power.backends.gaps import hold_over_gaps
from harness.power.backends.serial_link import (
    PortDrain,
    open_port,
    ports_with_usb_id,
    read_until,
)
from harness.power.monitor import FoundMonitor, register_discovery, register_monitor
from harness.power.trace import Trace

log = logging.getLogger(__name__)

INSTRUMENT = "PPK2"
USB_VID, USB_PID = 0x1915, 0xC00A     # Nordic Semiconductor, PPK2
SAMPLE_RATE = 100_000.0               # fixed by the kit
VDD_RANGE_MV = (800, 5000)
ADC_MULT = 1.8 / 163840
N_RANGES = 5
MAX_CURRENT_A = 1.0                   # the kit's top range


class Cmd:
    AVERAGE_START = 0x06
    AVERAGE_STOP = 0x07
    DEVICE_RUNNING_SET = 0x0C
    REGULATOR_SET = 0x0D
    SET_POWER_MODE = 0x11
    GET_META_DATA = 0x19


POWER_MODE = {"ampere": 1, "source": 2}
_CAL_KEYS = ("R", "GS", "GI", "O", "S", "I", "UG")
# Nordic's defaults, used for any key the kit's metadata leaves out
_CAL_DEFAULTS = {"R": (1031.64, 101.65, 10.15, 0.94, 0.043), "GS": (1.0,) * 5,
                 "GI": (1.0,) * 5, "O": (0.0,) * 5, "S": (0.0,) * 5, "I": (0.0,) * 5,
                 "UG": (1.0,) * 5}


@dataclass(frozen=True)
class Calibration:
    """Per-range coefficients (arrays of 5) and the metadata's other keys."""

    coeffs: dict[str, np.ndarray]
    info: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> Calibration:
        pairs = dict(re.findall(r"^\s*([A-Za-z_]+\d?)\s*:\s*(\S+)\s*$", text, re.MULTILINE))
        coeffs = {}
        for key in _CAL_KEYS:
            values = []
            for r in range(N_RANGES):
                raw = pairs.get(f"{key}{r}")
                try:
                    value = float(raw) if raw is not None else None
                except ValueError:
                    value = None
                # a zero or unreadable R would divide by zero: keep the default (as Nordic does)
                bad = value is None or not np.isfinite(value) or (key == "R" and value == 0)
                values.append(_CAL_DEFAULTS[key][r] if bad else value)
            coeffs[key] = np.array(values)
        info = {k: v for k, v in pairs.items() if not re.fullmatch(r"[A-Z]+\d", k)}
        return cls(coeffs, info)


@dataclass(frozen=True)
class Decoded:
    current_a: np.ndarray
    logic: np.ndarray          # uint8, D0..D7
    dropped: int
    over_range: int


def decode(raw: bytes, cal: Calibration, vdd_v: float) -> Decoded:
    """Samples from the byte stream (a trailing partial word is ignored)."""
    words = np.frombuffer(raw[: len(raw) - len(raw) % 4], dtype="<u4").astype(np.int64)
    adc = (words & 0x3FFF) * 4
    rng = (words >> 14) & 0x7
    counter = (words >> 18) & 0x3F
    logic = ((words >> 24) & 0xFF).astype(np.uint8)
    invalid = rng >= N_RANGES
    r = np.minimum(rng, N_RANGES - 1)
    c = cal.coeffs
    x = (adc - c["O"][r]) * (ADC_MULT / c["R"][r])
    current = c["UG"][r] * (x * (c["GS"][r] * x + c["GI"][r]) + (c["S"][r] * vdd_v + c["I"][r]))
    # the top range at full scale is clipped: what it stands for is more than it says
    over = invalid | ((rng == N_RANGES - 1) & ((words & 0x3FFF) == 0x3FFF))
    missing = np.zeros(len(words), dtype=np.int64)
    if len(words) > 1:
        missing[:-1] = (counter[1:] - counter[:-1] - 1) % 64
    current, logic = hold_over_gaps(missing, current, logic)
    return Decoded(current, logic, int(missing.sum()), int(over.sum()))


class Ppk2Monitor:
    """A PPK2 as source meter (it supplies the DUT) or ampere meter (in series)."""

    def __init__(self, resource: str | None = None, mode: Literal["source", "ampere"] = "source",
                 marker_input: int = 0, timeout_s: float = 2.0) -> None:
        if mode not in POWER_MODE:
            raise MeasurementError(f"{INSTRUMENT}: mode must be 'source' or 'ampere', "
                                   f"got {mode!r}")
        if not 0 <= int(marker_input) <= 7:
            raise MeasurementError(f"{INSTRUMENT}: marker_input is a digital input 0..7, "
                                   f"got {marker_input!r}")
        self._resource = resource
        self._mode = mode
        self._marker_bit = int(marker_input)
        self._timeout_s = float(timeout_s)
        self._port: serial.SerialBase | None = None
        self._cal: Calibration | None = None
        self._vdd_mv = 3300
        self._drain: PortDrain | None = None
        self._raw = b""
        self._wall: tuple[float, float] | None = None

    # -- PowerMonitor -------------------------------------------------------------------
    def configure(self, sample_rate: float, supply_voltage: float | None,
                  current_range_a: float | None) -> None:
        """Open the port, read the calibration, set mode and VDD, power the DUT."""
        if abs(sample_rate - SAMPLE_RATE) > 1e-6:
            raise MeasurementError(f"{INSTRUMENT} samples at {SAMPLE_RATE:g} S/s only, "
                                   f"not {sample_rate:g} (set the monitor's sample_rate)")
        if supply_voltage is None:
            raise MeasurementError(f"{INSTRUMENT}: needs the supply voltage (it sources it in "
                                   "source mode; in ampere mode it is the DUT's supply)")
        mv = round(supply_voltage * 1000)
        if not VDD_RANGE_MV[0] <= mv <= VDD_RANGE_MV[1]:
            raise MeasurementError(f"{INSTRUMENT}: supply {supply_voltage:g} V is outside "
                                   f"{VDD_RANGE_MV[0] / 1000:g}..{VDD_RANGE_MV[1] / 1000:g} V")
        if current_range_a is not None and current_range_a > MAX_CURRENT_A:
            raise MeasurementError(f"{INSTRUMENT}: measures up to {MAX_CURRENT_A:g} A, "
                                   f"asked for {current_range_a:g} A")
        self._vdd_mv = mv
        if self._port is None:
            self._port = open_port(INSTRUMENT, self._resource, 115200)
        self._port.reset_input_buffer()
        self._cal = self._read_metadata()
        self._send(Cmd.SET_POWER_MODE, POWER_MODE[self._mode])
        self._send(Cmd.REGULATOR_SET, mv >> 8, mv & 0xFF)
        self._send(Cmd.DEVICE_RUNNING_SET, 1)
        log.info("%s on %s: %s mode, VDD %d mV", INSTRUMENT, self._resource, self._mode, mv)

    def set_output(self, on: bool) -> None:
        """DUT power: the kit's supply in source mode, its pass-through in ampere mode."""
        self._send(Cmd.DEVICE_RUNNING_SET, int(bool(on)))

    def start(self) -> None:
        port = self._require_port()
        port.reset_input_buffer()
        self._drain = PortDrain(port, INSTRUMENT)
        self._drain.start()
        self._send(Cmd.AVERAGE_START)
        self._wall = (time.monotonic(), 0.0)

    def stop(self) -> None:
        if self._drain is None or self._wall is None:
            raise MeasurementError(f"{INSTRUMENT} on {self._resource}: stop() before start()")
        try:
            self._send(Cmd.AVERAGE_STOP)
        finally:  # the reader stops either way; what it read tells how far the kit got
            self._wall = (self._wall[0], time.monotonic())
            self._raw = self._drain.stop()
            error, self._drain = self._drain.error, None
        if error is not None:
            raise MonitorDisconnected(f"{INSTRUMENT} on {self._resource}: lost the port while "
                                      f"acquiring ({len(self._raw) // 4} samples read): "
                                      f"{error}")

    def read(self) -> Trace:
        if self._wall is None or not self._wall[1] or self._cal is None:
            raise MeasurementError(f"{INSTRUMENT} on {self._resource}: read() before start() "
                                   "and stop()")
        if len(self._raw) < 4:
            raise MeasurementError(f"{INSTRUMENT} on {self._resource}: no samples arrived "
                                   "between start and stop")
        d = decode(self._raw, self._cal, self._vdd_mv / 1000)
        if d.dropped:
            log.warning("%s: %d samples lost (sample counter skipped)", INSTRUMENT, d.dropped)
        marker = (d.logic >> self._marker_bit) & 1
        identity = {"backend": "ppk2", "model": "Nordic PPK2", "resource": str(self._resource),
                    "mode": self._mode, "vdd_mv": str(self._vdd_mv),
                    "marker_input": f"D{self._marker_bit}"}
        identity |= {f"meta_{k.lower()}": v for k, v in self._cal.info.items()}
        return Trace(sample_rate=SAMPLE_RATE, current_a=d.current_a,
                     voltage_v=self._vdd_mv / 1000, markers={"marker": marker},
                     instrument=identity, dropped_samples=d.dropped,
                     over_range_samples=d.over_range,
                     wall_duration_s=self._wall[1] - self._wall[0])

    def close(self) -> None:
        if self._port is None:
            return
        try:
            if self._drain is not None:
                drain, self._drain = self._drain, None
                try:
                    self._send(Cmd.AVERAGE_STOP)
                finally:
                    drain.stop()
        except MeasurementError as exc:  # closing must not hide what led here
            log.warning("%s", exc)
        finally:
            self._port.close()
            self._port = None

    # -- wire ---------------------------------------------------------------------------
    def _require_port(self) -> serial.SerialBase:
        if self._port is None:
            raise MeasurementError(f"{INSTRUMENT}: configure() opens the port; call it first")
        return self._port

    def _send(self, *cmd: int) -> None:
        try:
            self._require_port().write(bytes(cmd))
        except (serial.SerialException, OSError) as exc:  # an open port: the kit went away
            raise MonitorDisconnected(f"{INSTRUMENT} on {self._resource}: write failed: "
                                      f"{exc}") from exc

    def _read_metadata(self) -> Calibration:
        self._send(Cmd.GET_META_DATA)
        reply = read_until(self._require_port(), lambda b: b"END" in b, self._timeout_s)
        if b"END" not in reply:
            if not reply:
                raise MeasurementError(f"{INSTRUMENT} on {self._resource}: no answer to "
                                       f"GET_META_DATA within {self._timeout_s:g} s")
            raise MeasurementError(f"{INSTRUMENT} on {self._resource}: the device that answered "
                                   f"is not a PPK2 (reply starts {reply[:40]!r})")
        text = reply.split(b"END", 1)[0].decode("ascii", errors="replace")
        cal = Calibration.parse(text)
        if not any(f"{k}0" in text for k in ("R", "GS", "O")):
            raise MeasurementError(f"{INSTRUMENT} on {self._resource}: metadata without "
                                   f"calibration (reply starts {reply[:40]!r})")
        return cal


@register_discovery("ppk2")
def discover() -> list[FoundMonitor]:
    return [FoundMonitor("ppk2", p.device, f"Nordic PPK2 serial {p.serial_number or '?'}")
            for p in ports_with_usb_id(USB_VID, USB_PID)]


register_monitor("ppk2")(Ppk2Monitor)
