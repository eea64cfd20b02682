"""The fault layer: byte faults, reset on open, injected resets and hangs, re-enumeration.

Real ptys and real simulated board processes; the relay sits between them and
the host exactly as it does in a run.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import serial
from tiny_tflite import dense_float_model

from harness.boards import usb_ports
from harness.boards.driver import LinkHint
from harness.boards.hardware_driver import HardwareDriver
from harness.boards.qemu_driver import QemuDriver
from harness.boards.sim_driver import SimDriver
from harness.config.board import BoardSpec, find_board
from harness.config.faults import FaultSpec, LinkFaults
from harness.dut.device import ChecksumRunner
from harness.dut.framing import Frame, FrameDecoder, encode_frame
from harness.dut.messages import MsgType
from harness.dut.pty_link import POLL_S, open_pty
from harness.dut.session import DutSession, ReplyTimeout
from harness.dut.transport import open_link
from harness.errors import BoardError, ProtocolError
from harness.faults import FaultyDriver, wrap_with_faults
from harness.faults.boot_text import esp32_boot_text
from harness.faults.byte_faults import ByteFaults
from harness.faults.relay import Relay, UsbIdentity


def faults(**fields: object) -> FaultSpec:
    return FaultSpec.model_validate(fields)


# --- byte faults ----------------------------------------------------------------

def test_byte_faults_happen_at_their_rates_and_only_as_said() -> None:
    spec = LinkFaults(drop_rate=0.01, duplicate_rate=0.02, corrupt_rate=0.03)
    data = np.random.default_rng(3).integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    line = ByteFaults(spec, seed=1, way="to-board")
    out = line.apply(data)
    n = len(data)
    for count, rate in ((line.dropped, 0.01), (line.duplicated, 0.02), (line.corrupted, 0.03)):
        assert abs(count - rate * n) < 5 * np.sqrt(rate * n)   # binomial, 5 sigma
    assert len(out) == n - line.dropped + line.duplicated and line.bytes == n
    # with drops and duplicates off, corruption is visible byte for byte: one bit each
    flips = ByteFaults(LinkFaults(corrupt_rate=0.03), seed=1, way="to-board")
    diff = np.frombuffer(flips.apply(data), np.uint8) ^ np.frombuffer(data, np.uint8)
    assert np.count_nonzero(diff) == flips.corrupted
    assert set(np.unpackbits(diff[diff != 0][:, None], axis=1).sum(axis=1)) == {1}


def test_byte_faults_follow_the_seed_whatever_the_chunks() -> None:
    spec = LinkFaults(drop_rate=0.05, duplicate_rate=0.05, corrupt_rate=0.05)
    data = bytes(range(256)) * 40
    whole = ByteFaults(spec, seed=7, way="from-board").apply(data)
    pieces = ByteFaults(spec, seed=7, way="from-board")
    cuts = [0, 1, 2, 500, 501, 4000, 9999, len(data)]
    assert b"".join(pieces.apply(data[a:b]) for a, b in itertools.pairwise(cuts)) == whole
    assert ByteFaults(spec, seed=8, way="from-board").apply(data) != whole
    assert ByteFaults(spec.model_copy(update={"direction": "to-board"}), seed=7,
                      way="from-board").apply(data) == data


# --- the relay on a bare line ------------------------------------------------------

class _Untouchable:
    """Board control for relays that must never reset or hang the board."""

    def reset(self) -> None:
        raise AssertionError("the relay reset the board")

    def hang(self) -> None:
        raise AssertionError("the relay hung the board")


def _identity(name: str) -> UsbIdentity:
    return UsbIdentity(0x1209, 0x0001, f"EMU-{name}", "test relay")


def _read_until_quiet(read: Callable[[], bytes], quiet_s: float = 0.25) -> bytes:
    """Everything ``read`` gives until nothing more comes for ``quiet_s`` (at most 5 s)."""
    data, last, deadline = b"", time.monotonic(), time.monotonic() + 5.0
    while time.monotonic() - last < quiet_s and time.monotonic() < deadline:
        try:
            got = read()
        except BlockingIOError:
            got = b""
        if got:
            data, last = data + got, time.monotonic()
        else:
            time.sleep(0.005)
    return data


def _through_relay(spec: FaultSpec, to_board: bytes, from_board: bytes) -> tuple[bytes, bytes,
                                                                                  Relay]:
    """Send both ways through a relay on a bare pty; what arrived each way."""
    board_fd, board_path = open_pty()       # the test plays the board on the master
    relay = Relay(board_path, _Untouchable(), spec, _identity("bare"), 115200)
    try:
        host = serial.Serial(relay.device_path, timeout=0.01)
        time.sleep(0.1)                      # the relay notices the open
        host.write(to_board)
        got_board = _read_until_quiet(lambda: os.read(board_fd, 65536))
        os.write(board_fd, from_board)
        got_host = _read_until_quiet(lambda: host.read(65536))
        host.close()
    finally:
        relay.close()
        os.close(board_fd)
    return got_board, got_host, relay


def test_relay_faults_both_ways_at_set_rates_reproducibly() -> None:
    spec = faults(seed=5, link={"drop_rate": 0.01, "duplicate_rate": 0.01,
                                "corrupt_rate": 0.02})
    up = np.random.default_rng(0).integers(1, 256, 3000, dtype=np.uint8).tobytes()
    down = np.random.default_rng(1).integers(1, 256, 3000, dtype=np.uint8).tobytes()
    got_board, got_host, relay = _through_relay(spec, up, down)
    counts = relay.counts()
    assert (counts.bytes_to_board, counts.bytes_from_board) == (3000, 3000)
    assert len(got_board) == 3000 - counts.dropped_to_board + counts.duplicated_to_board
    assert len(got_host) == 3000 - counts.dropped_from_board + counts.duplicated_from_board
    for count, rate in ((counts.dropped_to_board, 0.01), (counts.corrupted_to_board, 0.02),
                        (counts.duplicated_from_board, 0.01),
                        (counts.corrupted_from_board, 0.02)):
        assert abs(count - rate * 3000) < 5 * np.sqrt(rate * 3000)
    again_board, again_host, _ = _through_relay(spec, up, down)
    assert (again_board, again_host) == (got_board, got_host)   # the seed decides
    assert counts.resets == counts.hangs == counts.reenumerations == 0


def test_relay_in_one_direction_leaves_the_other_alone() -> None:
    spec = faults(link={"corrupt_rate": 0.05, "direction": "from-board"})
    data = bytes(range(1, 256)) * 8
    got_board, got_host, relay = _through_relay(spec, data, data)
    assert got_board == data and got_host != data
    assert relay.counts().corrupted_to_board == 0 < relay.counts().corrupted_from_board


def test_relay_stops_cleanly() -> None:
    threads, fds = threading.active_count(), len(os.listdir("/proc/self/fd"))
    board_fd, board_path = open_pty()
    relay = Relay(board_path, _Untouchable(), faults(), _identity("clean"), 115200)
    path = relay.device_path
    assert any(p.device == path for p in usb_ports.list_ports())
    relay.close()
    os.close(board_fd)
    assert all(p.device != path for p in usb_ports.list_ports())
    assert threading.active_count() == threads
    assert len(os.listdir("/proc/self/fd")) == fds


# --- on a simulated board ---------------------------------------------------------

@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(2)
    return dense_float_model(tmp_path_factory.mktemp("model") / "dense.tflite",
                             rng.standard_normal((8, 64)).astype(np.float32),
                             np.zeros(8, np.float32))


@pytest.fixture(scope="module")
def nano() -> BoardSpec:
    return find_board("nano33ble")


@pytest.fixture(scope="module")
def sim(nano: BoardSpec, model: Path,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimDriver]:
    driver = SimDriver(nano, tmp_path_factory.mktemp("sim"))
    driver.start(model)
    yield driver
    driver.stop()


@contextmanager
def relay_on(sim: SimDriver, spec: FaultSpec, name: str,
             stable: Path | None = None) -> Iterator[Relay]:
    relay = Relay(sim.relink(1.0), sim, spec, _identity(name), 115200, stable)
    try:
        yield relay
    finally:
        relay.close()
        time.sleep(5 * POLL_S)   # the board sees its port close: the next relay gets READY


def _frames(link: serial.SerialBase, seconds: float, until: int | None = None,
            already: bytes = b"") -> list[Frame]:
    """Frames read for ``seconds`` or up to one of type ``until``; ``already``: read before."""
    decoder = FrameDecoder(65535)
    frames = [f for f in decoder.feed(already) if isinstance(f, Frame)]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not any(f.type == until for f in frames):
        frames += [f for f in decoder.feed(link.read(4096)) if isinstance(f, Frame)]
    return frames


def test_an_injected_hang_silences_the_board_until_the_host_resets_it(sim: SimDriver) -> None:
    with relay_on(sim, faults(hang_rate=1.0), "hang") as relay, \
            DutSession(open_link(relay.device_path)) as session:
        assert session.wait_ready(2.0)          # what the board said before the host came
        # the hang lands within the reply latency seen so far (50 ms before any): this
        # quick PING's answer may beat it, a PING after that cannot
        with contextlib.suppress(ReplyTimeout):
            session.request(MsgType.PING, b"x", timeout=0.5)
        time.sleep(0.1)
        with pytest.raises(ReplyTimeout):
            session.request(MsgType.PING, b"y", timeout=0.5)
        assert relay.counts().hangs == 1
        relay.reset()
        assert session.wait_ready(2.0)
        counts = relay.counts()
        assert (counts.hangs, counts.host_resets, counts.reenumerations) == (1, 1, 0)


def test_injected_resets_follow_their_rate_and_each_reboots_the_board(sim: SimDriver) -> None:
    with relay_on(sim, faults(seed=3, reset_rate=0.25), "resets") as relay:
        link = open_link(relay.device_path)
        try:
            assert [f.type for f in _frames(link, 2.0, MsgType.READY)] == [MsgType.READY]
            readies = 0
            for seq in range(1, 41):
                link.write(b"\x00" + encode_frame(MsgType.PING, seq, b"ping"))
                frames = _frames(link, 0.2, MsgType.PONG)   # none if sent while booting
                frames += _frames(link, 0.03)   # a reset lands within the reply latency
                readies += sum(f.type == MsgType.READY for f in frames)
            readies += sum(f.type == MsgType.READY for f in _frames(link, 0.3))
        finally:
            link.close()
        counts = relay.counts()
    assert counts.bursts == 40
    assert abs(counts.resets - 0.25 * 40) <= 4 * np.sqrt(40 * 0.25 * 0.75)
    assert readies == counts.resets > 0


def test_reset_on_open_sends_esp32_boot_text_then_ready_and_loses_early_bytes(
        model: Path, tmp_path: Path) -> None:
    esp = find_board("esp32dev")
    driver = wrap_with_faults(SimDriver(esp, tmp_path), esp, faults(reset_on_open=True),
                              "esp", tmp_path)
    assert isinstance(driver, FaultyDriver) and driver.source == "simulated"
    assert driver.virtual_wire_params()["activity_log"] == driver.inner.virtual_wire
    url = driver.start(model)
    try:
        for _ in range(2):                  # every open resets it
            link = open_link(url, esp.serial.baudrate)
            link.write(b"\x00" + encode_frame(MsgType.HELLO, 1, b""))   # while it boots: lost
            started = time.monotonic()
            raw = b""
            while b"\x00" not in raw and time.monotonic() - started < 2.0:
                raw += link.read(4096)
            text = raw[:raw.index(b"\x00")]
            assert text == esp32_boot_text("power-on")  # all of it, before anything else
            assert time.monotonic() - started >= len(text) * 10 / 115200   # at 115200 Bd
            with DutSession(link) as session:
                frames = _frames(link, 1.0, MsgType.READY, raw[len(text):])
                assert frames[-1].type == MsgType.READY
                assert MsgType.HELLO_INFO not in [f.type for f in frames]
                assert session.hello().board_id == "sim:esp32dev"
            time.sleep(5 * POLL_S)
        counts = driver.counts
        assert counts.boot_texts == 2 and counts.lost_while_booting >= 2 * 9
        assert counts.resets == counts.reenumerations == 0
    finally:
        driver.stop()


def test_reenumeration_the_port_vanishes_and_comes_back_renamed(
        model: Path, tmp_path: Path) -> None:
    esp = find_board("esp32dev")    # a board the host resets (its reset line is RTS)
    spec = faults(reenumerate={"min_s": 0.2, "max_s": 0.4})
    driver = wrap_with_faults(SimDriver(esp, tmp_path), esp, spec, "esp", tmp_path)
    assert isinstance(driver, FaultyDriver)
    url = driver.start(model)
    try:
        assert driver.relink(1.0) == url
        assert usb_ports.find_port(esp, LinkHint(serial_number="EMU-esp")) == url
        with DutSession(open_link(url)) as session:
            assert session.wait_ready(2.0)
            session.hello()
            driver.reset()
            gone_at = time.monotonic()
            assert not os.path.exists(url)
            assert all(p.device != url for p in usb_ports.list_ports())
            with pytest.raises(ProtocolError):      # the host's open port is dead
                session.hello()
        new = driver.relink(3.0)
        back_after = time.monotonic() - gone_at
        assert new != url and os.path.exists(new)
        assert 0.2 <= back_after < 1.0
        # found by the board file's VID:PID and the serial number, as a real board is
        assert usb_ports.find_port(esp, LinkHint(serial_number="EMU-esp")) == new
        with DutSession(open_link(new)) as session:
            assert session.wait_ready(2.0)          # the READY it sent while unplugged
            assert session.hello().board_id == "sim:esp32dev"
        counts = driver.counts
        assert (counts.host_resets, counts.reenumerations, counts.resets) == (1, 1, 0)
    finally:
        driver.stop()
    assert all(p.serial_number != "EMU-esp" for p in usb_ports.list_ports())


def test_reenumeration_without_rename_comes_back_under_the_same_name(
        sim: SimDriver, tmp_path: Path) -> None:
    spec = faults(reenumerate={"min_s": 0.1, "max_s": 0.2, "rename": False})
    stable = tmp_path / "ttyACM0"
    with relay_on(sim, spec, "same", stable) as relay:
        assert relay.device_path == str(stable) and stable.exists()
        relay.reset()
        assert not stable.exists()
        found = usb_ports.find_port(find_board("nano33ble"), LinkHint(serial_number="EMU-same"),
                                    timeout=2.0, vid_pid="1209:0001")
        assert found == str(stable) and stable.exists()
        with DutSession(open_link(found)) as session:
            assert session.wait_ready(2.0)
            session.hello()


# --- which boards get faults ----------------------------------------------------------

def test_faults_apply_to_emulated_boards_the_bench_names(
        nano: BoardSpec, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sim = SimDriver(nano, tmp_path)
    assert wrap_with_faults(sim, nano, None, "a", tmp_path) is sim
    assert wrap_with_faults(sim, nano, faults(boards=["b"]), "a", tmp_path) is sim
    assert isinstance(wrap_with_faults(sim, nano, faults(boards=["a"]), "a", tmp_path),
                      FaultyDriver)
    real = HardwareDriver(nano, tmp_path, LinkHint())
    with caplog.at_level(logging.WARNING):
        assert wrap_with_faults(real, nano, faults(), "a", tmp_path) is real
    assert "no faults are injected" in caplog.text
    with pytest.raises(BoardError, match="simulated and QEMU boards only"):
        wrap_with_faults(real, nano, faults(boards=["a"]), "a", tmp_path)


@pytest.mark.skipif(not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
                    reason="needs qemu-system-arm and arm-none-eabi-gcc (apt-get install "
                           "qemu-system-arm gcc-arm-none-eabi libnewlib-arm-none-eabi)")
def test_qemu_board_behind_the_relay_boots_on_open_and_re_enumerates(tmp_path: Path) -> None:
    board = find_board("qemu_mps2_an386")
    spec = faults(reset_on_open=True, reenumerate={"min_s": 0.1, "max_s": 0.2})
    driver = wrap_with_faults(QemuDriver(board, tmp_path, runner="checksum"), board, spec,
                              "qemu", tmp_path)
    assert isinstance(driver, FaultyDriver) and driver.source == "emulated"
    url = driver.start(Path("no-model.tflite"))
    try:
        assert url.startswith("/dev/pts/")      # the host gets a pty, not QEMU's socket
        with DutSession(open_link(url)) as session:
            assert session.wait_ready(5.0)      # the guest rebooted when the port opened
            session.hello()
            driver.reset()                      # through QMP, from the host's side
        new = driver.relink(3.0)
        assert new != url
        with DutSession(open_link(new)) as session:
            assert session.wait_ready(5.0)
            data = bytes(range(256)) * (96 * 96 * 3 // 256)
            result = session.run(data, runs=1)
            assert result.output == ChecksumRunner.checksum(data)
        counts = driver.counts
        assert counts.boot_texts == 2 and counts.reenumerations == counts.host_resets == 1
    finally:
        driver.stop()
    assert not driver.inner.running
