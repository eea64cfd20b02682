"""An emulated ST X-NUCLEO-LPM01A: its ASCII commands and its ascii_dec sample stream."""

from __future__ import annotations

import math

import numpy as np

from tests.instruments.waveform import Waveform

PROMPT = b"PowerShield > "
_RATES = {"5k": 5000, "2k": 2000, "1k": 1000, "500": 500, "100": 100}


def ascii_dec(value: float) -> str:
    """Four digits and a power of ten, as the board prints a sample (6409-07)."""
    if value <= 0:
        return "0000-00"
    exponent = math.floor(math.log10(value)) - 3
    mantissa = round(value / 10.0 ** exponent)
    if mantissa == 10000:
        mantissa, exponent = 1000, exponent + 1
    return f"{mantissa:04d}{'-' if exponent < 0 else '+'}{abs(exponent):02d}"


class Lpm01aEmulator:
    """Acks its commands; while started, prints the waveform as the board would.

    The DUT pulses D7 at each window's start and end (the EEMBC convention), so
    with ``eventsrc d7 fal`` an event line appears at both. ``lose=(k, n)``
    skips n sample lines after sample k; ``trouble_at=(k, text)`` prints a line
    after sample k; ``impostor`` answers everything with that text;
    ``vanish_after_s`` unplugs the board that long into an acquisition.
    """

    def __init__(self, waveform: Waveform, lose: tuple[int, int] | None = None,
                 trouble_at: tuple[int, str] | None = None,
                 impostor: bytes | None = None, vanish_after_s: float | None = None) -> None:
        self.waveform = waveform
        self.lose = lose
        self.trouble_at = trouble_at
        self.impostor = impostor
        self.vanish_after_s = vanish_after_s
        self.vanished = False
        self.settings: dict[str, str] = {}
        self.host_control = False
        self._buffer = b""
        self._started: float | None = None
        self._sent = 0
        self._events = 0

    def _say(self, text: str) -> bytes:
        return PROMPT + text.encode() + b"\r\n"

    def feed(self, data: bytes) -> bytes:
        if self.impostor is not None:
            return self.impostor
        self._buffer += data
        out = b""
        while b"\n" in self._buffer:
            raw, self._buffer = self._buffer.split(b"\n", 1)
            out += self._command(raw.decode().strip())
        return out

    def _command(self, cmd: str) -> bytes:
        word, _, arg = cmd.partition(" ")
        if word == "stop":
            self._started = None
            return self._say("Acquisition completed")
        if word in ("htc", "hrc"):
            self.host_control = word == "htc"
        elif word == "powershield":
            return self._say("ack powershield 3A0042001751363036313539")
        elif word == "version":
            return self._say("ack version 1.0.5")
        elif (word == "freq" and arg not in _RATES) or (word == "eventsrc"
                                                         and not arg.startswith("d7")):
            return self._say(f"error {cmd}") + self._say("Error detail: unsupported value")
        elif word in ("volt", "freq", "acqtime", "output", "format", "trigsrc", "eventsrc",
                      "pwr"):
            self.settings[word] = arg
        elif word == "start":
            self._started, self._sent, self._events = -1.0, 0, 0
        else:
            return self._say(f"error {cmd}") + self._say("Error detail: invalid command")
        return self._say(f"ack {cmd}")

    def tick(self, now: float) -> bytes:
        if self._started is None:
            return b""
        if self._started < 0:
            self._started = now
        if self.vanish_after_s is not None and now - self._started >= self.vanish_after_s:
            self.vanished = True
            return b""
        rate = _RATES[self.settings["freq"]]
        due = int((now - self._started) * rate)
        volts = int(self.settings["volt"].rstrip("m")) / 1000
        lines = []
        for k in range(self._sent, due):
            t = (k + 0.5) / rate
            marker_now = self.waveform.marker(np.array([t]))[0]
            marker_before = self.waveform.marker(np.array([t - 1 / rate]))[0] if k else 0
            if marker_now != marker_before:  # a D7 pulse at this window edge
                self._events += 1
                lines.append(f"event {self._events} fal")
            powered = self.settings.get("pwr") != "off"
            current = float(self.waveform.current(np.array([t]))[0]) if powered else 0.0
            value = current * volts / rate if self.settings["output"] == "energy" else current
            if not (self.lose and self.lose[0] < k <= self.lose[0] + self.lose[1]):
                lines.append(ascii_dec(value))
            if self.trouble_at and k == self.trouble_at[0]:
                lines.append(PROMPT.decode() + self.trouble_at[1])
            if (k + 1) % (rate // 10) == 0:  # board time after this sample, ten times a second
                ms = (k + 1) * 1000 // rate
                lines.append(f"TimeStamp: {ms // 1000:03d}s {ms % 1000:03d}ms, buff 02%")
        self._sent = max(self._sent, due)
        return "".join(line + "\r\n" for line in lines).encode()
