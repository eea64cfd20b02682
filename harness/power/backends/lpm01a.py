"""ST X-NUCLEO-LPM01A (PowerShield) over its ASCII serial protocol, driven as
MLPerf Tiny's runner drives it.

Commands are text lines (``htc``, ``volt 3300m``, ``freq 1k``, ``acqtime 0``,
``output energy``, ``format ascii_dec``, ``trigsrc sw``, ``eventsrc d7 fal``,
``pwr on``, ``start``, ``stop``); the board answers ``PowerShield > ack <cmd>``
or ``PowerShield > error ...`` followed by an ``Error detail:`` line. While
acquiring in ``ascii_dec`` it sends one sample per line as four digits and a
power of ten (``6409-07`` is 6409e-7: amperes with ``output current``, joules
per sample period with ``output energy``), ``TimeStamp: 001s 200ms, buff 03%``
lines, and a line ``event <n> <edge>`` where the D7 input saw an edge; ``stop``
ends with ``Acquisition completed``.

The marker is rebuilt from the event lines at the sample where each arrived
(one sample of uncertainty). ``marker_events: toggle`` (default) flips it at
every event: the EEMBC/MLPerf convention of a short pulse on D7 at the start
and at the end of the timed region, with ``eventsrc d7 fal``. ``direction``
sets it high after a ``ris`` event and low after ``fal``, for a board that
holds D7 high during the window and a PowerShield told to report both edges.
"""

from __future__ import annotations

import logging
import re
import time
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

INSTRUMENT = "LPM01A"
USB_VID, USB_PID = 0x0483, 0x5740      # STMicroelectronics virtual COM port (as MLPerf's runner)
PROMPT = "PowerShield > "
# ASCII streaming is unlimited in length only up to 5 kS/s (the board's manual)
RATES = {5000: "5k", 2000: "2k", 1000: "1k", 500: "500", 200: "200", 100: "100", 50: "50",
         20: "20", 10: "10", 5: "5", 2: "2", 1: "1"}
VOLT_RANGE_MV = (1800, 3300)
TIMESTAMP_SLACK = 2   # samples a TimeStamp line may run ahead of the data before it means loss

_VALUE = re.compile(r"^(\d{4})([+-])(\d{2})$")
_STAMP = re.compile(r"^TimeStamp:\s*(\d+)s\s*(\d+)ms(?:,\s*buff\s*(\d+)%)?")
_EVENT = re.compile(r"^event\s+(\d+)\s+(\w+)")
_TROUBLE = re.compile(r"error|over.?current", re.IGNORECASE)


