"""The C protocol core (firmware/lib/harness_proto): host unit tests, and the C core
against the Python host code on a real pseudo-terminal.

``firmware/test`` builds the core with the host compiler under ASan/UBSan: once as
unit tests (``make test``), once as ``host_device``, which serves the core with the
checksum runner on a pty like the simulated board does. The Python side checks that
the C core answers every command exactly as harness/dut/device.py does, and that
frames encoded by either side decode on the other.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import re
import shutil
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from harness.dut.device import ChecksumRunner, ProtocolDevice
from harness.dut.framing import (
    DELIMITER,
    PROTOCOL_MAX_PAYLOAD,
    Frame,
    FrameDecoder,
    encode_frame,
)
from harness.dut.messages import ErrorReply, InferResult, MsgType, ProfileData, per_run_cap
from harness.dut.session import DutSession
from harness.dut.transport import open_link
from harness.paths import project_root
from harness.tensors import TensorSpec

TEST_DIR = project_root() / "firmware" / "test"
HOST_DEVICE = TEST_DIR / "build" / "host_device"
INPUT_SPEC = TensorSpec("int8", (1, 96, 96, 3))
INPUT_BYTES = INPUT_SPEC.nbytes
CHUNK = 1020  # max_payload 1024 - 4

pytestmark = pytest.mark.skipif(
    not (shutil.which("make") and (shutil.which("cc") or shutil.which("gcc"))),
    reason="the C core's host tests need make and a C compiler (apt-get install build-essential)")


def _make(target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "--no-print-directory", "-C", str(TEST_DIR), target],
                          capture_output=True, text=True, timeout=300, check=False)


def test_c_unit_tests_pass() -> None:
    """COBS/CRC vectors, every command, corrupt frames, a 300k-frame seeded fuzz."""
    run = _make("test")
    assert run.returncode == 0, f"firmware/test unit tests failed:\n{run.stdout[-4000:]}" \
                                f"\n{run.stderr[-4000:]}"
    summary = re.search(r"^(\d+) passed, (\d+) failed$", run.stdout, re.MULTILINE)
    assert summary and int(summary[1]) >= 20 and summary[2] == "0", run.stdout[-2000:]


@pytest.fixture(scope="module")
def host_device_binary() -> Path:
    run = _make("host-device")
    assert run.returncode == 0, f"building host_device failed:\n{run.stderr[-4000:]}"
    return HOST_DEVICE


@pytest.fixture
def c_device(host_device_binary: Path) -> Iterator[str]:
    """A fresh C device on a pty; yields the slave path."""
    proc = subprocess.Popen([str(host_device_binary)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("PTY "), f"host_device said {line!r}"
        yield line.split()[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        assert proc.returncode in (0, -15), f"host_device ended with {proc.returncode}"


def _python_twin() -> ProtocolDevice:
    """What the C host device should be, in Python."""
    return ProtocolDevice(ChecksumRunner(), board_id="host", clock_hz=1_000_000_000,
                          counter="host-ns", arena_used=0, model_hash=hashlib.sha256().digest(),
                          inputs=[INPUT_SPEC], outputs=[ChecksumRunner.OUTPUT_SPEC],
                          max_payload=1024, rx_window=4)


def test_session_against_c_core(c_device: str) -> None:
    data = random.Random(1).randbytes(INPUT_BYTES)
    with DutSession(open_link(c_device)) as session:
        assert session.wait_ready(5.0)
        assert session.hello() == _python_twin().info
        stats = session.upload(data)
        assert stats.round_trips == 1 + math.ceil(math.ceil(INPUT_BYTES / CHUNK) / 4)
        result = session.infer(warmups=1, runs=300, per_run=True)  # two INFERs: 251 + 49
    assert result.output == ChecksumRunner.checksum(data)
    assert result.cycles is not None and len(result.cycles) == 300
    assert result.total_cycles == sum(result.cycles) > 0


def test_session_profiles_the_c_core(c_device: str) -> None:
    """The C checksum runner's two passes, timed by the host's clock (ns)."""
    data = random.Random(3).randbytes(INPUT_BYTES)
    with DutSession(open_link(c_device)) as session:
        assert session.wait_ready(5.0)
        session.upload(data)
        profile = session.profile(runs=5)
        output = session.read_output(8)
    assert profile.runs == 5 and len(profile.op_cycles) == 2 and min(profile.op_cycles) > 0
    assert sum(profile.op_cycles) <= profile.total_cycles
    assert output == ChecksumRunner.checksum(data)


def _scenario(data: bytes) -> list[bytes]:
    """Frames (and line garbage) covering every command and every error path."""
    cap = per_run_cap(1024)

    def chunks(start: int, stop: int) -> list[tuple[int, bytes]]:
        return [(MsgType.LOAD_CHUNK, struct.pack("<I", off) + data[off:off + CHUNK])
                for off in range(start, stop, CHUNK)]

    def infer(warmups: int, runs: int, flags: int) -> tuple[int, bytes]:
        return (MsgType.INFER, struct.pack("<HHB", warmups, runs, flags))

    def read_output(offset: int, length: int) -> tuple[int, bytes]:
        return (MsgType.READ_OUTPUT, struct.pack("<IH", offset, length))

    def profile(runs: int, first_op: int) -> tuple[int, bytes]:
        return (MsgType.PROFILE, struct.pack("<HH", runs, first_op))

    cmds: list[tuple[int, bytes]] = [
        (MsgType.HELLO, b""), (MsgType.HELLO, b"x"),
        (MsgType.LOAD_CHUNK, struct.pack("<I", 0) + b"ab"),
        (MsgType.LOAD_BEGIN, struct.pack("<I", 5)), (MsgType.LOAD_BEGIN, b"\x00"),
        infer(0, 1, 0), profile(1, 0), profile(0, 0),
        (MsgType.LOAD_BEGIN, struct.pack("<I", INPUT_BYTES)),
        *chunks(0, 6 * CHUNK),
        (MsgType.LOAD_CHUNK, struct.pack("<I", 10 * CHUNK) + b"gap"),
        (MsgType.LOAD_CHUNK, struct.pack("<I", 0)),
        *chunks(4 * CHUNK, INPUT_BYTES),
        (MsgType.LOAD_CHUNK, struct.pack("<I", INPUT_BYTES - 1) + b"ab"),
        infer(0, 0, 0), infer(0, 1, 4), (MsgType.INFER, b"\x00" * 4), infer(0, cap + 1, 1),
        read_output(0, 8),
        profile(2, 0), read_output(0, 8), profile(0, 1), profile(0, 2), profile(3, 5),
        profile(0, 0), (MsgType.PROFILE, b"\x01\x00"),
        infer(2, 3, 3), infer(0, cap, 1),
        read_output(0, 8), read_output(4, 5), read_output(0, 1021), (MsgType.READ_OUTPUT, b"\x00"),
        (0x08, b""), (MsgType.ACK, b"zz"), (MsgType.PING, bytes(300)), (MsgType.PING, b""),
    ]
    frames = [encode_frame(t, seq % 255 + 1, body) for seq, (t, body) in enumerate(cmds)]
    bad_crc = bytearray(encode_frame(MsgType.PING, 9, b"crc"))
    bad_crc[3] ^= 0x10
    return [*frames, b"\x13\x37garbage\x00", bytes(bad_crc), encode_frame(MsgType.HELLO, 200, b"")]


def _comparable(frame: Frame) -> tuple:
    """A reply minus what may differ: error texts and cycle counts (PROFILE_DATA's too)."""
    if frame.type == MsgType.ERROR:
        err = ErrorReply.unpack(frame.body)
        return (frame.type, frame.seq, err.code, err.cmd_type)
    if frame.type == MsgType.RESULT:
        res = InferResult.unpack(frame.body)
        return (frame.type, frame.seq, res.runs, len(res.cycles or ()), res.output,
                res.output_bytes)
    if frame.type == MsgType.PROFILE_DATA:
        page = ProfileData.unpack(frame.body)
        return (frame.type, frame.seq, page.runs, page.n_ops, page.first_op, len(page.op_cycles))
    return (frame.type, frame.seq, frame.body)


def _read_until_pong(port: serial.SerialBase, nonce: bytes, timeout: float = 10.0) -> list[Frame]:
    decoder, frames = FrameDecoder(PROTOCOL_MAX_PAYLOAD), []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frames += [f for f in decoder.feed(port.read(port.in_waiting or 1)) if isinstance(f, Frame)]
        if frames and frames[-1].type == MsgType.PONG and frames[-1].body == nonce:
            return frames
    raise AssertionError(f"no PONG {nonce.hex()} within {timeout} s; got {frames[-3:]}")


def test_c_core_answers_like_the_python_device(c_device: str) -> None:
    data = random.Random(2).randbytes(INPUT_BYTES)
    nonce = os.urandom(4)
    wire = b"".join(_scenario(data)) + encode_frame(MsgType.PING, 254, nonce)
    twin = _python_twin()
    expected = [f for f in FrameDecoder(PROTOCOL_MAX_PAYLOAD).feed(twin.boot() + twin.feed(wire))
                if isinstance(f, Frame)]
    port = open_link(c_device)
    try:
        port.write(wire)
        got = _read_until_pong(port, nonce)
    finally:
        port.close()
    assert [_comparable(f) for f in got] == [_comparable(f) for f in expected]
    assert sum(f.type == MsgType.ERROR for f in got) >= 15  # the scenario did reach the errors


@pytest.mark.parametrize("seed", range(3))
def test_frames_encode_byte_identically_both_ways(c_device: str, seed: int) -> None:
    """PING bodies around COBS's 254-byte blocks: the C core decodes Python's frames and
    its PONG frames are byte for byte what device.py sends (0x00, then encode_frame)."""
    rng = random.Random(seed)
    sizes = [0, 1, 247, 248, 249, 253, 254, 255, 501, 502, 508, 1024]
    port = open_link(c_device, timeout=0.2)
    try:
        _read_until_ready(port)
        for seq, size in enumerate(sizes, start=1):
            zeros = rng.choice([0, 1, 50])  # none, sparse, dense
            body = bytes(0 if zeros and rng.randrange(zeros) == 0 else rng.randrange(1, 256)
                         for _ in range(size))
            port.write(encode_frame(MsgType.PING, seq, body))
            expected = DELIMITER + encode_frame(MsgType.PONG, seq, body)
            assert port.read(len(expected)) == expected, f"PONG of a {size}-byte PING differs"
    finally:
        port.close()


def _read_until_ready(port: serial.SerialBase) -> None:
    ready = DELIMITER + encode_frame(MsgType.READY, 0, b"\x01")
    assert port.read(len(ready)) == ready


def test_resync_after_line_garbage(c_device: str) -> None:
    link = open_link(c_device)
    with DutSession(link) as session:
        assert session.wait_ready(5.0)
        link.write(b"\x42" * 3000 + bytes([7, 1, 2, 3]))  # an over-long frame, then a fragment
        session.resync()
        assert session.hello().board_id == "host"
        assert session.stats.discarded >= 1  # the device's BAD_FRAME was read and dropped
