"""An emulated Nordic PPK2: its opcodes, its metadata text and its 32-bit sample stream."""

from __future__ import annotations

import numpy as np

from tests.instruments.waveform import Waveform

RATE = 100_000
ADC_MULT = 1.8 / 163840
# A kit's calibration, deliberately unlike Nordic's defaults so each coefficient matters.
CAL = {"R": [1012.3, 99.81, 10.07, 0.951, 0.0442], "GS": [0.5, 0.4, 0.3, 0.2, 0.1],
       "GI": [0.998, 1.003, 0.997, 1.002, 1.0], "O": [12.0, 9.0, 7.0, 5.0, 3.0],
       "S": [2e-8, 2e-7, 2e-6, 2e-5, 2e-4], "I": [-1e-8, -1e-7, 1e-6, 1e-5, 1e-4],
       "UG": [1.01, 0.99, 1.005, 1.0, 1.0]}
_ARG_BYTES = {0x19: 0, 0x11: 1, 0x0D: 2, 0x0C: 1, 0x06: 0, 0x07: 0}


def metadata_text() -> bytes:
    lines = ["Calibrated: 0"]
    for key, values in CAL.items():
        lines += [f"{key}{r}: {v:.10g}" for r, v in enumerate(values)]
    lines += ["HW: 9173", "mode: 2", "IA: 56", "END"]
    return ("\n".join(lines) + "\n").encode()


def encode(current_a: np.ndarray, logic: np.ndarray, first_counter: int, vdd_v: float,
           invalid_range: np.ndarray | None = None) -> bytes:
    """Words the kit would send for these currents (smallest range that holds each)."""
    c = {k: np.array(v) for k, v in CAL.items()}
    y = current_a[:, None] / c["UG"] - c["S"] * vdd_v - c["I"]       # n x 5, per range
    x = 2 * y / (c["GI"] + np.sqrt(c["GI"] ** 2 + 4 * c["GS"] * y))  # root of GS x^2 + GI x = y
    code = np.rint((x * c["R"] / ADC_MULT + c["O"]) / 4)
    fits = (code >= 0) & (code <= 0x3FFF)
    rng = np.argmax(fits, axis=1)
    code = np.clip(code[np.arange(len(rng)), rng], 0, 0x3FFF).astype(np.uint32)
    if invalid_range is not None:
        rng = np.where(invalid_range, 7, rng)
    counter = (first_counter + np.arange(len(rng))) % 64
    words = (code | (rng.astype(np.uint32) << 14) | (counter.astype(np.uint32) << 18)
             | (logic.astype(np.uint32) << 24))
    return words.astype("<u4").tobytes()


class Ppk2Emulator:
    """Answers the kit's opcodes; streams ``waveform`` with the marker on D``marker_input``.

    ``drop=(k, n)`` loses n samples after sample k (the counter still advances);
    ``invalid_at`` sends those sample numbers with an invalid range;
    ``impostor`` answers every write with that text instead (a wrong device);
    ``vanish_after_s`` unplugs the kit that long into an acquisition.
    """

    def __init__(self, waveform: Waveform, marker_input: int = 0,
                 drop: tuple[int, int] | None = None, invalid_at: tuple[int, ...] = (),
                 impostor: bytes | None = None, vanish_after_s: float | None = None) -> None:
        self.waveform = waveform
        self.marker_input = marker_input
        self.drop = drop
        self.invalid_at = np.array(invalid_at, dtype=np.int64)
        self.impostor = impostor
        self.vanish_after_s = vanish_after_s
        self.vanished = False
        self.vdd_mv = 0
        self.mode = 0
        self.dut_on = False
        self.commands: list[int] = []
        self._pending = b""
        self._started: float | None = None
        self._sent = 0

    def feed(self, data: bytes) -> bytes:
        if self.impostor is not None:
            return self.impostor
        self._pending += data
        out = b""
        while self._pending:
            op = self._pending[0]
            n = _ARG_BYTES.get(op)
            if n is None:  # unknown opcode: the kit ignores it
                self._pending = self._pending[1:]
                continue
            if len(self._pending) < 1 + n:
                break
            args, self._pending = self._pending[1:1 + n], self._pending[1 + n:]
            self.commands.append(op)
            out += self._command(op, args)
        return out

    def _command(self, op: int, args: bytes) -> bytes:
        if op == 0x19:
            return metadata_text()
        if op == 0x11:
            self.mode = args[0]
        elif op == 0x0D:
            self.vdd_mv = args[0] << 8 | args[1]
        elif op == 0x0C:
            self.dut_on = bool(args[0])
        elif op == 0x06:
            self._started, self._sent = None, 0
            self._started = -1.0  # armed: the first tick sets the time origin
        elif op == 0x07:
            self._started = None
        return b""

    def tick(self, now: float) -> bytes:
        if self._started is None:
            return b""
        if self._started < 0:
            self._started = now
        if self.vanish_after_s is not None and now - self._started >= self.vanish_after_s:
            self.vanished = True
            return b""
        due = int((now - self._started) * RATE)
        if due <= self._sent:
            return b""
        k = np.arange(self._sent, due)
        self._sent = due
        t = (k + 0.5) / RATE
        current = self.waveform.current(t) if self.dut_on else np.zeros(len(k))
        logic = self.waveform.marker(t) << self.marker_input
        keep = np.ones(len(k), dtype=bool)
        if self.drop is not None:
            start, n = self.drop
            keep &= ~((k > start) & (k <= start + n))
        invalid = np.isin(k, self.invalid_at)
        words = encode(current, logic, int(k[0]) % 64, self.vdd_mv / 1000, invalid)
        return b"".join(words[4 * i:4 * i + 4] for i in np.flatnonzero(keep)) \
            if not keep.all() else words
