"""The emulated USB bus: ports plugged in by the fault layer are found like real ones."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from harness.boards import usb_ports
from harness.boards.driver import LinkHint
from harness.config.board import find_board
from harness.errors import BoardError


@pytest.fixture
def plugged() -> Iterator[list[str]]:
    """Paths this test plugs in; all unplugged afterwards."""
    paths: list[str] = []
    yield paths
    for path in paths:
        usb_ports.unregister(path)


def plug(paths: list[str], path: str, vid_pid: str, serial: str) -> None:
    usb_ports.register(path, *usb_ports.parse_vid_pid(vid_pid), serial, "test device")
    paths.append(path)


def test_registered_ports_are_listed_with_their_usb_identity(plugged: list[str]) -> None:
    plug(plugged, "/dev/pts/901", "2341:805A", "NANO-1")
    port = next(p for p in usb_ports.list_ports() if p.device == "/dev/pts/901")
    assert (port.vid, port.pid, port.serial_number) == (0x2341, 0x805A, "NANO-1")
    assert "2341:805A" in port.hwid.upper()
    usb_ports.unregister("/dev/pts/901")
    usb_ports.unregister("/dev/pts/901")     # unplugging twice is no error
    assert all(p.device != "/dev/pts/901" for p in usb_ports.list_ports())


def test_find_port_picks_by_vid_pid_and_serial_number(plugged: list[str]) -> None:
    nano = find_board("nano33ble")
    plug(plugged, "/dev/pts/902", "2341:805a", "A")
    assert usb_ports.find_port(nano, LinkHint()) == "/dev/pts/902"
    plug(plugged, "/dev/pts/903", "2341:805a", "B")
    with pytest.raises(BoardError, match="several ports match USB 2341:805a"):
        usb_ports.find_port(nano, LinkHint())
    assert usb_ports.find_port(nano, LinkHint(serial_number="B")) == "/dev/pts/903"
    with pytest.raises(BoardError, match=r"no port with USB 2341:805a serial C \(seen: .*"
                                         r"/dev/pts/902 \(2341:805a\)"):
        usb_ports.find_port(nano, LinkHint(serial_number="C"))
    assert usb_ports.find_port(nano, LinkHint(port="/dev/ttyACM7")) == "/dev/ttyACM7"


def test_find_port_waits_for_a_port_that_comes_back_under_another_name(
        plugged: list[str]) -> None:
    board = find_board("esp32dev")   # its own VID:PID is overridden: an emulated id
    plug(plugged, "/dev/pts/904", "1209:0001", "EMU-x")
    usb_ports.unregister("/dev/pts/904")
    later = threading.Timer(0.3, plug, (plugged, "/dev/pts/905", "1209:0001", "EMU-x"))
    later.start()
    started = time.monotonic()
    try:
        found = usb_ports.find_port(board, LinkHint(serial_number="EMU-x"), timeout=3.0,
                                    vid_pid="1209:0001")
    finally:
        later.join()
    assert found == "/dev/pts/905"
    assert 0.25 < time.monotonic() - started < 1.5
