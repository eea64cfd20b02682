"""The pseudo-terminal the simulated board serves on: raw bytes, reopen, shutdown."""

from __future__ import annotations

import hashlib
import os
import select
import threading
import time

import pytest

from harness.dut.device import ChecksumRunner, ProtocolDevice
from harness.dut.messages import Infer, MsgType
from harness.dut.pty_link import POLL_S, ResetLine, open_pty, serve
from harness.dut.session import DutSession
from harness.dut.transport import open_link
from harness.errors import DeviceError
from harness.tensors import TensorSpec

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


def _serve_paced(device: ProtocolDevice, bytes_per_s: float, reset: ResetLine | None = None):
    master_fd, slave_path = open_pty()
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(master_fd, device, stop, bytes_per_s, reset),
                              daemon=True)
    thread.start()

    def finish() -> None:
        stop.set()
        thread.join(timeout=5)
        os.close(master_fd)
        assert not thread.is_alive()
    return slave_path, finish


def test_a_paced_link_carries_no_more_than_its_rate_each_way() -> None:
    rate = 115200 / 10                          # a UART bridge at 115200 Bd, 8N1
    device = ProtocolDevice(ChecksumRunner(), board_id="paced", clock_hz=1_000_000,
                            counter="model", arena_used=0, model_hash=bytes(32),
                            inputs=[TensorSpec("uint8", (2048,))],
                            outputs=[ChecksumRunner.OUTPUT_SPEC])
    slave_path, finish = _serve_paced(device, rate)
    try:
        with DutSession(open_link(slave_path)) as session:
            assert session.wait_ready(2.0)
            session.hello()
            upload = session.upload(bytes(range(256)) * 8)
            # host to board: the device takes the bytes in no faster than the line
            assert upload.seconds >= upload.wire_bytes_out / rate >= 2048 * 10 / 115200
            assert upload.seconds < 2 * (upload.wire_bytes_out + upload.wire_bytes_in) / rate \
                + 0.2
            started = time.perf_counter()
            session.request(MsgType.PING, bytes(1000))  # 1000 bytes each way
            echoed = time.perf_counter() - started
            assert 2000 / rate <= echoed < 2 * 2000 / rate + 0.2
    finally:
        finish()


def test_a_reset_reboots_the_device_forgetting_what_it_was_sent() -> None:
    reset = ResetLine()
    slave_path, finish = _serve_paced(make_device(), 115200 / 10, reset)
    try:
        with DutSession(open_link(slave_path)) as session:
            assert session.wait_ready(2.0)
            session.upload(bytes(8))
            reset.request()
            assert session.wait_ready(2.0)      # READY again, on the open port
            with pytest.raises(DeviceError, match="BAD_STATE"):  # the upload was lost
                session.request(MsgType.INFER, Infer(0, 1, 0).pack())
            assert not reset.pending()
    finally:
        finish()
        reset.close()


def test_reset_line_wakes_a_sleep_at_once() -> None:
    reset = ResetLine()
    try:
        assert reset.sleep(0.01) and not reset.take()
        threading.Timer(0.05, reset.request).start()
        started = time.monotonic()
        assert reset.sleep(5.0) is False
        assert time.monotonic() - started < 1.0
        assert reset.take() and not reset.take()
    finally:
        reset.close()
