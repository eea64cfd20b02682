"""Frame layer: COBS + CRC-32 encode/decode, faults, bounded buffering."""

from __future__ import annotations

import zlib

import pytest
from cobs import cobs
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.dut.framing import (
    FaultReason,
    Frame,
    FrameDecoder,
    FrameFault,
    encode_frame,
    max_encoded_size,
)

MAX_PAYLOAD = 1024
bodies = st.binary(max_size=MAX_PAYLOAD)
bytes_u8 = st.integers(0, 255)


def _raw_frame(content: bytes) -> bytes:
    """COBS-encode arbitrary decoded content (type|seq|body|crc chosen by the test)."""
    return cobs.encode(content) + b"\x00"


@given(msg_type=bytes_u8, seq=bytes_u8, body=bodies)
def test_encode_then_decode_gives_the_frame_back(msg_type: int, seq: int, body: bytes) -> None:
    wire = encode_frame(msg_type, seq, body)
    assert wire.count(0) == 1 and wire.endswith(b"\x00")
    assert FrameDecoder(MAX_PAYLOAD).feed(wire) == [Frame(msg_type, seq, body)]


@given(frames=st.lists(st.tuples(bytes_u8, bytes_u8, bodies), max_size=5),
       cuts=st.lists(st.integers(0, 6000), max_size=8))
def test_stream_split_anywhere_decodes_the_same(frames: list[tuple[int, int, bytes]],
                                                cuts: list[int]) -> None:
    wire = b"".join(encode_frame(*f) for f in frames)
    decoder = FrameDecoder(MAX_PAYLOAD)
    items = []
    start = 0
    for cut in [*sorted(c for c in cuts if c <= len(wire)), len(wire)]:
        items += decoder.feed(wire[start:cut])
        start = cut
    assert items == [Frame(*f) for f in frames]


@given(body=st.binary(min_size=0, max_size=300), bit=st.integers(0, 8 * 306 - 1))
def test_a_flipped_bit_in_the_content_is_a_crc_fault(body: bytes, bit: int) -> None:
    payload = bytes((3, 9)) + body
    content = bytearray(payload + zlib.crc32(payload).to_bytes(4, "little"))
    bit %= 8 * len(content)
    content[bit // 8] ^= 1 << (bit % 8)
    assert FrameDecoder(MAX_PAYLOAD).feed(_raw_frame(bytes(content))) == [
        FrameFault(FaultReason.BAD_CRC, len(cobs.encode(bytes(content))))]


@given(body=bodies, bit=st.integers(0, 8 * 1100))
def test_a_flipped_bit_on_the_wire_never_yields_a_wrong_frame(body: bytes, bit: int) -> None:
    wire = bytearray(encode_frame(4, 1, body))
    bit %= 8 * (len(wire) - 1)      # not the delimiter
    wire[bit // 8] ^= 1 << (bit % 8)
    items = FrameDecoder(MAX_PAYLOAD).feed(bytes(wire) + b"\x00")
    assert items and all(isinstance(i, FrameFault) for i in items)


@settings(max_examples=200)
@given(chunks=st.lists(st.binary(max_size=3000), max_size=20), max_payload=st.integers(0, 2048))
def test_garbage_never_raises_and_buffering_stays_bounded(chunks: list[bytes],
                                                          max_payload: int) -> None:
    decoder = FrameDecoder(max_payload)
    for chunk in chunks:
        for item in decoder.feed(chunk):
            assert isinstance(item, Frame | FrameFault)
            if isinstance(item, Frame):
                assert len(item.body) <= max_payload
        assert decoder.buffered <= max_encoded_size(max_payload)


@pytest.mark.parametrize("size", [0, 1, 247, 248, 249, 253, 254, 255, 507, 508, 1024])
def test_max_encoded_size_bounds_cobs_worst_case(size: int) -> None:
    # no zero bytes is COBS's worst case: one code byte per 254 data bytes
    body = bytes([0x55]) * size
    assert len(encode_frame(0x55, 0x55, body)) - 1 <= max_encoded_size(size)


def test_empty_frames_are_ignored() -> None:
    decoder = FrameDecoder(MAX_PAYLOAD)
    assert decoder.feed(b"\x00\x00\x00") == []
    assert decoder.feed(b"\x00" + encode_frame(1, 2, b"") + b"\x00") == [Frame(1, 2, b"")]


def test_bad_cobs_is_reported() -> None:
    # code byte 5 promises 4 more bytes before the delimiter; only 2 come
    assert FrameDecoder(MAX_PAYLOAD).feed(b"\x05ab\x00") == [FrameFault(FaultReason.BAD_COBS, 3)]


def test_short_frame_is_reported() -> None:
    items = FrameDecoder(MAX_PAYLOAD).feed(_raw_frame(b"\x01\x02\x03\x04\x05"))
    assert items == [FrameFault(FaultReason.TOO_SHORT, 6)]


def test_body_one_byte_over_max_payload_is_too_long() -> None:
    decoder = FrameDecoder(16)
    assert decoder.feed(encode_frame(3, 1, bytes(16))) == [Frame(3, 1, bytes(16))]
    [fault] = decoder.feed(encode_frame(3, 1, bytes(17)))
    assert isinstance(fault, FrameFault) and fault.reason is FaultReason.TOO_LONG


def test_overlong_run_is_dropped_up_to_the_next_delimiter_and_decoding_resumes() -> None:
    decoder = FrameDecoder(16)
    limit = max_encoded_size(16)
    items = decoder.feed(b"\x07" * (limit + 1))
    assert items == [FrameFault(FaultReason.TOO_LONG, limit + 1)]
    assert decoder.buffered == 0
    assert decoder.feed(b"\x07" * 10_000) == []       # still skipping, nothing buffered
    assert decoder.buffered == 0
    assert decoder.feed(b"\x00" + encode_frame(6, 7, b"ok")) == [Frame(6, 7, b"ok")]


def test_reset_forgets_a_partial_frame() -> None:
    decoder = FrameDecoder(MAX_PAYLOAD)
    wire = encode_frame(1, 1, b"abc")
    decoder.feed(b"garbage")
    decoder.reset()
    assert decoder.feed(wire) == [Frame(1, 1, b"abc")]


def test_encode_rejects_type_or_seq_outside_a_byte() -> None:
    with pytest.raises(ValueError, match="fit in a byte"):
        encode_frame(256, 0, b"")