class Lpm01aMonitor:
    def __init__(self, resource: str | None = None, baudrate: int = 3686400,
                 output: Literal["energy", "current"] = "energy",
                 eventsrc: str = "d7 fal",
                 marker_events: Literal["toggle", "direction"] = "toggle",
                 timeout_s: float = 2.0) -> None:
        if output not in ("energy", "current"):
            raise MeasurementError(f"{INSTRUMENT}: output must be 'energy' or 'current'")
        if marker_events not in ("toggle", "direction"):
            raise MeasurementError(f"{INSTRUMENT}: marker_events must be 'toggle' or "
                                   "'direction'")
        self._resource = resource
        self._baudrate = int(baudrate)
        self._output = output
        self._eventsrc = eventsrc
        self._marker_events = marker_events
        self._timeout_s = float(timeout_s)
        self._port: serial.SerialBase | None = None
        self._rate = 1000
        self._volts = 3.3
        self._identity: dict[str, str] = {}
        self._drain: PortDrain | None = None
        self._lines: list[str] = []
        self._wall: tuple[float, float] | None = None

    # -- PowerMonitor -------------------------------------------------------------------
    def configure(self, sample_rate: float, supply_voltage: float | None,
                  current_range_a: float | None) -> None:
        rate = round(sample_rate)
        if rate not in RATES or abs(rate - sample_rate) > 1e-9:
            raise MeasurementError(f"{INSTRUMENT}: sample_rate {sample_rate:g} S/s is not one "
                                   f"it streams in ASCII without a time limit (one of "
                                   f"{', '.join(str(r) for r in sorted(RATES))})")
        volts = 3.3 if supply_voltage is None else supply_voltage
        mv = round(volts * 1000)
        if not VOLT_RANGE_MV[0] <= mv <= VOLT_RANGE_MV[1]:
            raise MeasurementError(f"{INSTRUMENT}: supply {volts:g} V is outside 1.8..3.3 V")
        self._rate, self._volts = rate, mv / 1000
        if self._port is None:
            self._port = open_port(INSTRUMENT, self._resource, self._baudrate)
        self._port.reset_input_buffer()
        self._command("htc")
        self._identity = {"board_id": self._command("powershield"),
                          "firmware": self._command("version")}
        for cmd in (f"volt {mv}m", f"freq {RATES[rate]}", "acqtime 0",
                    f"output {self._output}", "format ascii_dec", "trigsrc sw",
                    f"eventsrc {self._eventsrc}", "pwr on"):
            self._command(cmd)
        log.info("%s on %s: %s at %s S/s, %d mV", INSTRUMENT, self._resource, self._output,
                 RATES[rate], mv)

    def set_output(self, on: bool) -> None:
        """The PowerShield's supply to the board (``pwr on|off``)."""
        self._command("pwr on" if on else "pwr off")

    def start(self) -> None:
        port = self._require_port()
        self._command("start")
        self._drain = PortDrain(port, INSTRUMENT)
        self._drain.start()
        self._wall = (time.monotonic(), 0.0)

    def stop(self) -> None:
        if self._drain is None or self._wall is None:
            raise MeasurementError(f"{INSTRUMENT} on {self._resource}: stop() before start()")
        try:
            self._write("stop")  # no ack: the board ends with "Acquisition completed"
        except MonitorDisconnected:
            self._drain.stop(quiet_s=0)
            self._drain = None
            raise
        self._wall = (self._wall[0], time.monotonic())
        deadline = time.monotonic() + self._timeout_s
        while (b"Acquisition completed" not in self._drain.data[-4096:]
               and self._drain.error is None):
            if time.monotonic() > deadline:
                self._drain.stop(quiet_s=0)
                self._drain = None
                raise MeasurementError(f"{INSTRUMENT} on {self._resource}: no 'Acquisition "
                                       f"completed' within {self._timeout_s:g} s of stop")
            time.sleep(0.01)
        raw = self._drain.stop(quiet_s=0)
        error, self._drain = self._drain.error, None
        if error is not None:
            raise MonitorDisconnected(f"{INSTRUMENT} on {self._resource}: lost the port while "
                                      f"acquiring: {error}")
        self._lines = _lines(raw)

    def read(self) -> Trace:
        if self._wall is None or not self._wall[1]:
            raise MeasurementError(f"{INSTRUMENT} on {self._resource}: read() before start() "
                                   "and stop()")
        values, missing, marker = self._parse()
        if not values:
            raise MeasurementError(f"{INSTRUMENT} on {self._resource}: no samples arrived "
                                   "between start and stop")
        samples = np.array(values)
        if self._output == "energy":  # joules per sample period -> mean current over it
            samples = samples * self._rate / self._volts
        current, marker_arr = hold_over_gaps(np.array(missing), samples,
                                             np.array(marker, dtype=np.uint8))
        dropped = int(sum(missing))
        if dropped:
            log.warning("%s: %d samples lost (TimeStamp lines ran ahead)", INSTRUMENT, dropped)
        return Trace(sample_rate=float(self._rate), current_a=current, voltage_v=self._volts,
                     markers={"marker": marker_arr},
                     instrument={"backend": "lpm01a", "model": "ST X-NUCLEO-LPM01A",
                                 "resource": str(self._resource), "output": self._output,
                                 "eventsrc": self._eventsrc,
                                 "marker_events": self._marker_events,
                                 "supply_v": f"{self._volts:g}", **self._identity},
                     dropped_samples=dropped,
                     wall_duration_s=self._wall[1] - self._wall[0])

    def close(self) -> None:
        if self._port is None:
            return
        try:
            if self._drain is not None:
                self._write("stop")
                self._drain.stop()
                self._drain = None
            self._write("hrc")  # back to standalone, as MLPerf's runner leaves it
        except MeasurementError as exc:
            log.warning("%s", exc)
        finally:
            self._port.close()
            self._port = None

    # -- stream -------------------------------------------------------------------------
    def _parse(self) -> tuple[list[float], list[int], list[int]]:
        """Samples, samples lost after each one, and the marker level at each."""
        values: list[float] = []
        missing: list[int] = []
        marker: list[int] = []
        level = 0
        for line in self._lines:
            if m := _VALUE.match(line):
                exponent = int(m[3]) if m[2] == "+" else -int(m[3])
                values.append(int(m[1]) * 10.0 ** exponent)
                missing.append(0)
                marker.append(level)
            elif m := _EVENT.match(line):
                level = (1 - level if self._marker_events == "toggle"
                         else int(m[2].lower().startswith("ris")))
            elif m := _STAMP.match(line):
                expected = round((int(m[1]) + int(m[2]) / 1000) * self._rate)
                received = len(values) + sum(missing)
                if values and expected - received > TIMESTAMP_SLACK:
                    missing[-1] += expected - received
                if m[3] and int(m[3]) >= 90:
                    log.warning("%s: its buffer is %s%% full", INSTRUMENT, m[3])
            elif _TROUBLE.search(line):
                raise MeasurementError(f"{INSTRUMENT} on {self._resource} reported during the "
                                       f"acquisition: {line!r}")
        return values, missing, marker

    # -- wire ---------------------------------------------------------------------------
    def _require_port(self) -> serial.SerialBase:
        if self._port is None:
            raise MeasurementError(f"{INSTRUMENT}: configure() opens the port; call it first")
        return self._port

    def _write(self, line: str) -> None:
        try:
            self._require_port().write(line.encode("ascii") + b"\n")
        except (serial.SerialException, OSError) as exc:  # an open port: the board went away
            raise MonitorDisconnected(f"{INSTRUMENT} on {self._resource}: write failed: "
                                      f"{exc}") from exc

    def _command(self, cmd: str) -> str:
        """Send ``cmd``; the text after its ack (error lines become a MeasurementError)."""
        self._write(cmd)
        answered = re.compile(rf"(ack|error)\s*{re.escape(cmd)}", re.IGNORECASE)

        def done(received: bytes) -> bool:
            text = received.decode("ascii", "replace")
            # an error is followed by its detail line; wait for that too
            return ("ack" in text and bool(answered.search(text))) or "detail" in text.lower()

        reply = read_until(self._require_port(), done, self._timeout_s)
        lines = _lines(reply)
        for i, line in enumerate(lines):
            if m := answered.match(line):
                if m[1].lower() == "error":
                    detail = next((ln for ln in lines[i + 1:] if "detail" in ln.lower()), "")
                    raise MeasurementError(f"{INSTRUMENT} on {self._resource} refused {cmd!r}: "
                                           f"{detail or line}")
                return line[m.end():].strip()  # identity commands answer on the ack line
        if not reply:
            raise MeasurementError(f"{INSTRUMENT} on {self._resource}: no answer to {cmd!r} "
                                   f"within {self._timeout_s:g} s")
        raise MeasurementError(f"{INSTRUMENT} on {self._resource}: the device that answered "
                               f"{cmd!r} is not a PowerShield (reply starts {reply[:40]!r})")


def _lines(raw: bytes) -> list[str]:
    text = raw.decode("ascii", errors="replace")
    return [s for ln in re.split(r"\r?\n", text) if (s := ln.replace(PROMPT, "").strip())]


@register_discovery("lpm01a")
def discover() -> list[FoundMonitor]:
    # 0483:5740 is ST's generic virtual COM port: a candidate until `powershield` answers
    return [FoundMonitor("lpm01a", p.device,
                         f"STM32 virtual COM port {p.serial_number or '?'} (LPM01A candidate: "
                         f"{p.description})")
            for p in ports_with_usb_id(USB_VID, USB_PID)]


register_monitor("lpm01a")(Lpm01aMonitor)
