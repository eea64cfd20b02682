"""The hardware suite: protocol, performance and accuracy against whatever board is on a port.

    pytest tests/hardware --hardware-port PORT --board BOARD_ID [--hardware-model PATH]

Without ``--hardware-port`` it runs against the emulated board when TFLM is there
(TFLM_DIR, qemu-system-arm, the Arm compiler): QEMU with the TFLM image of a
small int8 CNN, so CI keeps the suite alive. Otherwise every test is skipped with
the reason. A board that reports no model (the checksum runner) gets the
checksum checks instead of the comparison with the TFLM host runtime.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from harness.boards.qemu_driver import QemuDriver
from harness.config.board import BoardSpec, find_board
from harness.dut.messages import HelloInfo
from harness.dut.session import DutSession
from harness.dut.transport import open_link
from tests.hardware.suite import NO_MODEL_HASH, Target
from tests.skips import TFLM_IN_QEMU
from tests.tiny_tflite import small_int8_cnn

QEMU_BOARD = "qemu_mps2_an386"


def _qemu_tflm_missing() -> str:
    """Why the emulated board cannot run a model here ("" when it can)."""
    return next((mark.kwargs["reason"] for mark in TFLM_IN_QEMU if mark.args[0]), "")


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    port = request.config.getoption("--hardware-port")
    board_id = request.config.getoption("--board")
    model_opt = request.config.getoption("--hardware-model")
    model = Path(model_opt) if model_opt else None
    if model is not None and not model.is_file():
        raise pytest.UsageError(f"--hardware-model {model}: no such file")
    if port:
        if not board_id:
            raise pytest.UsageError("--hardware-port needs --board BOARD_ID (boards/*.yaml)")
        yield Target(port, find_board(board_id), model, f"{board_id} on {port}")
        return
    if board_id:
        raise pytest.UsageError("--board names the board on --hardware-port; give the port")
    missing = _qemu_tflm_missing()
    if missing:
        pytest.skip(f"no --hardware-port given, and the emulated board cannot stand in: "
                    f"{missing}")
    board = find_board(QEMU_BOARD)
    workdir = tmp_path_factory.mktemp("hardware-qemu")
    model = model or small_int8_cnn(workdir / "small_int8_cnn.tflite")
    driver = QemuDriver(board, workdir, runner="tflm")
    url = driver.start(model)
    try:
        yield Target(url, board, model, f"the emulated {QEMU_BOARD} (QEMU, TFLM) on {url}")
    finally:
        driver.stop()


@pytest.fixture(scope="session")
def link(target: Target) -> serial.SerialBase:
    return open_link(target.url, target.board.serial.baudrate)


@pytest.fixture(scope="session")
def dut(target: Target, link: serial.SerialBase) -> Iterator[DutSession]:
    """One session for the whole suite, as a bench job has one per board."""
    ready_wait = 5.0 if target.board.serial.resets_on_open else 1.0
    with DutSession(link, bytes_per_s=target.board.serial.bytes_per_s) as session:
        if not session.wait_ready(ready_wait):  # booted before we opened the port
            session.resync()
        yield session


@pytest.fixture(scope="session")
def hello(dut: DutSession) -> HelloInfo:
    return dut.hello()


@pytest.fixture(scope="session")
def board(target: Target) -> BoardSpec:
    return target.board


@pytest.fixture(scope="session")
def runs_a_model(hello: HelloInfo) -> bool:
    return hello.model_hash != NO_MODEL_HASH


@pytest.fixture(scope="session")
def model(target: Target, hello: HelloInfo, runs_a_model: bool) -> Path:
    """The .tflite the board runs: skip when the suite does not have it."""
    if not runs_a_model:
        pytest.skip(f"{target.what} reports no model (the checksum runner): the checksum "
                    "checks run instead")
    if target.model is None:
        pytest.skip(f"{target.what} runs the model with SHA-256 {hello.model_hash.hex()[:16]}…;"
                    " give it with --hardware-model PATH to compare outputs and cycles")
    return target.model
