"""The pseudo-terminal the simulated board serves on: raw bytes, reopen, shutdown."""

from __future__ import annotations

import hashlib
import os
import select
import threading
import time

from harness.dut.device import ChecksumRunner, ProtocolDevice
from harness.dut.pty_link import POLL_S, open_pty, serve
from harness.dut.session import DutSession
from harness.dut.transport import open_link

EVERY_BYTE = bytes(range(256)) + b"\r\n\x00\n\r\x00\x11\x13\x03\x04\x1a"


def make_device() -> ProtocolDevice:
    return ProtocolDevice(ChecksumRunner(), board_id="pty", clock_hz=1_000_000, counter="model",
                          arena_used=0, model_hash=hashlib.sha256(b"").digest(),
                          inputs=[ChecksumRunner.OUTPUT_SPEC],
                          outputs=[ChecksumRunner.OUTPUT_SPEC])


def read_exactly(fd: int, n: int, timeout: float = 2.0) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while len(data) < n and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.05)[0]:
            data += os.read(fd, n - len(data))
    return data


def test_slave_is_raw_every_byte_passes_unchanged_both_ways_without_echo() -> None:
    master_fd, slave_path = open_pty()
    # os.open, not pyserial: the pty itself must be raw, whoever opens it
    slave_fd = os.open(slave_path, os.O_RDWR | os.O_NOCTTY)
    try:
        os.set_blocking(master_fd, True)
        os.write(master_fd, EVERY_BYTE)
        assert read_exactly(slave_fd, len(EVERY_BYTE)) == EVERY_BYTE
        os.write(slave_fd, EVERY_BYTE)
        assert read_exactly(master_fd, len(EVERY_BYTE)) == EVERY_BYTE
        assert read_exactly(master_fd, 1, timeout=0.1) == b""       # nothing echoed back
    finally:
        os.close(slave_fd)
        os.close(master_fd)


def test_serving_survives_the_host_closing_and_reopening_and_reboots_on_open() -> None:
    master_fd, slave_path = open_pty()
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(master_fd, make_device(), stop), daemon=True)
    thread.start()
    try:
        for _ in range(3):
            with DutSession(open_link(slave_path)) as session:
                assert session.wait_ready(2.0)          # READY on every open: like a board
                assert session.hello().board_id == "pty"
            time.sleep(5 * POLL_S)                      # slave closed: the master reads EIO
            assert thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=5)
        os.close(master_fd)
    assert not thread.is_alive()


def test_without_a_stop_event_serving_ends_when_the_host_closes() -> None:
    master_fd, slave_path = open_pty()
    thread = threading.Thread(target=serve, args=(master_fd, make_device()), daemon=True)
    thread.start()
    try:
        time.sleep(3 * POLL_S)
        assert thread.is_alive()                        # waits for its first opener
        with DutSession(open_link(slave_path)) as session:
            assert session.wait_ready(2.0)
        thread.join(timeout=2)
        assert not thread.is_alive()
    finally:
        os.close(master_fd)


def test_serving_ends_when_the_master_is_closed() -> None:
    master_fd, _ = open_pty()
    thread = threading.Thread(target=serve, args=(master_fd, make_device(), threading.Event()),
                              daemon=True)
    thread.start()
    os.close(master_fd)
    thread.join(timeout=2)
    assert not thread.is_alive()
