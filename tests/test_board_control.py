"""Emulated boards on command: realtime pace, reset and hang (sim processes and QEMU)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import serial
from tiny_tflite import dense_float_model

from harness.boards.driver import LinkHint, Pace, create_driver
from harness.boards.qemu_driver import QemuDriver
from harness.boards.sim_driver import SimDriver
from harness.config.board import BoardSpec, find_board
from harness.dut.framing import Frame, FrameDecoder, encode_frame
from harness.dut.messages import Infer, MsgType
from harness.dut.pty_link import POLL_S
from harness.dut.session import DutSession, ReplyTimeout
from harness.dut.transport import open_link
from harness.errors import NoResetLine
from harness.power.sim_activity import RECORD

INPUTS, UNITS = 512, 256    # float dense: ~22 ms per inference modelled on the L4R5ZI

needs_qemu = pytest.mark.skipif(
    not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
    reason="needs qemu-system-arm and arm-none-eabi-gcc (apt-get install qemu-system-arm "
           "gcc-arm-none-eabi libnewlib-arm-none-eabi)")


@pytest.fixture(scope="module")
def board() -> BoardSpec:
    return find_board("nucleo_l4r5zi")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(1)
    return dense_float_model(tmp_path_factory.mktemp("model") / "dense.tflite",
                             rng.standard_normal((UNITS, INPUTS)).astype(np.float32),
                             np.zeros(UNITS, np.float32))


def _started(board: BoardSpec, model: Path, workdir: Path, pace: Pace) -> Iterator[SimDriver]:
    driver = create_driver(board.model_copy(update={"kind": "sim"}), workdir, LinkHint(pace=pace))
    assert isinstance(driver, SimDriver) and driver.pace == pace
    driver.start(model)
    try:
        yield driver
    finally:
        driver.stop()
    assert not driver.running


@pytest.fixture(scope="module")
def instant(board: BoardSpec, model: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimDriver]:
    yield from _started(board, model, tmp_path_factory.mktemp("instant"), "instant")


@pytest.fixture(scope="module")
def realtime(board: BoardSpec, model: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimDriver]:
    yield from _started(board, model, tmp_path_factory.mktemp("realtime"), "realtime")


@contextmanager
def _session(driver: SimDriver | QemuDriver, board: BoardSpec,
             link: serial.SerialBase | None = None) -> Iterator[DutSession]:
    session = DutSession(link or open_link(driver.relink(1.0), board.serial.baudrate)).open()
    try:
        assert session.wait_ready(5.0)
        session.hello()
        yield session
    finally:
        session.close()
        time.sleep(5 * POLL_S)  # the board sees the port close: the next open gets READY


def test_realtime_infer_takes_its_modelled_time_and_logs_it_where_it_fell(
        realtime: SimDriver, instant: SimDriver, board: BoardSpec) -> None:
    data = bytes(INPUTS * 4)
    timings = {}
    for driver in (realtime, instant):
        with _session(driver, board) as session:
            session.upload(data)
            started = time.monotonic()
            result = session.infer(warmups=0, runs=10, want_output=False)
            timings[driver.pace] = (started, time.monotonic() - started,
                                    result.total_cycles / board.clock_hz)
            if driver is realtime:     # warm-ups take wall time too
                warm_started = time.perf_counter()
                session.infer(warmups=10, runs=1, want_output=False)
                warm = time.perf_counter() - warm_started
    started, took, modelled = timings["realtime"]
    assert 0.15 < modelled < 0.4            # the model is sized for this
    assert modelled <= took < modelled + 0.2
    assert warm >= 0.95 * 11 / 10 * modelled   # 11 inferences' worth, jitter aside
    assert timings["instant"][1] < modelled / 2
    records = np.fromfile(realtime.virtual_wire, dtype=RECORD)
    timed = records[records["marker"] == 1][0]
    assert timed["realtime"] == 1 and timed["duration_s"] == pytest.approx(modelled)
    assert started <= timed["wall_start"] <= started + took - modelled


def test_sim_hang_answers_nothing_until_reset_brings_ready(instant: SimDriver,
                                                           board: BoardSpec) -> None:
    url = instant.relink(1.0)
    with _session(instant, board) as session:
        instant.hang()
        with pytest.raises(ReplyTimeout):
            session.request(MsgType.PING, b"anyone?", timeout=0.5)
        with pytest.raises(NoResetLine, match=r"serial\.reset_line: none"):
            instant.reset()                 # a NUCLEO: the host has no line to its NRST
        instant.reboot()                    # what a brown-out or a power-cycle does
        assert session.wait_ready(2.0)
        assert session.hello().board_id == f"sim:{board.id}"
    assert instant.relink(1.0) == url        # a simulated board keeps its pty


def test_reset_mid_infer_reboots_at_once_without_a_result(realtime: SimDriver,
                                                          board: BoardSpec) -> None:
    link = open_link(realtime.relink(1.0), board.serial.baudrate)
    with _session(realtime, board, link) as session:
        session.upload(bytes(INPUTS * 4))
        link.write(b"\x00" + encode_frame(MsgType.INFER, 7, Infer(0, 100, 0).pack()))
        time.sleep(0.2)                     # 100 runs: over 2 s of modelled time
        reset_at = time.monotonic()
        realtime.reboot()
        frames = _frames(link, 0.5)
        assert [f.type for f in frames] == [MsgType.READY]
        assert time.monotonic() - reset_at < 1.0


def _frames(link: serial.SerialBase, seconds: float) -> list[Frame]:
    decoder, frames = FrameDecoder(65535), []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        frames += [f for f in decoder.feed(link.read(4096)) if isinstance(f, Frame)]
    return frames


@needs_qemu
def test_qemu_hang_and_reset_over_qmp(tmp_path: Path) -> None:
    board = find_board("qemu_mps2_an386")
    driver = QemuDriver(board, tmp_path, runner="checksum")
    url = driver.start(Path("no-model.tflite"))
    try:
        with _session(driver, board) as session:
            driver.hang()
            with pytest.raises(ReplyTimeout):
                session.request(MsgType.PING, b"anyone?", timeout=0.5)
            driver.reset()
            assert session.wait_ready(5.0)      # the guest booted again on the same socket
            assert session.hello().board_id == board.id
            driver.reset()                      # a reset of a running board, too
            assert session.wait_ready(5.0)
        assert driver.relink(1.0) == url
    finally:
        driver.stop()
    assert not driver.running
