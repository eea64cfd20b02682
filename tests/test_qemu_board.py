"""The emulated board: the real firmware in qemu-system-arm, driven by the harness session."""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from harness.boards.driver import create_driver
from harness.boards.qemu_driver import QemuDriver
from harness.config.board import BoardSpec, find_board
from harness.dut.device import ChecksumRunner
from harness.dut.messages import Capability
from harness.dut.session import DutSession
from harness.dut.transport import open_link
from harness.errors import BoardError
from harness.firmware.qemu_build import build_qemu_image, firmware_dir
from harness.tensors import TensorSpec

INPUT_BYTES = 96 * 96 * 3
INSTRUCTIONS_PER_TICK = 40  # what the firmware multiplies SysTick ticks by

needs_qemu = pytest.mark.skipif(
    not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
    reason="the emulated board needs qemu-system-arm and arm-none-eabi-gcc "
           "(apt-get install qemu-system-arm gcc-arm-none-eabi libnewlib-arm-none-eabi)")


@pytest.fixture(scope="module")
def board() -> BoardSpec:
    return find_board("qemu_mps2_an386")


@pytest.fixture(scope="module")
def qemu_url(board: BoardSpec, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    driver = QemuDriver(board, tmp_path_factory.mktemp("qemu"), runner="checksum")
    assert driver.source == "emulated"
    url = driver.start(Path("no-model.tflite"))  # the checksum runner embeds no model
    try:
        yield url
    finally:
        driver.stop()
        driver.stop()  # idempotent
        assert not driver.running


@pytest.fixture(scope="module")
def link(qemu_url: str, board: BoardSpec) -> serial.SerialBase:
    return open_link(qemu_url, board.serial.baudrate)


@pytest.fixture(scope="module")
def session(link: serial.SerialBase) -> Iterator[DutSession]:
    with DutSession(link) as dut:
        # QEMU starts the guest only once the host is connected: READY is never lost
        assert dut.wait_ready(10.0)
        yield dut


@needs_qemu
def test_hello_describes_the_emulated_board(session: DutSession, board: BoardSpec) -> None:
    info = session.hello()
    assert (info.board_id, info.counter, info.clock_hz) == \
        (board.id, board.cycle_counter.kind, board.clock_hz)
    assert info.capabilities == Capability.MARKER | Capability.PER_RUN_CYCLES \
        | Capability.OUTPUT_IN_RESULT | Capability.PROFILE
    assert info.inputs == (TensorSpec("int8", (1, 96, 96, 3)),)
    assert info.outputs == (ChecksumRunner.OUTPUT_SPEC,)
    assert (info.max_payload, info.rx_window) == (1024, 4)


@needs_qemu
def test_upload_and_infer_match_the_python_runner(session: DutSession) -> None:
    data = random.Random(5).randbytes(INPUT_BYTES)
    stats = session.upload(data)
    assert stats.round_trips == 8 and stats.chunks == 28
    result = session.infer(warmups=1, runs=5, per_run=True)
    assert result.output == ChecksumRunner.checksum(data)
    cycles = result.cycles or ()
    assert len(cycles) == 5 and result.total_cycles == sum(cycles)
    # Under -icount the count is deterministic up to one SysTick tick, and it is
    # instructions: the CRC and byte-sum loops take 10 to 20 per input byte.
    assert max(cycles) - min(cycles) <= INSTRUCTIONS_PER_TICK
    assert all(c % INSTRUCTIONS_PER_TICK == 0 for c in cycles)
    assert 10 * INPUT_BYTES < cycles[0] < 20 * INPUT_BYTES


@needs_qemu
def test_resync_after_garbage_then_serves_again(session: DutSession,
                                                link: serial.SerialBase) -> None:
    session.hello()
    link.write(b"\x17" * 2000 + bytes([5, 1, 2]) + b"\x00")  # over-long, a fragment
    session.resync()
    data = bytes(range(256)) * (INPUT_BYTES // 256)
    session.upload(data)
    assert session.infer(runs=1).output == ChecksumRunner.checksum(data)
    assert session.stats.line_errors + session.stats.discarded >= 1


@needs_qemu
def test_systick_counter_selftest(tmp_path: Path) -> None:
    """SysTick counts one tick per 40 instructions under -icount shift=0, and its
    wrap handling never goes backwards or skips across thousands of wraps."""
    subprocess.run(["make", "--no-print-directory", "-C", str(firmware_dir() / "qemu"),
                    "selftest", f"BUILD={tmp_path}"], check=True, capture_output=True)
    board = find_board("qemu_mps2_an386")
    cmd = QemuDriver(board, tmp_path).command(tmp_path / "selftest.elf")
    cmd[cmd.index("-serial") + 1] = "null"
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "selftest: ok" in run.stdout + run.stderr


@needs_qemu
def test_image_is_cached_by_source_content() -> None:
    first = build_qemu_image("checksum")
    mtime = first.elf.stat().st_mtime_ns
    again = build_qemu_image("checksum")
    assert again == first and first.elf.stat().st_mtime_ns == mtime
    assert 0 < first.flash_bytes < 64 * 1024 and INPUT_BYTES < first.ram_bytes < 128 * 1024
    other = build_qemu_image("checksum", {"HP_RX_WINDOW": "8"})
    assert other.digest != first.digest and other.elf != first.elf


def test_missing_cross_compiler_is_a_board_error(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no toolchain on it
    with pytest.raises(BoardError, match="apt-get install gcc-arm-none-eabi"):
        build_qemu_image("checksum")


def test_unknown_runner_is_a_board_error() -> None:
    with pytest.raises(BoardError, match="runner 'tflm-nope'"):
        build_qemu_image("tflm-nope", cache_dir=Path("/nonexistent"))


def test_bench_qemu_board_without_tflm_says_how_to_get_it(board: BoardSpec, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TFLM_DIR", raising=False)
    driver = create_driver(board, tmp_path)
    assert isinstance(driver, QemuDriver)
    with pytest.raises(BoardError, match=r"TFLM_DIR is not set.*Getting TFLM"):
        driver.start(tmp_path / "model.tflite")
    assert not driver.running
