"""The hardware suite (tests/hardware/) itself, run as a user runs it, so it cannot rot
where no board and no TFLM are: against the QEMU board's checksum runner, against a
simulated board running a model (the model path: HELLO, latency model, host runtime),
and with no port at all (every test skipped, saying why)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.boards.qemu_driver import QemuDriver
from harness.boards.sim_driver import SimDriver
from harness.config.board import find_board
from tests.tiny_tflite import small_int8_cnn

ROOT = Path(__file__).resolve().parents[1]


def _suite(*options: str, env: dict[str, str] | None = None) -> tuple[dict[str, int], str]:
    run = subprocess.run([sys.executable, "-m", "pytest", "tests/hardware", "-q", "-rs",
                          "-p", "no:cacheprovider", *options], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", summary)}
    return counts, run.stdout + run.stderr


@pytest.fixture
def checksum_board(tmp_path: Path) -> Iterator[str]:
    if not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")):
        pytest.skip("needs qemu-system-arm and arm-none-eabi-gcc")
    driver = QemuDriver(find_board("qemu_mps2_an386"), tmp_path, runner="checksum")
    url = driver.start(tmp_path / "no-model.tflite")
    try:
        yield url
    finally:
        driver.stop()


@pytest.mark.slow
def test_the_suite_passes_on_the_emulated_checksum_board(checksum_board: str) -> None:
    counts, output = _suite("--hardware-port", checksum_board, "--board", "qemu_mps2_an386")
    # skipped: the 3 tests that need a model, and the host-clock comparison (virtual time)
    assert counts == {"passed": 8, "skipped": 4}, output
    assert "reports no model (the checksum runner)" in output
    assert "QEMU's virtual time" in output


@pytest.mark.slow
def test_the_suite_passes_on_a_simulated_board_running_a_model(tmp_path: Path) -> None:
    model = small_int8_cnn(tmp_path / "cnn.tflite")
    driver = SimDriver(find_board("nucleo_l4r5zi"), tmp_path)
    pty = driver.start(model)
    try:
        counts, output = _suite("--hardware-port", pty, "--board", "nucleo_l4r5zi",
                                "--hardware-model", str(model))
        # skipped: the checksum runner's 2 tests, the host-clock comparison (modelled time)
        assert counts == {"passed": 9, "skipped": 3}, output
        assert "the latency model, not on a clock" in output
        # without the model file the board's model is named, and its checks skipped
        counts, output = _suite("--hardware-port", pty, "--board", "nucleo_l4r5zi")
        assert "give it with --hardware-model PATH" in output and "failed" not in counts
    finally:
        driver.stop()


def test_without_a_port_or_tflm_every_test_says_why_it_skips(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TFLM_DIR", raising=False)
    counts, output = _suite()
    assert set(counts) == {"skipped"} and counts["skipped"] >= 10, output
    assert "no --hardware-port given, and the emulated board cannot stand in: TFLM_DIR is " \
           "not set" in output


def test_a_port_without_its_board_is_a_usage_error() -> None:
    counts, output = _suite("--hardware-port", "socket://127.0.0.1:9")
    assert "--hardware-port needs --board BOARD_ID" in output and "passed" not in counts
