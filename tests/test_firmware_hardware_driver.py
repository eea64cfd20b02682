"""The hardware board driver: registry, port discovery by USB VID:PID and serial
number, and a flash that fails fast where PlatformIO's platform is missing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from serial.tools.list_ports_common import ListPortInfo

from harness.boards.driver import LinkHint, create_driver
from harness.boards.hardware_driver import HardwareDriver
from harness.boards.usb_ports import find_port, matching_ports
from harness.config.board import find_board
from harness.errors import BoardError


def _port(device: str, vid: int | None, pid: int | None, serial: str | None) -> ListPortInfo:
    info = ListPortInfo(device, skip_link_detection=True)
    info.vid, info.pid, info.serial_number = vid, pid, serial
    return info


PORTS = [
    _port("/dev/ttyACM0", 0x2341, 0x805A, "AAA111"),   # Nano 33 BLE
    _port("/dev/ttyACM1", 0x0483, 0x374B, "0670FF"),   # an ST-LINK
    _port("/dev/ttyACM2", 0x0483, 0x374B, "0671AA"),   # another ST-LINK
    _port("/dev/ttyS0", None, None, None),             # a motherboard UART
]


def test_hardware_boards_get_the_hardware_driver(tmp_path: Path) -> None:
    driver = create_driver(find_board("nano33ble"), tmp_path, LinkHint(port="/dev/ttyACM9"))
    assert isinstance(driver, HardwareDriver) and driver.source == "measured"
    driver.stop()
    driver.stop()  # nothing to release, twice


def test_the_qemu_board_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BoardError, match="builds with platformio, the board file says qemu-make"):
        HardwareDriver(find_board("qemu_mps2_an386"), tmp_path, LinkHint())


def test_ports_match_by_vid_pid_and_serial_number() -> None:
    assert [p.device for p in matching_ports(PORTS, "2341:805a")] == ["/dev/ttyACM0"]
    assert [p.device for p in matching_ports(PORTS, "0483:374B")] == \
        ["/dev/ttyACM1", "/dev/ttyACM2"]
    assert [p.device for p in matching_ports(PORTS, "0483:374b", "0671AA")] == ["/dev/ttyACM2"]
    assert matching_ports(PORTS, "10c4:ea60") == []


def test_the_bench_port_is_used_as_given() -> None:
    board = find_board("nucleo_l4r5zi")
    assert find_port(board, LinkHint(port="/dev/ttyACM7")) == "/dev/ttyACM7"


def test_no_matching_usb_device_says_what_was_looked_for() -> None:
    """This machine has no Nano plugged in: the search ends with what it wanted."""
    with pytest.raises(BoardError, match="no port with USB 2341:805a serial XYZ"):
        find_port(find_board("nano33ble"), LinkHint(serial_number="XYZ"))


def test_start_without_platformio_platform_fails_before_building(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATFORMIO_CORE_DIR", str(tmp_path / "empty-core"))
    driver = HardwareDriver(find_board("esp32dev"), tmp_path, LinkHint(port="/dev/null"))
    started = time.monotonic()
    with pytest.raises(BoardError, match=r"pio pkg install -g -p espressif32@6\.13\.0"):
        driver.start(tmp_path / "model.tflite")
    assert time.monotonic() - started < 5.0 and driver.firmware is None
