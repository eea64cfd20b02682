"""Host session against the Python device served on a real pseudo-terminal."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import select
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import serial

from harness.dut import waits
from harness.dut.device import ChecksumRunner, ProtocolDevice, RunnerResult
from harness.dut.framing import Frame, FrameDecoder, encode_frame
from harness.dut.messages import ErrorCode, MsgType, per_run_cap
from harness.dut.pty_link import open_pty, serve, served
from harness.dut.session import DutSession, ReplyTimeout
from harness.dut.transport import open_link
from harness.errors import DeviceError, ProtocolError
from harness.tensors import TensorSpec

MAX_PAYLOAD = 1024
CHUNK = MAX_PAYLOAD - 4
WINDOW = 4
KWS_INPUT = TensorSpec("int8", (1, 96, 96, 3))     # 27,648 bytes, the MLPerf Tiny VWW input


class EchoRunner:
    """Output = input (big outputs need READ_OUTPUT); cycles count up across runs."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.calls: list[tuple[int, int]] = []
        self.delay_s = delay_s
        self._next = 1000

    def infer(self, input_data: bytes, warmups: int, runs: int) -> RunnerResult:
        self.calls.append((warmups, runs))
        time.sleep(self.delay_s)
        cycles = list(range(self._next, self._next + runs))
        self._next += runs
        return RunnerResult(input_data, cycles)


def make_device(runner=None, spec: TensorSpec = KWS_INPUT) -> ProtocolDevice:
    runner = runner or ChecksumRunner()
    out = spec if isinstance(runner, EchoRunner) else ChecksumRunner.OUTPUT_SPEC
    return ProtocolDevice(runner, board_id="pty-test", clock_hz=48_000_000, counter="model",
                          arena_used=4096, model_hash=hashlib.sha256(b"model").digest(),
                          inputs=[spec], outputs=[out], max_payload=MAX_PAYLOAD,
                          rx_window=WINDOW)


@contextmanager
def session_on(device: ProtocolDevice, **kwargs) -> Iterator[DutSession]:
    with served(device) as path, DutSession(open_link(path), **kwargs) as session:
        assert session.wait_ready(2.0)
        yield session


