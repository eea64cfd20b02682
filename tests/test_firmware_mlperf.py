"""The firmware's MLPerf Tiny text mode (firmware/lib/harness_proto/src/hp_mlperf.c, hp_link.c),
driven as MLCommons' runner drives a DUT: the C core on a pseudo-terminal (host_device),
the emulated board with the checksum runner, and (with TFLM_DIR) with TFLM and the
MLPerf Tiny models, whose results must equal the TFLM host runtime's dequantised outputs;
and by the harness's own MLPerf session (harness/dut/mlperf_session.py).

The host here reads the link as the runner's SerialDevice does (mlcommons/tiny,
benchmark/runner/serial_device.py): byte by byte, skipping bytes that are not UTF-8,
NUL and CR, a line at each LF; a command is its text and ``%``, its answer every line
up to one containing ``m-ready``; ``db`` lines carry 31 bytes.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import serial

from harness.boards.qemu_driver import QemuDriver
from harness.config.board import BoardSpec, find_board
from harness.dut.device import ChecksumRunner
from harness.dut.mlperf_codec import MlperfCodec
from harness.dut.mlperf_session import MlperfSession
from harness.dut.session import DutSession
from harness.dut.transport import open_link
from harness.firmware.qemu_tflm import build_qemu_tflm_image
from harness.models.tflm_host import TflmHostModel
from harness.paths import project_root
from harness.tensors import TensorSpec
from tests.skips import TFLM_IN_QEMU

TEST_DIR = project_root() / "firmware" / "test"
INPUT_BYTES = 96 * 96 * 3  # the checksum runner's input
DB_BYTES_PER_LINE = 31     # MLCommons' runner (DUT._max_bytes without a power manager)
INSTRUCTIONS_PER_US = 25   # the emulated board's 25 MHz at one instruction per cycle
BOOT_LINES = ["m-timestamp-mode-performance", "m-init-done"]

needs_cc = pytest.mark.skipif(
    not (shutil.which("make") and (shutil.which("cc") or shutil.which("gcc"))),
    reason="the C core's host build needs make and a C compiler (apt-get install build-essential)")
needs_qemu = pytest.mark.skipif(
    not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
    reason="the emulated board needs qemu-system-arm and arm-none-eabi-gcc "
           "(apt-get install qemu-system-arm gcc-arm-none-eabi libnewlib-arm-none-eabi)")


class TextHost:
    """MLPerf Tiny's text protocol from the host side, read as MLCommons' runner reads it."""

    def __init__(self, port: serial.SerialBase, timeout: float = 20.0) -> None:
        self.port = port
        self.timeout = timeout
        self._line = ""
        self._unread = b""

    def _next_line(self, deadline: float) -> str:
        while time.monotonic() < deadline:
            if not self._unread:
                self._unread = self.port.read(self.port.in_waiting or 1)
            while self._unread:
                char = self._unread[:1].decode(errors="ignore")  # the runner skips what fails
                self._unread = self._unread[1:]
                if char == "\n":
                    line, self._line = self._line, ""
                    return line
                if char and char not in "\r\0":
                    self._line += char
        raise AssertionError(f"no complete line within {self.timeout} s; got {self._line!r}")

    def command(self, text: str) -> list[str]:
        """Send ``text%``; the non-empty lines of the answer, ``m-ready`` included."""
        self.port.write(text.encode() + b"%")
        deadline = time.monotonic() + self.timeout
        lines: list[str] = []
        while not lines or "m-ready" not in lines[-1]:
            line = self._next_line(deadline)
            if line:
                lines.append(line)
        return lines

    def load(self, data: bytes) -> list[str]:
        """``db load N%`` and ``db HEX%`` lines; the answer to the last one."""
        assert self.command(f"db load {len(data)}") == [f"m-[Expecting {len(data)} bytes]",
                                                         "m-ready"]
        answer: list[str] = []
        for at in range(0, len(data), DB_BYTES_PER_LINE):
            answer = self.command(f"db {data[at:at + DB_BYTES_PER_LINE].hex()}")
            assert answer[-1] == "m-ready" and not any(a.startswith("e-") for a in answer)
        return answer


def results(lines: list[str]) -> list[str]:
    found = [m[1] for line in lines if (m := re.fullmatch(r"m-results-\[(.*)\]", line))]
    assert len(found) == 1, lines
    return found[0].split(",")


def laps(lines: list[str]) -> list[int]:
    return [int(m[1]) for line in lines if (m := re.fullmatch(r"m-lap-us-(\d+)", line))]


def f32_text(values: np.ndarray) -> list[str]:
    """C's printf("%0.3f") of float32 values (promoted to double: exact)."""
    return [f"{float(v):.3f}" for v in np.asarray(values, dtype=np.float32).ravel()]


