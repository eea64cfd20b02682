"""A Python MLPerf Tiny DUT: the reference firmware's text protocol, for boards we do not have.

It answers as mlcommons/tiny's reference DUT does (benchmark/api/
internally_implemented.cpp and the reference submissions' submitter_implemented.cpp):
commands end with ``%`` and are cut at 80 characters; ``name``, ``profile``,
``timestamp``, ``db load N``, ``db HEX``, ``db print``, ``infer N [W=10]``,
``results`` and ``help``; every reply ends with ``m-ready``; refusals are
``e-[…]``. Its quirks are kept: ``db load`` beyond the buffer prints a warning
without ``e-``, and ``infer`` on an incomplete input says ``Input db has …`` and
runs on the tensor it had.

The inference is real (a runner, normally the TFLM host runtime); the time is
the latency model's. In ``performance`` timestamp mode ``timestamp`` prints
``m-lap-us-<µs>`` from a 32-bit microsecond clock; in ``energy`` mode it pulls
the timestamp pin low for ``TIMESTAMP_PULSE_S`` instead, drawn on the
simulated board's power wire as a marker pulse (the monitor reads the pin
active-low). ``DutQuirks`` makes it misbehave as real DUTs do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from harness.boards.latency_model import estimate, jittered_cycles
from harness.config.board import BoardSpec
from harness.dut.mlperf_codec import MlperfCodec, format_value
from harness.models.tflite_inspect import inspect_tflite
from harness.models.tflm_host import TflmHostModel
from harness.power.sim_activity import ActivityWriter

log = logging.getLogger(__name__)

TimestampMode = Literal["performance", "energy"]
LINE_MAX = 80                       # EE_CMD_SIZE
MAX_DB_INPUT_SIZE = 96 * 96 * 3     # the reference's input buffer
PROFILE = "ULPMark for tinyML Firmware V0.0.1"
#: how long the emulated timestamp pin stays low; the reference spins 100,000 nops
#: (about 1 ms at 120 MHz), MLPerf asks for at least 1 µs; 100 µs is two samples
#: even at 20 kS/s
TIMESTAMP_PULSE_S = 100e-6


@dataclass(frozen=True)
class DutQuirks:
    """Ways a real MLPerf DUT lets the host down (all off by default)."""

    model: str | None = None            # report this m-model instead of the real one
    #: hang once: stop answering at this db HEX line since it was started (a reset ends it)
    silent_after_db_lines: int | None = None
    garbage_from: str | None = None     # from this command word on, replies are noise
    refuse: str | None = None           # answer this command word with e-[…]


@dataclass
class LapTiming:
    """What one inference takes on the modelled board."""

    cycles_per_inference: int
    clock_hz: int
    seed: int = 0


class MlperfDevice:
    """The DUT side of MLPerf Tiny's text protocol; ``boot``/``feed`` as pty_link serves them."""

    def __init__(self, run: Callable[[bytes], bytes], codec: MlperfCodec, timing: LapTiming,
                 *, vendor: str = "harness-emulated", mode: TimestampMode = "performance",
                 quirks: DutQuirks = DutQuirks(), activity: ActivityWriter | None = None,
                 active_current_a: float = 0.0,
                 realtime_sleep: Callable[[float], bool] | None = None) -> None:
        self._run = run
        self._codec = codec
        self._timing = timing
        self._rng = np.random.default_rng(timing.seed)
        self.vendor = vendor
        self.mode = mode
        self.quirks = quirks
        self._activity = activity
        self._current = active_current_a
        self._sleep = realtime_sleep
        self._noise = np.random.default_rng([timing.seed, 7])
        self._db_total = 0          # db HEX lines since it was started, boots included
        self._power_on()

    # --- ByteDevice ---------------------------------------------------------

    def boot(self) -> bytes:
        """Power-on: buffers cleared, the clock restarts; the boot banner."""
        self._power_on()
        out = [f"m-timestamp-mode-{self.mode}"]
        out += self._timestamp()    # releases the pin (energy) or prints the time
        out += ["m-init-done", "m-ready"]
        return self._emit(out)

    def _power_on(self) -> None:
        self._cmd = bytearray()
        self._buf = bytearray()
        self._size = 0
        self._wire = bytes(self._codec.wire_bytes())    # the input th_load_tensor took
        self._tensor = self._codec.model_input(self._wire)  # the interpreter's input
        self._output: bytes | None = None
        self._boot_at = time.monotonic()
        self._inserted_us = 0.0     # modelled time the clock has run ahead of the wall
        self._silent = False
        self._garbage = False

    def feed(self, data: bytes) -> bytes:
        replies = bytearray()
        for byte in data:
            if byte == ord("%"):
                replies += self._command(self._cmd.decode("latin-1"))
                self._cmd.clear()
            elif len(self._cmd) < LINE_MAX:
                self._cmd.append(byte)
            else:                   # the reference keeps overwriting its last slot
                self._cmd[-1] = byte
        return bytes(replies)

    # --- commands -------------------------------------------------------------

    def _command(self, line: str) -> bytes:
        words = line.split()
        word = words[0] if words else ""
        if self.quirks.garbage_from is not None and word == self.quirks.garbage_from:
            self._garbage = True
        if self._silent:
            return b""
        if self.quirks.refuse is not None and word == self.quirks.refuse:
            return self._emit([f"e-[{word} failed]", "m-ready"])
        out: list[str]
        if word == "name":
            out = [f"m-name-dut-[{self.vendor}]"]
        elif word == "profile":
            out = [f"m-profile-[{PROFILE}]",
                   f"m-model-[{self.quirks.model or self._codec.benchmark}]"]
        elif word == "timestamp":
            out = self._timestamp()
        elif word == "help":
            out = [PROFILE, "", "help, name, timestamp, db load N, db HH[HH]*, db print, "
                   "infer N [W=10], results"]
        elif word == "db":
            out = self._db(words[1:])
            if self._silent:
                return b""
        elif word == "infer":
            out = self._infer(words[1:])
        elif word == "results":
            out = self._results()
        else:
            out = [f"e-[Unknown command: {word}]"]
        return self._emit([*out, "m-ready"])

    def _db(self, args: list[str]) -> list[str]:
        if not args:
            return ["e-[Command 'db' requires a subcommand]"]
        if args[0] == "load":
            if len(args) < 2:
                return ["e-[Command 'db load' requires the # of bytes]"]
            size = _atoi(args[1])
            if size <= 0:
                return ["e-[Command 'db load' must be >0 bytes]"]
            self._size, self._buf = size, bytearray()
            if size > MAX_DB_INPUT_SIZE:    # no e-: the reference only prints this
                return [f"Supplied buffer size {size} exceeds maximum of {MAX_DB_INPUT_SIZE}"]
            return [f"m-[Expecting {size} bytes]"]
        if args[0] == "print":
            return [f"m-buffer-{'-'.join(f'{b:02x}' for b in self._buf[i:i + 8])}"
                    for i in range(0, len(self._buf), 8)]
        hexdigits = args[0][:LINE_MAX]
        if len(hexdigits) % 2:
            return ["e-[Insufficent number of hex digits]"]
        self._db_total += 1
        if self._db_total - 1 == self.quirks.silent_after_db_lines:
            self._silent = True
            return []
        for i in range(0, len(hexdigits), 2):
            pair = hexdigits[i:i + 2]
            try:
                value = int(pair, 16)
            except ValueError:
                return [f"e-[Invalid hex digit '{pair}']"]
            if len(self._buf) < min(self._size, MAX_DB_INPUT_SIZE):
                self._buf.append(value)
                if len(self._buf) == self._size:
                    return ["m-load-done"]      # the rest of the digits are ignored
        return []

    def _infer(self, args: list[str]) -> list[str]:
        runs, warmups = 1, 10
        if args:
            runs = _atoi(args[0])
            if runs <= 0:
                return ["e-[Inference iterations must be >0]"]
            if len(args) > 1:
                warmups = _atoi(args[1])
                if warmups < 0:
                    return ["e-[Inference warmup must be >=0]"]
        out = []
        expected = self._codec.wire_bytes()
        if len(self._buf) != expected:      # th_load_tensor warns and keeps the old tensor
            out.append(f"Input db has {min(len(self._buf), expected)} elemented, expected "
                       f"{expected}")
        else:
            self._tensor = self._codec.model_input(bytes(self._buf))
            self._wire = bytes(self._buf)
        out.append(f"m-warmup-start-{warmups}")
        self._output = self._run(self._tensor)
        cycles = jittered_cycles(self._timing.cycles_per_inference, runs, self._rng)
        warm_s = warmups * self._timing.cycles_per_inference / self._timing.clock_hz
        timed_s = float(np.sum(cycles)) / self._timing.clock_hz
        out += ["m-warmup-done", f"m-infer-start-{runs}"]
        out += self._spend(warm_s, timed_s)
        out.append("m-infer-done")
        return out + self._results()

    def _results(self) -> list[str]:
        if self._output is None:    # the reference prints whatever its output tensor holds
            self._output = bytes(self._codec.output_spec.nbytes)
        values = self._codec.result_values(self._wire, self._output)
        return [f"m-results-[{','.join(format_value(v) for v in values)}]"]

    # --- time and the timestamp pin ---------------------------------------------

    def _clock_us(self) -> int:
        elapsed = (time.monotonic() - self._boot_at) * 1e6 + self._inserted_us
        return int(elapsed) % (1 << 32)     # us_ticker_read(): 32 bits

    def _timestamp(self) -> list[str]:
        if self.mode == "performance":
            return [f"m-lap-us-{self._clock_us()}"]
        self._segment(TIMESTAMP_PULSE_S, pin_low=True)
        return []

    def _spend(self, warm_s: float, timed_s: float) -> list[str]:
        """Warm-ups, timestamp, the timed runs, timestamp: what th_timestamp prints."""
        self._segment(warm_s, pin_low=False)
        laps = self._timestamp()
        self._segment(timed_s, pin_low=False)
        return laps + self._timestamp()

    def _segment(self, seconds: float, pin_low: bool) -> None:
        """Time passes on the board: modelled (the clock runs ahead of the wall) or, at
        realtime pace, slept; the board's power wire records it."""
        if seconds <= 0:
            return
        start = time.monotonic()
        if self._sleep is not None:
            self._sleep(seconds)
            seconds = time.monotonic() - start
        else:
            self._inserted_us += seconds * 1e6
        if self._activity is not None:
            self._activity.append(start, seconds, self._current, pin_low,
                                  realtime=self._sleep is not None)

    def _emit(self, lines: list[str]) -> bytes:
        data = b"".join(line.encode("latin-1") + b"\r\n" for line in lines)
        if self._garbage:           # a wrong baud rate or a broken UART clock
            return bytes(self._noise.integers(0x80, 0x100, len(data), dtype=np.uint8))
        return data


