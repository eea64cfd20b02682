"""The Python device, driven byte for byte (no I/O): every error code, ACK cadence, runners."""

from __future__ import annotations

import hashlib
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.dut.device import ChecksumRunner, ProtocolDevice, RunnerResult
from harness.dut.framing import Frame, FrameDecoder, encode_frame
from harness.dut.messages import (
    Ack,
    ErrorCode,
    ErrorReply,
    HelloInfo,
    Infer,
    InferFlags,
    InferResult,
    LoadBegin,
    LoadChunk,
    MsgType,
    Output,
    ReadOutput,
    Ready,
    per_run_cap,
    unpack_message,
)
from harness.tensors import TensorSpec

INPUT = TensorSpec("uint8", (10,))


class EchoRunner:
    """Output = input; cycles count up across calls, so their order is visible."""

    def __init__(self) -> None:
        self.next_cycle = 100

    def infer(self, input_data: bytes, warmups: int, runs: int) -> RunnerResult:
        cycles = list(range(self.next_cycle, self.next_cycle + runs))
        self.next_cycle += runs
        return RunnerResult(input_data, cycles)


class FailingRunner:
    def infer(self, input_data: bytes, warmups: int, runs: int) -> RunnerResult:
        raise RuntimeError("arena too small")


def make_device(runner=None, input_spec: TensorSpec = INPUT, output_spec=None,
                max_payload: int = 128, rx_window: int = 3) -> ProtocolDevice:
    runner = runner or ChecksumRunner()
    if output_spec is None:
        output_spec = input_spec if isinstance(runner, EchoRunner) else ChecksumRunner.OUTPUT_SPEC
    return ProtocolDevice(runner, board_id="unit", clock_hz=1_000_000, counter="model",
                          arena_used=1234, model_hash=hashlib.sha256(b"model").digest(),
                          inputs=[input_spec], outputs=[output_spec],
                          max_payload=max_payload, rx_window=rx_window)


def exchange(device: ProtocolDevice, msg_or_frame, seq: int = 7) -> list[tuple[Frame, object]]:
    """Send one message (or raw wire bytes); return the reply frames and their messages."""
    wire = msg_or_frame if isinstance(msg_or_frame, bytes) else \
        encode_frame(msg_or_frame.TYPE, seq, msg_or_frame.pack())
    frames = FrameDecoder(0xFFFF).feed(device.feed(wire))
    return [(f, unpack_message(f.type, f.body)) for f in frames]  # type: ignore[union-attr]


def only(device: ProtocolDevice, msg_or_frame, seq: int = 7):
    [(frame, msg)] = exchange(device, msg_or_frame, seq)
    return frame, msg


def error_of(device: ProtocolDevice, msg_or_frame, seq: int = 7) -> tuple[int, ErrorReply]:
    frame, msg = only(device, msg_or_frame, seq)
    assert isinstance(msg, ErrorReply), msg
    return frame.seq, msg


def upload(device: ProtocolDevice, data: bytes) -> None:
    assert only(device, LoadBegin(len(data)))[1] == Ack(0, device.info.rx_window)
    size = device.info.max_payload - 4
    for off in range(0, len(data), size):
        chunk = LoadChunk(off, data[off:off + size])
        device.feed(encode_frame(chunk.TYPE, 9, chunk.pack()))


def test_boot_sends_ready_and_hello_describes_the_device() -> None:
    device = make_device()
    [ready] = FrameDecoder(64).feed(device.boot())
    assert (ready.type, ready.seq, Ready.unpack(ready.body)) == (MsgType.READY, 0, Ready(1))
    frame, info = only(device, encode_frame(MsgType.HELLO, 42, b""))
    assert frame.seq == 42 and isinstance(info, HelloInfo)
    assert (info.max_payload, info.rx_window, info.inputs, info.capabilities) == \
        (128, 3, (INPUT,), 0b1110)     # per-run cycles, output in RESULT, PROFILE


def test_ack_after_every_window_and_at_completion_with_restarts_allowed() -> None:
    device = make_device(input_spec=TensorSpec("uint8", (124 * 4 + 5,)), rx_window=3)
    data = bytes(range(256)) + bytes(range(245))
    only(device, LoadBegin(len(data)))
    chunk = lambda off: LoadChunk(off, data[off:off + 124])  # noqa: E731
    assert exchange(device, chunk(0)) == [] and exchange(device, chunk(124)) == []
    assert only(device, chunk(248))[1] == Ack(372, 3)
    # going back to an offset already held is a restart, not an error
    assert exchange(device, chunk(124)) == [] and exchange(device, chunk(248)) == []
    assert only(device, chunk(372))[1] == Ack(496, 3)
    assert only(device, LoadChunk(496, data[496:]))[1] == Ack(501, 3)    # completes: ACK now
    _, result = only(device, Infer(0, 1, InferFlags.WANT_OUTPUT))
    assert result.output == ChecksumRunner.checksum(data)