# ---- the C core on a pty ------------------------------------------------------------------


@pytest.fixture(scope="module")
def host_device_binary() -> Path:
    run = subprocess.run(["make", "--no-print-directory", "-C", str(TEST_DIR), "host-device"],
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, f"building host_device failed:\n{run.stderr[-4000:]}"
    return TEST_DIR / "build" / "host_device"


@pytest.fixture
def c_device(host_device_binary: Path) -> Iterator[str]:
    """A fresh C device (checksum runner) on a pty; yields the slave path."""
    proc = subprocess.Popen([str(host_device_binary)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("PTY "), f"host_device said {line!r}"
        yield line.split()[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@needs_cc
def test_runner_session_on_the_c_core(c_device: str) -> None:
    data = random.Random(11).randbytes(INPUT_BYTES)
    port = open_link(c_device, timeout=0.05)
    try:
        host = TextHost(port)
        first = host.command("name")
        # The READY frame the board sent at boot: its text bytes end up in a line of
        # their own, before the boot lines and the answer, so no reply line is spoiled.
        assert first[1:] == [*BOOT_LINES, "m-name-dut-[host]", "m-ready"], first
        assert "m-" not in first[0]
        assert host.command("profile") == [
            "m-profile-[tinyml-harness MLPerf Tiny text mode 1]", "m-model-[unknown]", "m-ready"]
        assert host.load(data) == ["m-load-done", "m-ready"]
        answer = host.command("infer 1 0")
        assert answer[:3] == ["m-warmup-start-0", "m-warmup-done", "m-infer-start-1"]
        assert answer[5:] == ["m-infer-done", answer[6], "m-ready"]
        # the checksum runner's 8 output bytes, as numbers
        assert results(answer) == [f"{b}.000" for b in ChecksumRunner.checksum(data)]
        start, end = laps(answer)
        assert 0 < start < end
        assert results(host.command("results")) == results(answer)
        printed = host.command("db print")
        assert len(printed) == INPUT_BYTES // 8 + 1
        assert printed[0] == "m-buffer-" + "-".join(f"{b:02x}" for b in data[:8])
    finally:
        port.close()


@needs_cc
def test_errors_are_answered_and_the_session_goes_on(c_device: str) -> None:
    port = open_link(c_device, timeout=0.05)
    try:
        host = TextHost(port)
        host.command("")  # boot lines and m-ready
        for command, error in [
            ("infer 1 0", "e-[infer: no complete input: 0 of 27648 bytes loaded "
                          "(db load N, then db HH...)]"),
            ("results", "e-[results: no inference of the loaded input yet]"),
            ("db 00", "e-[db: no db load in progress]"),
            ("db load 100", "e-[db load: the model's input takes 27648 bytes, not 100]"),
            ("db load", "e-[db load needs the number of bytes]"),
            ("infer 0", "e-[infer: N must be a whole number > 0]"),
            ("x" * 81, "e-[command longer than 80 characters]"),
            ("fly", "e-[Unknown command: fly]"),
        ]:
            assert host.command(command) == [error, "m-ready"], command
        host.command("db load 27648")
        assert host.command("db 0g") == ["e-[db: invalid hex digit in '0g']", "m-ready"]
        assert host.command("db 012") == ["e-[db: odd number of hex digits]", "m-ready"]
        assert host.command("name") == ["m-name-dut-[host]", "m-ready"]
    finally:
        port.close()


@needs_cc
def test_the_harness_mlperf_session_drives_the_c_core(c_device: str) -> None:
    """harness/dut/mlperf_session.py, written against MLCommons' reference DUT, on this core."""
    codec = MlperfCodec.for_model(TensorSpec("int8", (1, 96, 96, 3)), ChecksumRunner.OUTPUT_SPEC)
    data = random.Random(14).randbytes(INPUT_BYTES)
    with MlperfSession(open_link(c_device), codec) as session:
        identity = session.identify()
        assert (identity.name, identity.model, identity.timestamp_mode) == \
            ("host", "unknown", "performance")
        stats = session.upload(data)
        assert stats.round_trips == 1 + -(-INPUT_BYTES // 38)  # 38 bytes fill an 80-character line
        result = session.infer(warmups=1, runs=3)
        assert result.output == ChecksumRunner.checksum(data)
        assert result.elapsed_us is not None and result.elapsed_us > 0


@needs_cc
def test_each_boot_chooses_the_protocol_anew(c_device: str) -> None:
    """host_device boots when its pty is opened, as a board that resets on open: text in
    one session, binary in the next, and a binary frame in a text session is text."""
    port = open_link(c_device, timeout=0.05)
    try:
        assert TextHost(port).command("name")[-2:] == ["m-name-dut-[host]", "m-ready"]
        port.write(b"\x00\x00")  # a binary host's flush: the link stays text
        assert TextHost(port).command("") == ["e-[command has bytes that are not text]",
                                              "m-ready"]
    finally:
        port.close()
    time.sleep(0.3)  # host_device notices the close (POLLHUP) and boots on the next open
    with DutSession(open_link(c_device)) as session:
        assert session.wait_ready(5.0)
        data = bytes(range(256)) * (INPUT_BYTES // 256)
        session.upload(data)
        assert session.infer(runs=1).output == ChecksumRunner.checksum(data)


# ---- the emulated board ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def board() -> BoardSpec:
    return find_board("qemu_mps2_an386")


@needs_qemu
def test_runner_session_on_the_emulated_board(board: BoardSpec, tmp_path: Path) -> None:
    driver = QemuDriver(board, tmp_path, runner="checksum")
    url = driver.start(Path("no-model.tflite"))
    try:
        port = open_link(url, board.serial.baudrate, timeout=0.05)
        try:
            host = TextHost(port)
            assert host.command("name")[-2:] == [f"m-name-dut-[{board.id}]", "m-ready"]
            data = random.Random(12).randbytes(INPUT_BYTES)
            assert host.load(data) == ["m-load-done", "m-ready"]
            answer = host.command("infer 1 0")
            assert results(answer) == [f"{b}.000" for b in ChecksumRunner.checksum(data)]
            assert results(host.command("results")) == results(answer)
            # m-lap-us is SysTick under -icount: instructions / 25 per us. The checksum
            # takes 10 to 20 instructions per input byte (tests/test_qemu_board.py).
            start, end = laps(host.command("infer 5 1"))
            per_run_us = (end - start) / 5
            assert 10 * INPUT_BYTES / INSTRUCTIONS_PER_US < per_run_us \
                < 20 * INPUT_BYTES / INSTRUCTIONS_PER_US
        finally:
            port.close()
    finally:
        driver.stop()


# ---- TFLM on the emulated board -------------------------------------------------------------


def reference_quantize(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """MLPerf Tiny's QuantizeFloatToInt8: round(v / scale) (halves away from zero, of the
    float32 quotient) + zero point, clamped."""
    q = np.asarray(values, np.float32) / np.float32(scale)
    rounded = np.sign(q) * np.floor(np.abs(q).astype(np.float64) + 0.5)
    return np.clip(rounded + zero_point, -128, 127).astype(np.int8)


def dequantize(raw: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """(q - zero_point) * scale in float32, as MLPerf Tiny's DequantizeInt8ToFloat."""
    return (raw.astype(np.int32) - zero_point).astype(np.float32) * np.float32(scale)


class TestOnTflm:
    """The TFLM image of each MLPerf Tiny model in QEMU (needs TFLM_DIR)."""

    pytestmark = TFLM_IN_QEMU

    @pytest.mark.parametrize("name", ["kws01_int8", "ic01_int8", "ad01_int8"])
    def test_results_equal_the_tflm_host_runtime(self, name: str, mlperf_dir: Path,
                                                 board: BoardSpec, tmp_path: Path) -> None:
        model = mlperf_dir / f"{name}.tflite"
        host_model = TflmHostModel.load(model)
        spec, out = host_model.input_spec, host_model.output_spec
        benchmark = name.split("_")[0]
        build = build_qemu_tflm_image(model)
        driver = QemuDriver(board, tmp_path, runner="tflm")
        url = driver.launch(build.image.elf)
        rng = np.random.default_rng(13)
        try:
            port = open_link(url, board.serial.baudrate, timeout=0.05)
            try:
                host = TextHost(port, timeout=60.0)
                profile = host.command("profile")
                assert f"m-model-[{benchmark}]" in profile
                printed = []
                for width in (10, 40, 90):
                    if benchmark == "ad01":  # float32 on the wire; the DUT quantises
                        real = rng.normal(0, width / 10, spec.shape).astype(np.float32)
                        wire = real.astype("<f4").tobytes()
                        raw = reference_quantize(real, spec.scale, spec.zero_point)
                    else:
                        raw = np.clip(rng.normal(spec.zero_point, width, spec.shape), -128,
                                      127).astype(np.int8)
                        # ic01 takes uint8 pixels and subtracts 128; kws01 the int8 input
                        wire = (raw.view(np.uint8) ^ 0x80).tobytes() if benchmark == "ic01" \
                            else raw.tobytes()
                    host.load(wire)
                    got = results(host.command("infer 1 0"))
                    y = dequantize(host_model.run(raw.tobytes()).ravel(), out.scale, out.zero_point)
                    if benchmark == "ad01":  # mean squared error, summed in order in float32
                        diff = y - np.frombuffer(wire, "<f4")
                        total = np.cumsum(diff * diff, dtype=np.float32)[-1]
                        assert got == f32_text(np.float32(total) / np.float32(diff.size))
                    else:
                        assert got == f32_text(y)
                    assert results(host.command("results")) == got
                    printed.append(got)
                assert len({tuple(p) for p in printed}) == 3  # the inputs lead to different answers
            finally:
                port.close()
        finally:
            driver.stop()


    def test_the_harness_mlperf_session_reads_tflm_outputs_from_the_emulated_board(
            self, mlperf_dir: Path, board: BoardSpec, tmp_path: Path) -> None:
        model = mlperf_dir / "kws01_int8.tflite"
        host_model = TflmHostModel.load(model)
        driver = QemuDriver(board, tmp_path, runner="tflm")
        url = driver.launch(build_qemu_tflm_image(model).image.elf)
        codec = MlperfCodec.for_model(host_model.input_spec, host_model.output_spec)
        try:
            link = open_link(url, board.serial.baudrate)
            with MlperfSession(link, codec, timeout=5.0) as session:
                assert session.identify().model == "kws01"
                raw = np.random.default_rng(15).normal(83, 50, (1, 49, 10, 1)).clip(-128, 127) \
                    .astype(np.int8).tobytes()
                session.upload(raw)
                result = session.infer(warmups=1, runs=2)
                # outputs scaled by 1/256: the printed values requantise exactly
                assert result.output == host_model.run(raw).tobytes()
                # SysTick under -icount: 7.7 M instructions per KWS inference (docs/firmware.md)
                assert result.elapsed_us is not None
                assert 7.0e6 < result.elapsed_us / 2 * INSTRUCTIONS_PER_US < 8.4e6
        finally:
            driver.stop()
