"""PROFILE: per-op cycle counts, on the Python device byte for byte and through a session on a
real pseudo-terminal (docs/protocol.md)."""

from __future__ import annotations

import struct

import pytest

from harness.dut.device import ChecksumRunner, RunnerProfile, RunnerResult
from harness.dut.framing import encode_frame
from harness.dut.messages import (
    Capability,
    ErrorCode,
    ErrorReply,
    MsgType,
    Output,
    Profile,
    ProfileData,
    ReadOutput,
    profile_page_ops,
    unpack_message,
)
from harness.errors import BoardError, ProtocolError
from tests.test_dut_device import EchoRunner, error_of, make_device, only, upload
from tests.test_dut_session import make_device as make_pty_device
from tests.test_dut_session import session_on


class ManyOpsRunner:
    """A model of ``n_ops`` ops: op i takes i + 1 cycles a run; output as ChecksumRunner's."""

    def __init__(self, n_ops: int) -> None:
        self.n_ops = n_ops
        self.profiles = 0

    def infer(self, input_data: bytes, warmups: int, runs: int) -> RunnerResult:
        return RunnerResult(ChecksumRunner.checksum(input_data),
                            [sum(range(1, self.n_ops + 1))] * runs)

    def profile(self, input_data: bytes, runs: int) -> RunnerProfile:
        self.profiles += 1
        ops = [(i + 1) * runs for i in range(self.n_ops)]
        return RunnerProfile(ChecksumRunner.checksum(input_data), ops, sum(ops) + 5 * runs)


def test_profile_data_round_trips_and_refuses_a_torn_body() -> None:
    msg = ProfileData(3, 200, 126, 2**40, tuple(range(5)))
    assert unpack_message(MsgType.PROFILE_DATA, msg.pack()) == msg
    assert unpack_message(MsgType.PROFILE, Profile(4, 9).pack()) == Profile(4, 9)
    with pytest.raises(ProtocolError, match="not a whole number"):
        ProfileData.unpack(msg.pack()[:-3])
    with pytest.raises(ProtocolError, match="run past n_ops"):
        ProfileData.unpack(ProfileData(1, 2, 1, 0, (1, 2)).pack())
    assert profile_page_ops(1024) == 126


def test_only_a_profiling_runner_announces_and_answers_profile() -> None:
    assert make_device().info.capabilities & Capability.PROFILE
    echo = make_device(EchoRunner())
    assert not echo.info.capabilities & Capability.PROFILE
    upload(echo, bytes(10))
    _, err = error_of(echo, Profile(1, 0))
    assert (err.code, err.cmd_type) == (ErrorCode.UNKNOWN_CMD, MsgType.PROFILE)


def test_checksum_profile_splits_an_inference_into_its_two_ops() -> None:
    device = make_device()
    data = bytes(range(10))
    upload(device, data)
    _, reply = only(device, Profile(3, 0))
    per_run = ChecksumRunner.cycles_for(len(data))
    assert reply == ProfileData(3, 2, 0, 3 * per_run, (3 * ChecksumRunner.BASE_CYCLES,
                                                       3 * ChecksumRunner.CYCLES_PER_BYTE * 10))
    # a PROFILE's runs leave their output as an INFER's do
    assert only(device, ReadOutput(0, 8))[1] == Output(0, ChecksumRunner.checksum(data))


def test_pages_of_a_long_profile_are_read_with_zero_runs() -> None:
    runner = ManyOpsRunner(40)
    device = make_device(runner)                                               # max_payload 128
    page = profile_page_ops(128)                                               # 14 ops
    upload(device, bytes(10))
    _, first = only(device, Profile(2, 0))
    assert (first.n_ops, first.first_op, len(first.op_cycles)) == (40, 0, page)
    _, last = only(device, Profile(0, 28))
    assert last.op_cycles == tuple(2 * (i + 1) for i in range(28, 40))
    assert (last.runs, last.total_cycles) == (2, first.total_cycles)
    assert runner.profiles == 1     # reading pages runs nothing


@pytest.mark.parametrize(("wire", "code", "needle"), [
    (Profile(0, 0), ErrorCode.BAD_STATE, "there is none"),
    (Profile(1, 2), ErrorCode.BAD_ARGS, "from op 2; the profile has 2 ops"),
    (encode_frame(MsgType.PROFILE, 7, b"\x01\x00"), ErrorCode.BAD_ARGS, "field 'first_op'"),
])
def test_profile_errors_name_what_is_wrong(wire, code: ErrorCode, needle: str) -> None:
    device = make_device()
    upload(device, bytes(10))
    _, err = error_of(device, wire)
    assert isinstance(err, ErrorReply) and err.code == code and needle in err.message


def test_profile_before_a_complete_upload_is_bad_state() -> None:
    _, err = error_of(make_device(), Profile(1, 0))
    assert err.code == ErrorCode.BAD_STATE and "complete upload" in err.message


def test_session_reads_every_page_and_checks_them() -> None:
    runner = ManyOpsRunner(300)     # three pages of 126
    device = make_pty_device(runner)
    with session_on(device) as session:
        session.upload(bytes(27_648))
        profile = session.profile(runs=4)
    assert profile.runs == 4 and len(profile.op_cycles) == 300
    assert profile.op_cycles == tuple(4 * (i + 1) for i in range(300))
    assert profile.total_cycles == sum(profile.op_cycles) + 20
    assert profile.per_inference()[:3] == (1.0, 2.0, 3.0)


def test_session_refuses_a_board_without_the_capability() -> None:
    with session_on(make_pty_device(EchoRunner())) as session:
        session.upload(bytes(27_648))
        with pytest.raises(BoardError, match=r"cannot profile.*capability bit 3"):
            session.profile(1)


def test_session_profiles_again_after_a_reset_lost_the_profile() -> None:
    """A board that rebooted between pages answers the page read with BAD_STATE: the
    session uploads again and profiles from the start (with a recovery)."""
    from harness.dut.recovery import Recovery

    runner = ManyOpsRunner(130)
    device = make_pty_device(runner)
    original = device._profile
    rebooted: list[bool] = []

    def profile_then_reboot(msg: Profile) -> ProfileData:
        """Reboots the device (its READY lost) once, after the first page went out."""
        reply = original(msg)
        if msg.runs and not rebooted:
            rebooted.append(True)
            device.boot()
        return reply

    device._handlers[MsgType.PROFILE] = profile_then_reboot
    with session_on(device, recovery=Recovery(board="pty")) as session:
        session.upload(bytes(27_648))
        profile = session.profile(runs=1)
    assert len(profile.op_cycles) == 130 and runner.profiles == 2
    assert session.stats.reboots == 1


def test_a_full_page_fits_max_payload_and_one_more_op_would_not() -> None:
    body = ProfileData(1, 127, 0, 0, tuple(range(126))).pack()
    assert len(body) <= 1024 < len(body) + 8 and struct.unpack_from("<HHH", body) == (1, 127, 0)
