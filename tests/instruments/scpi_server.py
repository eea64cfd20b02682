"""An SCPI instrument on loopback TCP: N6705C, Keithley 2450 or DMM6500, as far as we use them.

A thread accepts one client at a time on 127.0.0.1 and answers newline-terminated
SCPI the way the instrument's programming reference describes: settings are
stored and read back (the N6705C rounds its sample interval to 20.48 us steps),
acquisitions run on this process's clock from the trigger, readings leave as
IEEE 488.2 definite-length blocks (``#<n><len><bytes>\\n``) in the byte order
``FORM:BORD`` asked for, unknown commands go to the error queue that
``SYST:ERR?`` drains. What it measures is a `Waveform` sampled at the readings'
instants. Open it with pyvisa's ``@py`` backend at `resource`.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from tests.instruments.waveform import Waveform

IDN = {"n6705c": "Keysight Technologies,N6705C,MY56001234,D.04.03.4019",
       "2450": "KEITHLEY INSTRUMENTS,MODEL 2450,04470123,1.7.12b",
       "dmm6500": "KEITHLEY INSTRUMENTS,MODEL DMM6500,04512345,1.7.12b"}
N6705_TINT_STEP = 20.48e-6
K2450_OVERHEAD_S = 1e-4  # per reading, on top of the NPLC aperture


@dataclass
class Behaviour:
    """How the emulation misbehaves, for the error-path tests."""

    idn: str | None = None                   # answer *IDN? with this instead
    silent: set[str] = field(default_factory=set)   # commands never answered
    rejected: set[str] = field(default_factory=set)  # commands that raise -222
    over_range_at: tuple[int, ...] = ()      # reading indices that read 9.9e37
    gap_after: int | None = None             # 2450: a reading missing after this index
    hang_up_on: str | None = None            # close the connection on this command (unplugged)


class ScpiServer:
    def __init__(self, model: str, waveform: Waveform, marker_high_v: float = 3.3,
                 behaviour: Behaviour | None = None) -> None:
        self.model, self.waveform, self.marker_high_v = model, waveform, marker_high_v
        self.behaviour = behaviour or Behaviour()
        self.log: list[str] = []
        self.settings: dict[str, str] = {}
        self._errors: list[str] = []
        self._trigger: float | None = None
        self._abort: float | None = None
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._conn: socket.socket | None = None
        self.resource = f"TCPIP::127.0.0.1::{self._sock.getsockname()[1]}::SOCKET"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> ScpiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for sock in (self._sock, self._conn):  # shutdown wakes a thread blocked on it
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)
        self._sock.close()

    # -- transport --

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._conn = conn
            with conn:
                buffer = b""
                while chunk := _recv(conn):
                    buffer += chunk
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        command = line.decode().strip()
                        if command == self.behaviour.hang_up_on:
                            self.log.append(command)
                            break
                        reply = self._handle(command)
                        if reply is not None:
                            conn.sendall(reply)
                    else:
                        continue
                    break  # hung up: the instrument is gone for this connection

    def _handle(self, command: str) -> bytes | None:
        self.log.append(command)
        if command in self.behaviour.silent:
            return None
        if command in self.behaviour.rejected:
            self._errors.append('-222,"Data out of range"')
            return None
        for pattern, handler in self._handlers():
            match = re.fullmatch(pattern, command, re.IGNORECASE)
            if match:
                answer = handler(*match.groups())
                if isinstance(answer, str):
                    return answer.encode() + b"\n"
                return answer
        self._errors.append(f'-113,"Undefined header;{command}"')
        return None

    def _handlers(self):
        common = [
            (r"\*IDN\?", lambda: self.behaviour.idn or IDN[self.model]),
            (r"\*CLS", self._clear),
            (r"\*OPC\?", self._opc),
            (r"SYST:ERR\?", self._next_error),
            (r"FORM(?::DATA)? (\w+)", lambda v: self._set("FORM", v.upper()[:4])),
            (r"FORM:BORD (\w+)", lambda v: self._set("BORD", v.upper()[:4])),
        ]
        if self.model == "n6705c":
            return [
                *common,
                (r"SENS:SWE:TINT ([\d.eE+-]+),\(@1\)", self._set_tint),
                (r"SENS:SWE:TINT\? \(@1\)", lambda: self.settings["TINT"]),
                (r"SENS:SWE:POIN (\d+),\(@1\)", lambda v: self._set("POIN", v)),
                (r"SENS:FUNC:VOLT:INP (\w+),\(@1\)", lambda v: self._set("VINP", v.upper())),
                (r"OUTP (ON|OFF),\(@1\)", lambda v: self._set("OUTP", v.upper())),
                (r"(SENS:FUNC:(?:CURR|VOLT) ON|SENS:SWE:OFFS:POIN 0|TRIG:ACQ:SOUR BUS"
                 r"|SENS:CURR:RANG:AUTO ON|SENS:CURR:RANG [\d.eE+-]+|VOLT [\d.eE+-]+"
                 r"|INIT:ACQ),?\s?\(@1\)", lambda v: None),
                (r"TRIG:ACQ \(@1\)", self._start),
                (r"FETC:ARR:CURR\? \(@1\)", lambda: self._block(self._readings()[0], "f")),
                (r"FETC:ARR:VOLT\? \(@1\)", lambda: self._block(self._aux_volts(), "f")),
            ]
        keithley = [
            *common,
            (r'TRAC:POIN (\d+), "defbuffer1"', lambda v: self._set("POIN", v)),
            (r'TRAC:CLE "defbuffer1"', lambda: None),
            (r'TRIG:LOAD "(?:DurationLoop|SimpleLoop)", [\d.eE+-]+, 0, "defbuffer1"',
             lambda: None),
            (r"INIT", self._start),
            (r"ABOR", self._stop),
            (r'TRAC:ACT\? "defbuffer1"', lambda: str(len(self._readings()[0]))),
        ]
        if self.model == "2450":
            return [
                *keithley,
                (r"SYST:LFR\?", lambda: "60"),
                (r"SENS:CURR:NPLC ([\d.eE+-]+)", lambda v: self._set("NPLC", v)),
                (r"OUTP (ON|OFF)", lambda v: self._set("OUTP", v.upper())),
                (r'(SENS:FUNC "CURR"|SENS:CURR:AZER OFF|SENS:CURR:RANG:AUTO ON'
                 r"|SENS:CURR:RANG [\d.eE+-]+|SOUR:FUNC VOLT|SOUR:VOLT [\d.eE+-]+"
                 r"|SOUR:VOLT:ILIM [\d.eE+-]+)", lambda v: None),
                (r'TRAC:DATA\? (\d+), (\d+), "defbuffer1", READ, REL', self._trace_data),
            ]
        return [
            *keithley,
            (r"DIG:CURR:SRAT ([\d.eE+-]+)", lambda v: self._set("SRAT", v)),
            (r"DIG:CURR:SRAT\?", lambda: self.settings["SRAT"]),
            (r'(DIG:FUNC "CURR"|DIG:CURR:APER AUTO|DIG:COUN 1|DIG:CURR:RANG [\d.eE+-]+)',
             lambda v: None),
            (r'TRAC:DATA\? (\d+), (\d+), "defbuffer1", READ', self._trace_data),
        ]

    # -- state --

    def _set(self, key: str, value: str) -> None:
        self.settings[key] = value

    def _set_tint(self, value: str) -> None:
        steps = max(1, round(float(value) / N6705_TINT_STEP))
        self.settings["TINT"] = f"{steps * N6705_TINT_STEP:.9g}"

    def _clear(self) -> None:
        self._errors.clear()

    def _next_error(self) -> str:
        return self._errors.pop(0) if self._errors else '+0,"No error"'

    def _start(self) -> None:
        self._trigger, self._abort = time.monotonic(), None

    def _stop(self) -> None:
        self._abort = time.monotonic()

    @property
    def rate(self) -> float:
        if self.model == "n6705c":
            return 1.0 / float(self.settings["TINT"])
        if self.model == "2450":
            return 1.0 / (float(self.settings["NPLC"]) / 60 + K2450_OVERHEAD_S)
        return float(self.settings["SRAT"])

    def _opc(self) -> str:
        if self.model == "n6705c" and self._trigger is not None:  # wait for the capture
            end = self._trigger + int(self.settings["POIN"]) / self.rate
            time.sleep(max(0.0, end - time.monotonic()))
        return "1"

    def _readings(self) -> tuple[np.ndarray, np.ndarray]:
        """Current readings and their instants (s from the trigger)."""
        assert self._trigger is not None, "fetch before a trigger"
        points = int(self.settings["POIN"])
        if self.model == "n6705c":
            n = points
        else:
            span = (self._abort or time.monotonic()) - self._trigger
            n = min(points, int(span * self.rate))
        index = np.arange(n + (1 if self.behaviour.gap_after is not None else 0))
        if self.behaviour.gap_after is not None:  # one reading never made it to the buffer
            index = np.delete(index, self.behaviour.gap_after + 1)
        t = index / self.rate
        current = self.waveform.current(t + 0.5 / self.rate).astype(np.float64)
        current[list(self.behaviour.over_range_at)] = 9.9e37
        return current, t

    def _aux_volts(self) -> np.ndarray:
        _, t = self._readings()
        if self.settings.get("VINP") != "AUX":
            return np.full(len(t), 3.3)
        return self.waveform.marker(t + 0.5 / self.rate) * self.marker_high_v

    def _trace_data(self, first: str, last: str) -> bytes:
        current, t = self._readings()
        rows = slice(int(first) - 1, int(last))
        if self.model == "2450":  # READ, REL interleaved per reading
            return self._block(np.column_stack((current[rows], t[rows])).ravel(), "d")
        return self._block(current[rows], "d")

    def _block(self, values: np.ndarray, datatype: str) -> bytes:
        if self.settings.get("FORM", "ASCI") != "REAL":
            return ",".join(f"{v:.9g}" for v in values).encode() + b"\n"
        order = ">" if self.settings.get("BORD", "NORM") == "NORM" else "<"
        payload = np.asarray(values).astype(order + datatype).tobytes()
        size = str(len(payload)).encode()
        return b"#" + str(len(size)).encode() + size + payload + b"\n"


def _recv(conn: socket.socket) -> bytes:
    try:
        return conn.recv(65536)
    except OSError:  # shut down by __exit__
        return b""