def test_any_reply_restarts_the_window_count() -> None:
    device = make_device(input_spec=TensorSpec("uint8", (124 * 5,)), rx_window=3)
    only(device, LoadBegin(620))
    exchange(device, LoadChunk(0, bytes(124)))
    only(device, encode_frame(MsgType.PING, 3, b"x"))      # a reply closes the window
    assert exchange(device, LoadChunk(124, bytes(124))) == []
    assert exchange(device, LoadChunk(248, bytes(124))) == []
    assert only(device, LoadChunk(372, bytes(124)))[1] == Ack(496, 3)


def test_zero_byte_input_is_complete_after_load_begin() -> None:
    device = make_device(input_spec=TensorSpec("uint8", (0,)))
    assert only(device, LoadBegin(0))[1] == Ack(0, 3)
    assert only(device, Infer(0, 1, InferFlags.WANT_OUTPUT))[1].output == \
        ChecksumRunner.checksum(b"")


def test_result_includes_per_run_cycles_and_output_when_it_fits() -> None:
    device = make_device(EchoRunner())
    upload(device, b"0123456789")
    _, result = only(device, Infer(2, 3, InferFlags.PER_RUN | InferFlags.WANT_OUTPUT))
    assert result == InferResult(3, 100 + 101 + 102, (100, 101, 102), b"0123456789", 10)
    _, result = only(device, Infer(0, 2, 0))
    assert result == InferResult(2, 103 + 104, None, None, 10)


def test_output_too_big_for_result_is_read_with_read_output() -> None:
    spec = TensorSpec("uint8", (300,))
    device = make_device(EchoRunner(), input_spec=spec, max_payload=128)
    data = bytes(range(256)) + bytes(44)
    upload(device, data)
    _, result = only(device, Infer(0, 1, InferFlags.WANT_OUTPUT))
    assert result.output is None and result.output_bytes == 300
    pieces = [only(device, ReadOutput(off, min(124, 300 - off)))[1] for off in (0, 124, 248)]
    assert pieces[1] == Output(124, data[124:248])
    assert b"".join(p.data for p in pieces) == data


def test_checksum_runner_is_crc32_plus_byte_sum_with_length_cycles() -> None:
    data = b"\xff" * 1000
    result = ChecksumRunner().infer(data, warmups=3, runs=4)
    assert result.output == struct.pack("<II", zlib.crc32(data), 255_000)
    assert result.cycles == [ChecksumRunner.BASE_CYCLES + ChecksumRunner.CYCLES_PER_BYTE * 1000] * 4


# --- every error code --------------------------------------------------------

def test_bad_frame_for_garbage_and_an_overlong_frame() -> None:
    device = make_device(max_payload=128)
    seq, err = error_of(device, b"\x05ab\x00")
    assert (seq, err.code, err.cmd_type) == (0, ErrorCode.BAD_FRAME, 0)
    seq, err = error_of(device, encode_frame(MsgType.PING, 5, bytes(129)))
    assert (seq, err.code) == (0, ErrorCode.BAD_FRAME) and "longer" in err.message


def test_bad_crc_for_a_corrupted_frame() -> None:
    wire = bytearray(encode_frame(MsgType.HELLO, 5, b""))
    wire[2] ^= 0x10                            # the seq byte: COBS stays valid
    seq, err = error_of(make_device(), bytes(wire))
    assert (seq, err.code, err.cmd_type) == (0, ErrorCode.BAD_CRC, 0)


@pytest.mark.parametrize("msg_type", [0x00, 0x08, 0x7F, MsgType.ACK, MsgType.READY])
def test_unknown_cmd_names_the_type(msg_type: int) -> None:
    seq, err = error_of(make_device(), encode_frame(msg_type, 11, b""), seq=11)
    assert (seq, err.code, err.cmd_type) == (11, ErrorCode.UNKNOWN_CMD, msg_type)


@pytest.mark.parametrize(("wire", "needle"), [
    (LoadBegin(11), "LOAD_BEGIN of 11 bytes; the input tensors take 10"),
    (encode_frame(MsgType.LOAD_BEGIN, 7, b"\x01"), "field 'total_bytes'"),
    (encode_frame(MsgType.HELLO, 7, b"\x01"), "HELLO: 1 unexpected bytes"),
    (Infer(0, 0, 0), "runs must be ≥ 1"),
    (Infer(0, 1, 0x04), "flags=0x04"),
])
def test_bad_args(wire, needle: str) -> None:
    device = make_device()
    upload(device, bytes(10))
    _, err = error_of(device, wire)
    assert err.code == ErrorCode.BAD_ARGS and needle in err.message


