"""Frame layer of the DUT protocol: COBS( type | seq | body | crc32 ) 0x00.

Both sides use it: the host session and the Python device. See docs/protocol.md §1.
"""

from __future__ import annotations

import enum
import zlib
from dataclasses import dataclass

from cobs import cobs

DELIMITER = b"\x00"
HEADER_BYTES = 2          # type, seq
CRC_BYTES = 4
FRAME_OVERHEAD = HEADER_BYTES + CRC_BYTES
#: the largest body a host ever expects (max_payload is a u16 in HELLO_INFO)
PROTOCOL_MAX_PAYLOAD = 0xFFFF


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    body: bytes


class FaultReason(enum.Enum):
    BAD_COBS = "bad COBS encoding"
    TOO_SHORT = "shorter than 6 bytes"
    TOO_LONG = "longer than max_payload + 6 bytes"
    BAD_CRC = "CRC mismatch"


@dataclass(frozen=True)
class FrameFault:
    """A dropped frame: what was wrong and how many raw bytes it had (0x00 excluded)."""

    reason: FaultReason
    raw_bytes: int


def encode_frame(msg_type: int, seq: int, body: bytes) -> bytes:
    """One frame ready for the wire, delimiter included."""
    if not (0 <= msg_type <= 0xFF and 0 <= seq <= 0xFF):
        raise ValueError(f"type 0x{msg_type:x} and seq {seq} must each fit in a byte")
    payload = bytes((msg_type, seq)) + body
    crc = zlib.crc32(payload).to_bytes(CRC_BYTES, "little")
    return cobs.encode(payload + crc) + DELIMITER


def max_encoded_size(max_payload: int) -> int:
    """Largest COBS-encoded frame (without delimiter) for a body of ``max_payload`` bytes."""
    decoded = max_payload + FRAME_OVERHEAD
    return decoded + decoded // 254 + 1


class FrameDecoder:
    """Streaming decoder: bytes in, frames and faults out, in line order.

    Buffering is bounded: a run of bytes longer than the largest valid encoded
    frame is reported once as TOO_LONG and then skipped up to the next 0x00.
    """

    def __init__(self, max_payload: int) -> None:
        self.max_payload = max_payload
        self._limit = max_encoded_size(max_payload)
        self._buf = bytearray()
        self._skipped = 0       # >0 while discarding an over-long frame

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def reset(self) -> None:
        """Forget any partial frame (the resync path calls this)."""
        self._buf.clear()
        self._skipped = 0

    def feed(self, data: bytes) -> list[Frame | FrameFault]:
        items: list[Frame | FrameFault] = []
        start = 0
        while start < len(data):
            end = data.find(0, start)
            piece = data[start:] if end < 0 else data[start:end]
            self._take(piece, items)
            if end < 0:
                break
            self._finish(items)
            start = end + 1
        return items

    def _take(self, piece: bytes, items: list[Frame | FrameFault]) -> None:
        if self._skipped:
            self._skipped += len(piece)
            return
        if len(self._buf) + len(piece) > self._limit:
            self._skipped = len(self._buf) + len(piece)
            self._buf.clear()
            items.append(FrameFault(FaultReason.TOO_LONG, self._skipped))
            return
        self._buf += piece

    def _finish(self, items: list[Frame | FrameFault]) -> None:
        raw, skipped = bytes(self._buf), self._skipped
        self.reset()
        if skipped or not raw:   # over-long frame already reported; empty frames are flushes
            return
        items.append(self._decode(raw))

    def _decode(self, raw: bytes) -> Frame | FrameFault:
        try:
            decoded = cobs.decode(raw)
        except cobs.DecodeError:
            return FrameFault(FaultReason.BAD_COBS, len(raw))
        if len(decoded) < FRAME_OVERHEAD:
            return FrameFault(FaultReason.TOO_SHORT, len(raw))
        if len(decoded) > self.max_payload + FRAME_OVERHEAD:
            return FrameFault(FaultReason.TOO_LONG, len(raw))
        payload, crc = decoded[:-CRC_BYTES], decoded[-CRC_BYTES:]
        if zlib.crc32(payload) != int.from_bytes(crc, "little"):
            return FrameFault(FaultReason.BAD_CRC, len(raw))
        return Frame(payload[0], payload[1], bytes(payload[HEADER_BYTES:]))