def pattern(n: int) -> bytes:
    return bytes((i * 7 + i // 256) & 0xFF for i in range(n))


def test_hello_reports_the_device() -> None:
    with session_on(make_device()) as session:
        info = session.hello()
    assert (info.board_id, info.max_payload, info.rx_window, info.inputs) == \
        ("pty-test", MAX_PAYLOAD, WINDOW, (KWS_INPUT,))
    assert info.model_hash == hashlib.sha256(b"model").digest()


@pytest.mark.parametrize("size", [0, 1, CHUNK, CHUNK * WINDOW, CHUNK * WINDOW * 2 + 1, 27648])
def test_upload_takes_the_round_trips_the_spec_promises(size: int) -> None:
    data = pattern(size)
    with session_on(make_device(spec=TensorSpec("uint8", (size,)))) as session:
        session.hello()
        stats = session.upload(data)
        result = session.infer(0, 1)
    chunks = math.ceil(size / CHUNK)
    assert stats.chunks == chunks and stats.bytes == size
    assert stats.round_trips == 1 + math.ceil(chunks / WINDOW)
    assert result.output == ChecksumRunner.checksum(data)   # the device holds exactly `data`
    assert stats.wire_bytes_out > size and stats.wire_bytes_in > 0


def test_27648_byte_upload_is_efficient_on_the_wire() -> None:
    with session_on(make_device()) as session:
        session.hello()
        stats = session.upload(pattern(27648))
    assert stats.round_trips == 8
    assert stats.payload_efficiency > 0.95


def test_infer_with_and_without_per_run_cycles() -> None:
    data = pattern(27648)
    with session_on(make_device()) as session:
        with_cycles = session.run(data, warmups=3, runs=5)
        total_only = session.infer(0, 5, per_run=False, want_output=False)
    per_run = ChecksumRunner.cycles_for(27648)
    assert with_cycles.cycles == (per_run,) * 5 and with_cycles.total_cycles == 5 * per_run
    assert with_cycles.output == ChecksumRunner.checksum(data)
    assert total_only.cycles is None and total_only.output is None
    assert total_only.total_cycles == 5 * per_run and total_only.output_bytes == 8


def test_big_output_is_fetched_with_read_output() -> None:
    data = pattern(27648)
    with session_on(make_device(EchoRunner())) as session:
        session.upload(data)
        before = session.stats.round_trips
        result = session.infer(0, 1)
        round_trips = session.stats.round_trips - before
    assert result.output == data and result.output_bytes == 27648
    assert round_trips == 1 + math.ceil(27648 / CHUNK)     # INFER, then READ_OUTPUTs


class PacedRunner(EchoRunner):
    """Takes ``per_inference_s`` of wall time for every warm-up and run, like a board."""

    def __init__(self, per_inference_s: float) -> None:
        super().__init__()
        self.per_inference_s = per_inference_s

    def infer(self, input_data: bytes, warmups: int, runs: int) -> RunnerResult:
        time.sleep((warmups + runs) * self.per_inference_s)
        return super().infer(input_data, warmups, runs)


def test_a_long_run_is_split_so_no_infer_outlasts_the_command_limit(monkeypatch) -> None:
    """10 warm-ups + 100 runs, scaled down: 10 ms per inference, 0.2 s per command."""
    monkeypatch.setattr(waits, "MAX_COMMAND_S", 0.2)
    runner = PacedRunner(0.01)
    with session_on(make_device(runner, spec=TensorSpec("uint8", (16,))),
                    expected_s_per_inference=0.01) as session:
        result = session.run(pattern(16), warmups=10, runs=100)
    assert runner.calls[0] == (10, 10)                    # warm-ups share the first command
    assert all(w == 0 and 1 <= n <= 20 for w, n in runner.calls[1:])
    assert sum(n for _, n in runner.calls) == 100 and len(result.cycles) == 100
    assert session.waits.measured


def test_runs_beyond_one_result_are_split_and_concatenated_in_order() -> None:
    runner = EchoRunner()
    cap = per_run_cap(MAX_PAYLOAD)
    runs = 2 * cap + 10
    with session_on(make_device(runner, spec=TensorSpec("uint8", (16,)))) as session:
        result = session.run(pattern(16), warmups=7, runs=runs)
    assert runner.calls == [(7, cap), (0, cap), (0, 10)]
    assert result.cycles == tuple(range(1000, 1000 + runs))
    assert result.total_cycles == sum(range(1000, 1000 + runs)) and result.runs == runs
    assert result.output == pattern(16)


def test_device_errors_raise_device_error_with_code_and_command() -> None:
    with session_on(make_device()) as session:
        with pytest.raises(DeviceError) as caught:
            session.infer(0, 1)
        assert (caught.value.code, caught.value.cmd_type) == (ErrorCode.BAD_STATE, MsgType.INFER)
        with pytest.raises(DeviceError, match="UNKNOWN_CMD"):
            session.request(0x42)
        with pytest.raises(DeviceError, match=r"BAD_ARGS .* LOAD_BEGIN of 5 bytes"):
            session.upload(b"12345")
        assert session.request(MsgType.PING, b"still here").body == b"still here"


class FailingRunner:
    def infer(self, input_data: bytes, warmups: int, runs: int) -> RunnerResult:
        raise MemoryError("arena exhausted")


def test_runtime_failure_and_oversized_requests_reach_the_host_as_device_errors() -> None:
    with session_on(make_device(FailingRunner(), spec=TensorSpec("uint8", (4,)))) as session:
        session.upload(b"abcd")
        with pytest.raises(DeviceError, match="MemoryError: arena exhausted") as caught:
            session.infer(0, 1)
        assert caught.value.code == ErrorCode.INFER_FAILED
        with pytest.raises(DeviceError) as caught:
            session.request(MsgType.INFER, struct.pack("<HHB", 0, per_run_cap(MAX_PAYLOAD) + 1, 1))
        assert caught.value.code == ErrorCode.TOO_LARGE
        assert session.hello().board_id == "pty-test"      # still serving


class LossyPort:
    """The host's serial port with a bad line: one write loses or garbles one frame."""

    def __init__(self, port: serial.SerialBase, write_index: int, frame_index: int,
                 mode: str) -> None:
        self._port, self._write_index, self._frame_index, self._mode = \
            port, write_index, frame_index, mode
        self._writes = 0

    def __getattr__(self, name: str):
        return getattr(self._port, name)

    def write(self, data: bytes) -> int | None:
        self._writes += 1
        if self._writes == self._write_index:
            parts = bytes(data).split(b"\x00")     # b"", frame, frame, ..., b""
            frame = bytearray(parts[1 + self._frame_index])
            if self._mode == "drop":
                frame = bytearray()
            else:   # flip a bit in the middle of the frame, never making a 0x00
                i = next(i for i in range(len(frame) // 2, len(frame)) if frame[i] not in (1, 0x81))
                frame[i] ^= 0x80 if frame[i] != 0x80 else 0x01
            parts[1 + self._frame_index] = bytes(frame)
            data = b"\x00".join(p for p in parts if p) + b"\x00"
        return self._port.write(data)


@pytest.mark.parametrize("mode", ["drop", "flip"])
def test_upload_recovers_from_a_lost_or_garbled_chunk(mode: str, caplog) -> None:
    data = pattern(27648)
    with served(make_device()) as path:
        # writes: HELLO, LOAD_BEGIN, then the first window; spoil its second chunk
        port = LossyPort(open_link(path), write_index=3, frame_index=1, mode=mode)
        with DutSession(port) as session, caplog.at_level(logging.WARNING):  # type: ignore[arg-type]
            session.hello()
            stats = session.upload(data)
            result = session.infer(0, 1)
    expected = "OUT_OF_ORDER" if mode == "drop" else "BAD_CRC"
    assert expected in caplog.text
    assert result.output == ChecksumRunner.checksum(data)
    assert session.stats.resyncs == 1
    # the spoilt window is sent again in half-size chunks (2,040 bytes), then full ones:
    # 4 spoilt + 4 half + 26 full chunks
    assert stats.chunks == WINDOW + WINDOW + math.ceil((27648 - 2 * CHUNK) / CHUNK)
    assert stats.round_trips == 1 + 1 + 1 + 1 + 7       # begin, failed, resync, half, 7 full


def test_garbage_on_the_line_mid_session_is_survived() -> None:
    data = pattern(27648)
    with served(make_device()) as path, DutSession(raw := open_link(path)) as session:
        session.upload(data)
        raw.write(b"\x13\x37 line noise \xff\xfe without a delimiter")
        assert session.infer(0, 2).output == ChecksumRunner.checksum(data)
        raw.write(b"noise\x00more noise")
        session.resync()
        assert session.infer(0, 1).output == ChecksumRunner.checksum(data)
        # the noise glued to the first INFER garbled it: resynced and sent again
        assert session.stats.line_errors >= 1 and session.stats.resends == 1
        assert session.stats.resyncs == 2


def test_garbage_from_the_device_is_dropped_by_the_host() -> None:
    device = make_device()
    master_fd, slave_path = open_pty()
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(master_fd, device, stop), daemon=True)
    thread.start()
    try:
        with DutSession(open_link(slave_path)) as session:
            session.wait_ready(2.0)
            os.write(master_fd, b"\x02\xff\xff\x00\x09garbage")    # device side of the line
            session.resync()
            assert session.hello().board_id == "pty-test"
            assert session.stats.garbled_in >= 1
    finally:
        stop.set()
        thread.join(timeout=5)
        os.close(master_fd)


def test_a_ping_lost_to_noise_is_no_hang() -> None:
    """The first PONG is lost on the line: the next PING is answered, no BoardSilent."""
    master_fd, slave_path = open_pty()
    pings = []

    def serve() -> None:
        decoder = FrameDecoder(64)
        while len(pings) < 2:
            select.select([master_fd], [], [], 0.1)
            try:
                data = os.read(master_fd, 256)
            except OSError:      # non-blocking, and EIO until the slave is open
                continue
            for frame in decoder.feed(data):
                assert isinstance(frame, Frame)
                pings.append(frame)
                if len(pings) == 2:       # the first went unanswered
                    os.write(master_fd, encode_frame(MsgType.PONG, frame.seq, frame.body))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with DutSession(open_link(slave_path), timeout=0.3) as session:
            session.resync(0.3)
            assert session.stats.resyncs == 2
        assert [p.type for p in pings] == [MsgType.PING, MsgType.PING]
    finally:
        thread.join(timeout=5)
        os.close(master_fd)


def test_silent_device_times_out_saying_what_was_awaited() -> None:
    master_fd, slave_path = open_pty()       # nobody serves the master
    try:
        with DutSession(open_link(slave_path), timeout=0.2, retries=0) as session:
            assert not session.wait_ready(0.1)
            with pytest.raises(ReplyTimeout,
                               match=r"no reply to HELLO on /dev/pts/\d+ .*, nor to a PING"):
                session.hello()
            with pytest.raises(ProtocolError, match=r"resync failed .* no PONG to 3 PINGs"):
                session.resync()
    finally:
        os.close(master_fd)


def test_infer_past_an_explicit_timeout_finds_the_board_busy_and_skips_its_late_result(
        ) -> None:
    runner = EchoRunner(delay_s=0.3)
    with session_on(make_device(runner, spec=TensorSpec("uint8", (4,)))) as session:
        session.upload(b"abcd")
        with pytest.raises(ReplyTimeout, match=r"no valid reply to INFER .* in 3 tries of "
                                               r".* though the board answers PING"):
            session.infer(0, 1, timeout=0.05)     # each later PING waits out the inference
        time.sleep(0.35)
        assert runner.calls == [(0, 1)] * 3
        assert session.infer(0, 1, timeout=2.0).output == b"abcd"     # stale RESULT skipped
        assert session.stats.discarded >= 1


def test_session_life_cycle_is_explicit_and_idempotent() -> None:
    with served(make_device()) as path:
        port = open_link(path)
        session = DutSession(port)
        with pytest.raises(ProtocolError, match="not open"):
            session.hello()
        session.open()
        session.open()
        assert session.wait_ready(2.0)
        session.close()
        session.close()
        assert not port.is_open
        with session:                      # reopens the same port
            session.resync()               # too quick a reopen for the device to notice
            assert session.hello().board_id == "pty-test"
