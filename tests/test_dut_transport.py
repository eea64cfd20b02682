"""Links by URL, byte counting, and errors that name the URL."""

from __future__ import annotations

import socket
import time

import pytest

from harness.dut.framing import Frame, encode_frame
from harness.dut.transport import CountingLink, FrameChannel, LinkStats, open_link
from harness.errors import BoardError, ProtocolError


def test_loop_url_counts_bytes_both_ways() -> None:
    link = CountingLink(open_link("loop://"))
    link.write(b"hello\x00world")
    got = b""
    while len(got) < 11:
        got += link.read_some()
    assert got == b"hello\x00world"
    assert (link.bytes_out, link.bytes_in) == (11, 11)
    link.close()


def test_missing_device_path_is_a_board_error_naming_it() -> None:
    with pytest.raises(BoardError, match="/dev/does-not-exist"):
        open_link("/dev/does-not-exist")


def test_refused_socket_is_a_board_error_naming_the_url() -> None:
    with socket.socket() as probe:          # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(BoardError, match=f"socket://127.0.0.1:{port}"):
        open_link(f"socket://127.0.0.1:{port}")


def test_unknown_url_scheme_is_a_board_error() -> None:
    with pytest.raises(BoardError, match="nosuch://x"):
        open_link("nosuch://x")


def test_io_on_a_closed_link_is_a_protocol_error_naming_the_url() -> None:
    link = CountingLink(open_link("loop://"))
    link.close()
    with pytest.raises(ProtocolError, match=r"loop://.*write of 3 bytes failed"):
        link.write(b"abc")
    with pytest.raises(ProtocolError, match=r"loop://.*read failed"):
        link.read_some()


def test_frame_channel_skips_host_frames_and_matches_seqs_over_loopback() -> None:
    # loop:// echoes our own frames: host-type frames must be ignored, device-type ones matched
    stats = LinkStats()
    channel = FrameChannel(CountingLink(open_link("loop://")), stats)
    [seq] = channel.send([(0x01, b"")])
    assert seq == 1
    channel.write(encode_frame(0x86, 9, b"stale") + encode_frame(0x86, 2, b"mine"), frames=2)
    frame = channel.await_reply({2}, time.monotonic() + 1.0)
    assert frame == Frame(0x86, 2, b"mine")
    assert stats.discarded == 2 and stats.frames_in == 2 and stats.bytes_in == stats.bytes_out


def test_seqs_run_from_1_to_255_and_skip_0() -> None:
    channel = FrameChannel(CountingLink(open_link("loop://")), LinkStats())
    seqs = [channel.next_seq() for _ in range(300)]
    assert 0 not in seqs and seqs[:2] == [1, 2] and seqs[254:256] == [255, 1]
