"""The DUT protocol (docs/protocol.md) on the board under test: HELLO, PING, uploads,
every error code a host can provoke, and resynchronisation after line noise."""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import pytest
import serial

from harness.config.board import BoardSpec
from harness.dut.messages import (
    Capability,
    ErrorCode,
    HelloInfo,
    InferFlags,
    MsgType,
    chunk_capacity,
    per_run_cap,
)
from harness.dut.session import DutSession
from harness.errors import DeviceError
from harness.models.tflite_inspect import inspect_tflite
from tests.hardware.suite import Target, sample_inputs

pytestmark = pytest.mark.hardware


def _error(dut: DutSession, msg_type: int, body: bytes = b"") -> ErrorCode:
    with pytest.raises(DeviceError) as refused:
        dut.request(msg_type, body)
    assert refused.value.cmd_type == msg_type
    return ErrorCode(refused.value.code)


def test_hello_describes_this_board(hello: HelloInfo, board: BoardSpec) -> None:
    # the simulated board (a stand-in for the suite's own tests) names itself sim:<id>
    assert hello.board_id in (board.id, f"sim:{board.id}")
    assert hello.counter == ("model" if hello.board_id.startswith("sim:")
                             else board.cycle_counter.kind)
    assert hello.clock_hz == board.clock_hz  # a board whose clock setup failed says so here
    assert hello.capabilities & Capability.PER_RUN_CYCLES
    assert 64 <= hello.max_payload <= 1024 and hello.rx_window >= 1
    assert len(hello.inputs) == 1 and len(hello.outputs) == 1
    assert hello.input_bytes > 0 and hello.output_bytes > 0
    assert hello.arena_used < board.memory.ram_bytes


def test_hello_reports_the_model_it_was_given(hello: HelloInfo, target: Target,
                                              model: Path) -> None:
    info = inspect_tflite(model)
    assert hello.model_hash == hashlib.sha256(model.read_bytes()).digest(), \
        f"{target.what} runs another model than {model}"
    assert (hello.inputs, hello.outputs) == (info.inputs, info.outputs)
    assert hello.arena_used > 0


def test_ping_echoes_bodies_around_the_cobs_block_edges(dut: DutSession,
                                                        hello: HelloInfo) -> None:
    for size in sorted({0, 1, 253, 254, 255, 256, 508, hello.max_payload}):
        body = os.urandom(size)
        pong = dut.request(MsgType.PING, body)
        assert (pong.type, pong.body) == (MsgType.PONG, body), size


def test_an_upload_is_acknowledged_and_runs(dut: DutSession, hello: HelloInfo) -> None:
    data = sample_inputs(hello.inputs[0], 1, seed=1)[0].tobytes()
    stats = dut.upload(data)
    chunks = -(-len(data) // chunk_capacity(hello.max_payload))
    assert stats.bytes == len(data) and stats.chunks >= chunks
    result = dut.infer(warmups=1, runs=3, per_run=True)
    assert result.output is not None and len(result.output) == hello.output_bytes
    assert result.cycles is not None and len(result.cycles) == 3


def test_every_error_a_host_can_provoke(dut: DutSession, hello: HelloInfo) -> None:
    size = hello.input_bytes
    assert _error(dut, 0x7F) == ErrorCode.UNKNOWN_CMD
    assert _error(dut, MsgType.LOAD_BEGIN, struct.pack("<I", size + 1)) == ErrorCode.BAD_ARGS
    dut.request(MsgType.LOAD_BEGIN, struct.pack("<I", size))
    # a chunk past next_offset leaves a gap
    assert _error(dut, MsgType.LOAD_CHUNK, struct.pack("<I", 4) + b"\0") == \
        ErrorCode.OUT_OF_ORDER
    infer_once = struct.pack("<HHB", 0, 1, 0)
    assert _error(dut, MsgType.INFER, infer_once) == ErrorCode.BAD_STATE  # upload incomplete
    dut.upload(bytes(size))
    assert _error(dut, MsgType.INFER, struct.pack("<HHB", 0, 0, 0)) == ErrorCode.BAD_ARGS
    assert _error(dut, MsgType.INFER, struct.pack("<HHB", 0, 1, 0x80)) == ErrorCode.BAD_ARGS
    too_many = per_run_cap(hello.max_payload) + 1
    assert _error(dut, MsgType.INFER, struct.pack("<HHB", 0, too_many, InferFlags.PER_RUN)) \
        == ErrorCode.TOO_LARGE
    dut.request(MsgType.INFER, infer_once)
    assert _error(dut, MsgType.READ_OUTPUT, struct.pack("<IH", hello.output_bytes, 1)) == \
        ErrorCode.BAD_ARGS
    # after all that the board still works
    assert dut.infer(runs=1).output is not None


def test_resync_after_line_noise(dut: DutSession, link: serial.SerialBase,
                                 hello: HelloInfo) -> None:
    dut.hello()
    # an over-long frame and a fragment, as a glitching cable delivers them
    link.write(b"\x17" * (2 * hello.max_payload) + bytes([5, 1, 2]) + b"\x00")
    dut.resync()
    assert dut.hello() == hello