def test_bad_args_for_empty_or_overrunning_chunks() -> None:
    device = make_device()
    only(device, LoadBegin(10))
    assert error_of(device, LoadChunk(0, b""))[1].code == ErrorCode.BAD_ARGS
    _, err = error_of(device, LoadChunk(0, bytes(11)))
    assert err.code == ErrorCode.BAD_ARGS and "past the input's 10 bytes" in err.message


def test_bad_state_before_upload_and_before_infer() -> None:
    device = make_device()
    assert error_of(device, LoadChunk(0, b"x"))[1].code == ErrorCode.BAD_STATE
    assert error_of(device, Infer(0, 1, 0))[1].code == ErrorCode.BAD_STATE
    assert error_of(device, ReadOutput(0, 1))[1].code == ErrorCode.BAD_STATE
    only(device, LoadBegin(10))
    exchange(device, LoadChunk(0, bytes(4)))
    _, err = error_of(device, Infer(0, 1, 0))
    assert err.code == ErrorCode.BAD_STATE and "have 4 of 10 bytes" in err.message


def test_out_of_order_keeps_what_was_received() -> None:
    device = make_device()
    only(device, LoadBegin(10))
    exchange(device, LoadChunk(0, b"abcd"))
    seq, err = error_of(device, LoadChunk(6, b"ghij"), seq=33)
    assert (seq, err.code, err.cmd_type) == (33, ErrorCode.OUT_OF_ORDER, MsgType.LOAD_CHUNK)
    assert "next_offset is 4" in err.message
    assert only(device, LoadChunk(4, b"efghij"))[1] == Ack(10, 3)


def test_too_large_for_per_run_cycles_and_read_output() -> None:
    device = make_device(max_payload=128)
    upload(device, bytes(10))
    cap = per_run_cap(128)
    assert only(device, Infer(0, cap, InferFlags.PER_RUN))[1].runs == cap
    assert error_of(device, Infer(0, cap + 1, InferFlags.PER_RUN))[1].code == ErrorCode.TOO_LARGE
    assert error_of(device, ReadOutput(0, 125))[1].code == ErrorCode.TOO_LARGE
    assert error_of(device, ReadOutput(4, 5))[1].code == ErrorCode.BAD_ARGS   # past 8 bytes


def test_infer_failed_reports_the_runtime_error_and_the_device_keeps_serving() -> None:
    device = make_device(FailingRunner())
    upload(device, bytes(10))
    _, err = error_of(device, Infer(0, 1, 0))
    assert err.code == ErrorCode.INFER_FAILED and "RuntimeError: arena too small" in err.message
    assert error_of(device, ReadOutput(0, 1))[1].code == ErrorCode.BAD_STATE
    assert isinstance(only(device, encode_frame(MsgType.HELLO, 1, b""))[1], HelloInfo)


def test_infer_failed_when_the_runner_breaks_its_contract() -> None:
    class ShortRunner:
        def infer(self, input_data: bytes, warmups: int, runs: int) -> RunnerResult:
            return RunnerResult(b"", [1] * runs)

    device = make_device(ShortRunner())
    upload(device, bytes(10))
    assert error_of(device, Infer(0, 1, 0))[1].code == ErrorCode.INFER_FAILED


def test_error_messages_fit_a_small_max_payload() -> None:
    device = make_device(max_payload=100)
    _, err = error_of(device, encode_frame(MsgType.LOAD_BEGIN, 7, bytes(90)))
    assert err.code == ErrorCode.BAD_ARGS and len(err.pack()) <= 100


def test_constructor_rejects_a_max_payload_too_small_for_hello_info() -> None:
    with pytest.raises(ValueError, match="HELLO_INFO takes"):
        make_device(max_payload=40)
    with pytest.raises(ValueError, match="rx_window"):
        make_device(rx_window=0)


@settings(max_examples=300)
@given(msg_type=st.integers(0, 255), seq=st.integers(0, 255), body=st.binary(max_size=140),
       garbage=st.binary(max_size=200))
def test_any_input_gets_well_formed_replies_and_never_raises(msg_type: int, seq: int,
                                                             body: bytes, garbage: bytes) -> None:
    device = make_device(EchoRunner())
    upload(device, bytes(10))
    out = device.feed(garbage + b"\x00" + encode_frame(msg_type, seq, body))
    for frame in FrameDecoder(128).feed(out):
        assert isinstance(frame, Frame) and frame.type & 0x80
        unpack_message(frame.type, frame.body)
