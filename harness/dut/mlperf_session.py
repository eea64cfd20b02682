"""The host side of MLPerf Tiny's text protocol: driving a DUT flashed with MLPerf firmware.

Commands end with ``%`` and every reply ends with ``m-ready`` (docs/mlperf.md).
``identify`` asks ``name%`` and ``profile%`` (three tries each, as MLCommons'
runner does) and learns the DUT's timestamp mode; ``upload`` sends ``db load N%``
and then the input as hex in ``db HEX%`` lines as long as the DUT's 80-character
command line allows; ``infer`` sends ``infer N W%`` and reads the two
``m-lap-us-`` lines (performance mode; energy mode toggles a pin instead) and
``m-results-[…]``, which the model's codec (mlperf_codec.py) turns back into
raw output bytes or ad01's score.

Waits come from waits.py like the binary session's. A reply that does not come
is resynchronised with ``name%`` and, where repeating is safe, repeated: an
idempotent question, an ``infer`` (a repeated INFER is harmless to latency and
accuracy; energy notices the resend and measures again), an upload from its
``db load`` (which resets the DUT's buffer; one lost ``db`` line cannot be
resent, it may have been stored). A refusal (``e-[…]``) is never repeated. With
a ``Recovery`` a DUT that reset (its boot banner mid-command, or ``Input db has
…``), hangs or vanishes is brought back and the command repeated on a fresh upload.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import serial

from harness.dut.mlperf_codec import MlperfCodec, Results
from harness.dut.recovery import Problem, RecoveringSession, Recovery
from harness.dut.session import UploadStats
from harness.dut.text_lines import LineReader
from harness.dut.transport import CountingLink, LinkStats
from harness.dut.waits import InferWaits
from harness.errors import (
    BoardError,
    BoardRebooted,
    BoardSilent,
    LinkLost,
    ProtocolError,
    ReplyTimeout,
)

log = logging.getLogger(__name__)
R = TypeVar("R")

#: the reference DUT's command buffer (EE_CMD_SIZE), its '%' not counted
LINE_MAX = 80
#: tries of an idempotent question (MLCommons' runner: DUT._retry, 3)
QUESTION_TRIES = 3
#: the clock of m-lap-us: microseconds, 32 bits (the reference's us_ticker_read)
TIMER_HZ = 1_000_000
LAP_WRAP = 1 << 32
_BOOT = ("m-timestamp-mode-", "m-init-done")
_TOKEN = re.compile(r"(?:m-|e-\[).*")
_NAME = re.compile(r"^m-name-dut-\[(.*)\]$")
_PROFILE = re.compile(r"^m-profile-\[(.*)\]$")
_MODEL = re.compile(r"^m-model-\[(.*)\]$")
_LAP = re.compile(r"^m-lap-us-(\d+)$")
_RESULTS = re.compile(r"^m-results-\[(.*)\]$")
#: the reference DUT's th_load_tensor when its buffer does not hold a whole input
#: (after a reset): it says so without e- and runs on the tensor it had
_INPUT_LOST = re.compile(r"^Input db has \d+ element")


class DutRefused(ProtocolError):
    """The DUT answered a command with ``e-[…]``."""


class InputLost(ProtocolError):
    """The DUT ran ``infer`` without a whole input: it reset and lost it."""


@dataclass(frozen=True)
class MlperfIdentity:
    name: str               # m-name-dut-[…]
    profile: str            # m-profile-[…]
    model: str              # m-model-[…]: ic01, kws01, vww01, ad01, …
    timestamp_mode: str     # performance (m-lap-us lines) or energy (timestamp pin)


@dataclass(frozen=True)
class MlperfResult:
    runs: int
    warmups: int
    elapsed_us: int | None  # between the two m-lap-us lines; None in energy mode
    results: Results

    @property
    def output(self) -> bytes | None:
        return self.results.output


class MlperfSession(RecoveringSession):
    """Talks MLPerf Tiny's text protocol over an open pyserial port. No I/O until ``open()``."""

    timer_hz = TIMER_HZ

    def __init__(self, link: serial.SerialBase, codec: MlperfCodec, timeout: float = 2.0,
                 retries: int = 2, upload_restarts: int = 2, bytes_per_s: float | None = None,
                 recovery: Recovery | None = None,
                 expected_s_per_inference: float | None = None,
                 line_max: int = LINE_MAX) -> None:
        self._port = link
        self.codec = codec
        self.timeout = timeout
        self.retries = retries                  # resends of an infer that got no reply
        self.upload_restarts = upload_restarts  # uploads restarted from db load
        self.bytes_per_s = bytes_per_s
        self.recovery = recovery
        self.db_bytes_per_line = (line_max - len("db ")) // 2
        self.waits = InferWaits()
        if expected_s_per_inference:
            self.waits.expect(expected_s_per_inference)
        self.stats = LinkStats()
        self.identity: MlperfIdentity | None = None
        self.timestamp_mode: str | None = None  # from the boot banner or identify()
        self._link: CountingLink | None = None
        self._reader: LineReader | None = None
        self._answered = False      # a command was answered on this link: a banner is a reset
        self._last_wait = timeout   # what the last command sent was given
        self._input: bytes | None = None
        self._input_boot = -1

    # --- life cycle ---------------------------------------------------------

    def open(self) -> MlperfSession:
        if self._link is None:
            self._open_port()
            self._link = CountingLink(self._port)
            self._reader = LineReader(self._link)
            self._answered = False
        return self

    def close(self) -> None:
        if self._link is not None:
            self._link.close()
            self._link = self._reader = None

    def __enter__(self) -> MlperfSession:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def board(self) -> str:
        return self.board_name

    # --- public commands ----------------------------------------------------

    def wait_ready(self, timeout: float) -> bool:
        """Wait for the boot banner's ``m-ready``; False if none came (it booted earlier)."""
        deadline = time.monotonic() + timeout
        while (line := self._io.next_line(deadline)) is not None:
            token = _token(line)
            if token is not None and token.startswith(_BOOT):
                self._note_boot(token)
            elif token == "m-ready":
                log.info("MLPerf DUT %s is ready", self.url)
                return True
            elif line.strip():
                self.stats.discarded += 1
        self._sync_counts()
        return False

    def identify(self) -> MlperfIdentity:
        """``name%``, ``profile%`` and, when no boot banner said it, the timestamp mode
        (``timestamp%`` prints m-lap-us in performance mode, pulls the pin in energy)."""
        name = self._question("name", _NAME, "m-name-dut-[…]")[0]
        profile_lines = self._question("profile", _MODEL, "m-model-[…]", keep=True)
        model = next(m[1] for t in profile_lines if (m := _MODEL.match(t)))
        profile = next((m[1] for t in profile_lines if (m := _PROFILE.match(t))), "")
        if self.timestamp_mode is None:
            laps = [t for t in self._recovering("timestamp%", lambda: self._exchange(
                "timestamp", self._wait(16, 40)), needs_input=False) if _LAP.match(t)]
            self.timestamp_mode = "performance" if laps else "energy"
        self.identity = MlperfIdentity(name, profile, model, self.timestamp_mode)
        return self.identity

    def upload(self, data: bytes) -> UploadStats:
        """The model's raw input, in the benchmark's wire form (``db load``, ``db HEX`` lines)."""
        wire = self.codec.wire_input(data)
        self._input = None
        stats = self._recovering(f"upload of {len(wire)} bytes (db load {len(wire)}%)",
                                 lambda: self._upload(wire), needs_input=False)
        self._input, self._input_boot = wire, self.stats.readies
        return stats

    def infer(self, warmups: int = 0, runs: int = 1, per_run: bool = False,
              want_output: bool = True, timeout: float | None = None) -> MlperfResult:
        """``infer runs warmups%`` on the uploaded input: one command, whatever ``runs``.

        MLPerf's DUT times the whole command (two m-lap-us lines), never each run:
        ``per_run`` must be False. Its results line comes with every infer, so
        ``want_output`` changes nothing on the wire.
        """
        if per_run:
            raise ValueError("an MLPerf Tiny DUT reports the time of a whole infer command, "
                             "not of each run")
        if runs < 1 or warmups < 0:
            raise ValueError(f"infer needs runs >= 1 and warmups >= 0, got {runs}, {warmups}")
        command = f"infer {runs} {warmups}"
        return self._recovering(f"{command}%", lambda: self._infer(runs, warmups, timeout))

    # --- internals: exchanges -------------------------------------------------

    @property
    def _io(self) -> LineReader:
        if self._reader is None:
            raise ProtocolError(f"MLPerf session on {self._port.port} is not open; call open()")
        return self._reader

    def _rate(self) -> float:
        return self.bytes_per_s or (self._port.baudrate or 115200) / 10

    def _wait(self, out_bytes: int, in_bytes: int) -> float:
        """An ordinary reply's wait: the margin plus the line time both ways."""
        return self.timeout + (out_bytes + in_bytes) / self._rate()

    def _write(self, text: str) -> None:
        assert self._link is not None
        self._link.write(text.encode("ascii"))
        self.stats.bytes_out = self._link.bytes_out
        self.stats.round_trips += 1

    def _exchange(self, command: str, wait: float) -> list[str]:
        """Send ``command%``; the lines of its reply before ``m-ready``.

        Raises DutRefused for an ``e-[…]`` line, ReplyTimeout when no ``m-ready``
        comes, BoardRebooted when the DUT's boot banner shows up on a link that had
        answered before (it reset; the reply, if one followed, is read first).
        """
        self._write(command + "%")
        self._last_wait = wait
        deadline = time.monotonic() + wait
        garbage_before = self._io.garbage_bytes
        lines: list[str] = []
        errors: list[str] = []
        rebooted = in_banner = after_banner = False
        while True:
            line = self._io.next_line(deadline)
            if line is None:
                self._sync_counts()
                raise ReplyTimeout(f"board {self.board}: no m-ready after `{command}%` within "
                                   f"{wait:.1f} s{self._heard(garbage_before, lines)}")
            token = _token(line)
            if token is None:
                if line.strip():
                    lines.append(line.strip())
                continue
            if token.startswith(_BOOT) or (in_banner and _LAP.match(token)):
                rebooted |= self._note_boot(token)
                in_banner = token != "m-init-done"
                after_banner = not in_banner
                continue
            if token == "m-ready" and after_banner:
                if rebooted:        # the banner's own m-ready: the command was lost in a reset
                    break
                after_banner = False
                continue
            if token == "m-ready":
                break
            after_banner = False
            (errors if token.startswith("e-[") else lines).append(token)
        self._sync_counts()
        if rebooted:
            raise BoardRebooted(f"board {self.board}: its boot banner came during "
                                f"`{command}%`: it reset")
        self._answered = True
        if errors:
            raise DutRefused(f"board {self.board}: `{command}%` was refused: "
                             f"{'; '.join(errors)}")
        return lines

    def _question(self, command: str, pattern: re.Pattern[str], what: str,
                  keep: bool = False) -> list[str]:
        """An idempotent command whose reply must hold ``pattern``: tried up to three times
        (a missing line or a lost reply, each after a resync)."""
        def ask() -> list[str]:
            problem = ProtocolError(f"board {self.board}: `{command}%` was not asked")
            for attempt in range(QUESTION_TRIES):
                if attempt:
                    self.stats.resends += 1
                    self._resync(problem)
                try:
                    lines = self._exchange(command, self._wait(len(command) + 1, 200))
                except ReplyTimeout as exc:
                    problem = exc
                    continue
                found = [m[1] for t in lines if (m := pattern.match(t))]
                if found:
                    return lines if keep else found
                problem = ProtocolError(f"board {self.board}: `{command}%` got no {what} line; "
                                        f"it answered {_quote(lines)}")
                log.warning("%s", problem)
            raise ProtocolError(f"{problem} ({QUESTION_TRIES} tries)")
        return self._recovering(f"{command}%", ask, needs_input=False)

    def _resync(self, after: Exception, wait: float | None = None) -> None:
        """Forget what is buffered, ask ``name%`` and read up to its ``m-name-dut-[…]`` and
        the ``m-ready`` after it: whatever came first was a stale reply (a command the DUT
        ran late, or again after a reset), and is discarded. Twice at most, each within
        ``wait`` (what the command it follows may still take); BoardSilent, naming what
        went wrong ``after``, when no answer comes. A DUT that reset meanwhile answers
        too: BoardRebooted."""
        self.stats.resyncs += 1
        wait = wait or self._wait(5, 60)
        rebooted = False
        for _ in range(2):
            self._io.reset()
            self._write("name%")
            deadline = time.monotonic() + wait
            named = False
            while (line := self._io.next_line(deadline)) is not None:
                token = _token(line) or ""
                if token.startswith(_BOOT):
                    rebooted |= self._note_boot(token)
                elif token.startswith("m-name-dut-["):
                    named = True
                elif token == "m-ready" and named:
                    self._sync_counts()
                    if rebooted:
                        raise BoardRebooted(f"board {self.board}: its boot banner came while "
                                            f"the host resynchronised after: {after}")
                    log.info("resynchronised with the MLPerf DUT on %s", self.url)
                    return
                else:
                    self.stats.discarded += 1
        self._sync_counts()
        raise BoardSilent(f"{after}; no answer to `name%` on {self.url} either: the DUT "
                          "is silent")

    def _upload(self, wire: bytes) -> UploadStats:
        start = (time.perf_counter(), self.stats.round_trips, self.stats.bytes_out,
                 self.stats.bytes_in)
        step = self.db_bytes_per_line
        lines = 0
        problem: ReplyTimeout | None = None
        for _ in range(1 + self.upload_restarts):
            if problem is not None:
                log.warning("board %s: upload restarts from db load: %s", self.board, problem)
                self._resync(problem)
            try:
                lines += self._upload_once(wire, step)
                break
            except ReplyTimeout as exc:
                problem = exc
        else:
            raise ReplyTimeout(f"{problem} (upload restarted {self.upload_restarts} times)")
        return UploadStats(len(wire), lines, self.stats.round_trips - start[1],
                           self.stats.bytes_out - start[2], self.stats.bytes_in - start[3],
                           time.perf_counter() - start[0])

    def _upload_once(self, wire: bytes, step: int) -> int:
        load = f"db load {len(wire)}"
        lines = self._exchange(load, self._wait(len(load) + 1, 40))
        if f"m-[Expecting {len(wire)} bytes]" not in lines:
            raise ProtocolError(f"board {self.board}: `{load}%` was not acknowledged with "
                                f"m-[Expecting {len(wire)} bytes]; it answered {_quote(lines)}")
        sent = 0
        for offset in range(0, len(wire), step):
            command = f"db {wire[offset:offset + step].hex()}"
            reply = self._exchange(command, self._wait(len(command) + 1, 24))
            sent += 1
            last = offset + step >= len(wire)
            if ("m-load-done" in reply) != last:
                raise ProtocolError(
                    f"board {self.board}: `db …%` line {sent} of {-(-len(wire) // step)} "
                    f"(bytes {offset}…{min(offset + step, len(wire)) - 1}) "
                    + ("did not complete the input (no m-load-done)" if last else
                       "answered m-load-done before the input was complete"))
        return sent

    def _infer(self, runs: int, warmups: int, timeout: float | None) -> MlperfResult:
        command = f"infer {runs} {warmups}"
        values = 1 if self.codec.scores_itself else int(np.prod(self.codec.output_spec.shape))
        reply_bytes = 140 + 10 * values     # the m- lines and "%0.3f," per value
        count = runs + warmups
        wait = timeout or self.waits.infer_timeout(
            count, (len(command) + 1 + reply_bytes) / self._rate(), self.timeout)
        problem: ReplyTimeout | None = None
        for _ in range(1 + self.retries):
            if problem is not None:
                self.stats.resends += 1
                self._resync(problem, wait)     # the DUT may still be running it
            sent = time.monotonic()
            try:
                lines = self._exchange(command, wait)
            except ReplyTimeout as exc:
                problem = exc
                log.warning("%s", exc)
                continue
            self.waits.observed(count, time.monotonic() - sent)
            return self._read_infer(command, runs, warmups, lines)
        raise ReplyTimeout(f"{problem} ({1 + self.retries} tries, the DUT answers name%)")

    def _read_infer(self, command: str, runs: int, warmups: int,
                    lines: list[str]) -> MlperfResult:
        if any(_INPUT_LOST.match(t) for t in lines):
            raise InputLost(f"board {self.board}: `{command}%`: {_quote(lines)}")
        laps = [int(m[1]) for t in lines if (m := _LAP.match(t))]
        results = [m[1] for t in lines if (m := _RESULTS.match(t))]
        if "m-infer-done" not in lines or len(results) != 1:
            raise ProtocolError(f"board {self.board}: `{command}%` did not end with "
                                f"m-infer-done and one m-results-[…]; it answered "
                                f"{_quote(lines)}")
        if len(laps) not in (0, 2):
            raise ProtocolError(f"board {self.board}: `{command}%` printed {len(laps)} "
                                "m-lap-us lines; a DUT prints two (performance mode) or "
                                "none (energy mode)")
        mode = "performance" if laps else "energy"
        if self.timestamp_mode is None:
            self.timestamp_mode = mode
        elif mode != self.timestamp_mode:
            raise ProtocolError(f"board {self.board}: `{command}%` behaved as {mode} "
                                f"mode; the DUT said it runs in {self.timestamp_mode} mode")
        try:
            read = self.codec.read_results(results[0])
        except ProtocolError as exc:
            raise ProtocolError(f"board {self.board}: `{command}%`: {exc}") from exc
        elapsed = (laps[1] - laps[0]) % LAP_WRAP if laps else None
        return MlperfResult(runs, warmups, elapsed, read)

    def _note_boot(self, token: str) -> bool:
        """A boot banner line: the timestamp mode it names; True if it means a reset."""
        if token.startswith("m-timestamp-mode-"):
            self.timestamp_mode = token[len("m-timestamp-mode-"):]
            self.stats.readies += 1
            return self._answered
        return False

    def _sync_counts(self) -> None:
        assert self._link is not None and self._reader is not None
        self.stats.bytes_in = self._link.bytes_in
        self.stats.garbled_in = self._reader.garbage_bytes

    def _heard(self, garbage_before: int, lines: list[str]) -> str:
        """What the board did send, for a message about what it did not."""
        noise = self._io.garbage_bytes - garbage_before
        parts = []
        if lines:
            parts.append(f"it sent {_quote(lines)}")
        if noise > 0:
            parts.append(f"{noise} bytes that are not text (last bytes "
                         f"{self._io.tail()[-24:]!r}): wrong baud rate or a broken line?")
        if not parts:
            return "; it sent nothing"
        return "; " + ", and ".join(parts)

    # --- recovery hooks (recovery.RecoveringSession runs the loop) -----------

    def _problem(self, exc: Exception, needs_input: bool) -> Problem | None:
        if isinstance(exc, LinkLost):
            return "lost link"
        if isinstance(exc, ReplyTimeout):
            return "silent"
        if isinstance(exc, (BoardRebooted, InputLost)):
            return "lost state"
        return None

    def _after_reboot(self, problem: Exception) -> None:
        # a rebooted DUT may yet answer the interrupted command (it reached it after the
        # boot): that reply must not be read as the next command's
        try:
            self._resync(problem, self._last_wait)
        except BoardRebooted:
            self.stats.reboots += 1

    def _await_boot(self) -> None:
        assert self.recovery is not None
        self._io.reset()
        self._answered = False
        self.wait_ready(self.recovery.ready_timeout_s)

    def _reopen(self, port: serial.SerialBase) -> None:
        assert self.recovery is not None
        try:
            self.close()
        except (serial.SerialException, OSError):
            self._link = self._reader = None
        self._port = port
        self.open()
        self.wait_ready(self.recovery.ready_timeout_s)

    def _check_same_board(self) -> None:
        before = self.identity
        self.identity = None
        found = self.identify()
        if before is not None and (before.name, before.model) != (found.name, found.model):
            raise BoardError(f"board {self.board}: the board found again on {self.url} is "
                             f"{found.name} with model {found.model}, not the one the run "
                             "started with")


def _token(line: str) -> str | None:
    """The protocol part of a line (noise glued to its front cut off), or None."""
    found = _TOKEN.search(line)
    return found[0].rstrip() if found else None


def _quote(lines: list[str]) -> str:
    if not lines:
        return "nothing"
    shown = " / ".join(lines[:6])
    return repr(shown if len(shown) <= 200 else shown[:200] + "…")


@dataclass(frozen=True)
class MlperfOutputs:
    """Accuracy's reading of an MLPerf DUT's replies (measure/accuracy.py, OutputReader):
    the output re-quantised from the printed values, or ad01's own score; agreement
    with the host runtime is judged at the printed precision (``%0.3f``)."""

    codec: MlperfCodec

    def read(self, reply: MlperfResult) -> tuple[np.ndarray | None, float | None]:
        out = reply.output
        return (None if out is None else self.codec.output_spec.from_bytes(out),
                reply.results.score)

    def agrees(self, raw_in: np.ndarray, reference_out: np.ndarray,
               reply: MlperfResult) -> bool:
        expected = self.codec.expected_text(np.ascontiguousarray(raw_in).tobytes(),
                                            np.ascontiguousarray(reference_out).tobytes())
        return self.codec.agrees(reply.results.text, expected)