def build_mlperf_device(board: BoardSpec, model_path: Path, *, mode: TimestampMode = "performance",
                        activity_log: Path | None = None, seed: int = 0,
                        quirks: DutQuirks = DutQuirks(),
                        realtime_sleep: Callable[[float], bool] | None = None) -> MlperfDevice:
    """``board`` flashed with MLPerf Tiny firmware for ``model_path``: the model runs on the
    TFLM host runtime, its time is the board's latency model, its draw the board's."""
    host = TflmHostModel.load(model_path)
    cycles = estimate(inspect_tflite(model_path), board.core, board.build.kernels,
                      board.clock_hz).total_cycles

    def run(raw: bytes) -> bytes:
        return np.ascontiguousarray(host.run(raw)).tobytes()

    return MlperfDevice(run, MlperfCodec.for_model(host.input_spec, host.output_spec),
                        LapTiming(cycles, board.clock_hz, seed), vendor=f"sim:{board.id}",
                        mode=mode, quirks=quirks,
                        activity=ActivityWriter(activity_log) if activity_log else None,
                        active_current_a=board.power.active_current_a,
                        realtime_sleep=realtime_sleep)


def _atoi(text: str) -> int:
    """C's atoi: leading digits with an optional sign, 0 when there are none."""
    digits = ""
    for i, ch in enumerate(text):
        if ch.isdigit() or (i == 0 and ch in "+-"):
            digits += ch
        else:
            break
    try:
        return int(digits)
    except ValueError:
        return 0
