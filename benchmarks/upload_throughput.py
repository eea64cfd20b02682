"""Upload throughput: the binary DUT protocol against the MLPerf Tiny (EEMBC) text protocol.

Both move the same 27,648-byte input (the VWW image, 96x96x3 int8) over a
pseudo-terminal to a peer served by harness.dut.pty_link.serve:

* binary: DutSession.upload to a ProtocolDevice with the ChecksumRunner;
* EEMBC: ``db load 27648%`` then ``db <62 hex digits>%`` per 31 bytes, each
  command waiting for its ``m-ready`` line, to EembcResponder below (the EEMBC
  wire-protocol peer, written from the protocol's observable behaviour).

A pty has no baud rate, so wall time here is mostly per-round-trip latency of
two processes' threads; the "line time" column models a 115200 Bd 8N1 UART from
the bytes on the wire. Run: ``.venv/bin/python benchmarks/upload_throughput.py``
(``--write-doc`` puts the table into docs/protocol.md, section Performance).
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.dut.device import ChecksumRunner, ProtocolDevice
from harness.dut.pty_link import served
from harness.dut.session import DutSession
from harness.dut.transport import CountingLink, open_link
from harness.tensors import TensorSpec

INPUT = TensorSpec("int8", (1, 96, 96, 3))
EEMBC_BYTES_PER_CMD = 31
UART_BAUD = 115200
DOC = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"
DOC_BEGIN, DOC_END = "<!-- upload_throughput:begin -->", "<!-- upload_throughput:end -->"


@dataclass(frozen=True)
class Row:
    protocol: str
    payload: int
    round_trips: int
    bytes_out: int
    bytes_in: int
    seconds: float          # median wall time over the repeats

    @property
    def efficiency(self) -> float:
        return self.payload / (self.bytes_out + self.bytes_in)

    @property
    def line_seconds(self) -> float:
        return (self.bytes_out + self.bytes_in) * 10 / UART_BAUD


class EembcResponder:
    """The DUT side of the EEMBC text protocol, as far as ``db`` uploads go."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.expected = 0
        self._line = bytearray()

    def boot(self) -> bytes:
        self._line.clear()
        return b"m-init-done\r\nm-ready\r\n"

    def feed(self, data: bytes) -> bytes:
        out = []
        for byte in data:
            if byte != ord("%"):
                self._line.append(byte)
                continue
            out.append(self._command(self._line.decode("ascii", "replace").split()))
            self._line.clear()
        return b"".join(out)

    def _command(self, words: list[str]) -> bytes:
        if words[:2] == ["db", "load"] and len(words) == 3 and words[2].isdigit():
            self.expected, self.buffer = int(words[2]), bytearray()
            return f"m-[Expecting {self.expected} bytes]\r\nm-ready\r\n".encode()
        if len(words) == 2 and words[0] == "db":
            try:
                self.buffer += bytes.fromhex(words[1])
            except ValueError:
                return b"e-[Invalid hex]\r\nm-ready\r\n"
            done = b"m-load-done\r\n" if len(self.buffer) == self.expected else b""
            return done + b"m-ready\r\n"
        return f"e-[Unknown command '{' '.join(words)}']\r\nm-ready\r\n".encode()


def binary_upload(data: bytes) -> Row:
    device = ProtocolDevice(ChecksumRunner(), board_id="bench", clock_hz=1, counter="model",
                            arena_used=0, model_hash=hashlib.sha256(b"").digest(),
                            inputs=[INPUT], outputs=[ChecksumRunner.OUTPUT_SPEC])
    with served(device) as path, DutSession(open_link(path)) as session:
        session.wait_ready(2.0)
        session.hello()
        stats = session.upload(data)
        if session.infer(0, 1, per_run=False).output != ChecksumRunner.checksum(data):
            raise RuntimeError("binary upload corrupted the input")
    return Row("binary DUT protocol", len(data), stats.round_trips, stats.wire_bytes_out,
               stats.wire_bytes_in, stats.seconds)


def eembc_upload(data: bytes) -> Row:
    responder = EembcResponder()
    with served(responder) as path:
        link = CountingLink(open_link(path))
        pending = bytearray()

        def command(text: str) -> None:
            link.write(text.encode("ascii") + b"%")
            while b"m-ready\r\n" not in pending:
                pending.extend(link.read_some())
            del pending[:pending.index(b"m-ready\r\n") + 9]

        while b"m-ready\r\n" not in pending:    # boot banner
            pending.extend(link.read_some())
        pending.clear()
        out0, in0, start = link.bytes_out, link.bytes_in, time.perf_counter()
        command(f"db load {len(data)}")
        trips = 1
        for off in range(0, len(data), EEMBC_BYTES_PER_CMD):
            command("db " + data[off:off + EEMBC_BYTES_PER_CMD].hex())
            trips += 1
        seconds = time.perf_counter() - start
        row = Row("EEMBC `db` (MLPerf Tiny)", len(data), trips, link.bytes_out - out0,
                  link.bytes_in - in0, seconds)
        link.close()
    if bytes(responder.buffer) != data:
        raise RuntimeError("EEMBC upload corrupted the input")
    return row


def measure(upload: Callable[[bytes], Row], data: bytes, repeats: int) -> Row:
    rows = [upload(data) for _ in range(repeats)]
    return Row(rows[0].protocol, rows[0].payload, rows[0].round_trips, rows[0].bytes_out,
               rows[0].bytes_in, statistics.median(r.seconds for r in rows))


def markdown(rows: list[Row], repeats: int) -> str:
    binary, eembc = rows
    lines = [
        "| protocol | round trips | bytes host→device | bytes device→host | payload efficiency "
        f"| wall time on a pty (median of {repeats}) | line time at {UART_BAUD} Bd (model) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(f"| {r.protocol} | {r.round_trips} | {r.bytes_out:,} | {r.bytes_in:,} | "
          f"{r.efficiency:.1%} | {r.seconds * 1e3:.1f} ms | {r.line_seconds:.2f} s |"
          for r in rows),
        "",
        f"Round trips: {eembc.round_trips / binary.round_trips:.0f}× fewer "
        f"(goal ≥ 20×); payload efficiency {binary.efficiency:.1%} (goal ≥ 90 %); "
        f"wall time on the pty {eembc.seconds / binary.seconds:.0f}× shorter.",
    ]
    return "\n".join(lines)


def write_doc(table: str) -> None:
    text = DOC.read_text(encoding="utf-8")
    block = f"{DOC_BEGIN}\n{table}\n{DOC_END}"
    if DOC_BEGIN in text:
        head, rest = text.split(DOC_BEGIN, 1)
        text = head + block + rest.split(DOC_END, 1)[1]
    else:
        text = text.rstrip("\n") + f"\n\n## Performance\n\n{block}\n"
    DOC.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--write-doc", action="store_true", help=f"update {DOC.name}")
    args = parser.parse_args(argv)
    data = bytes((i * 31 + 7) & 0xFF for i in range(INPUT.nbytes))
    rows = [measure(binary_upload, data, args.repeats), measure(eembc_upload, data, args.repeats)]
    table = Table(title=f"Uploading {len(data):,} bytes over a pty")
    for column in ("protocol", "round trips", "bytes out", "bytes in", "efficiency",
                   "wall (pty)", f"line @{UART_BAUD}"):
        table.add_column(column, justify="left" if column == "protocol" else "right")
    for r in rows:
        table.add_row(r.protocol, str(r.round_trips), f"{r.bytes_out:,}", f"{r.bytes_in:,}",
                      f"{r.efficiency:.1%}", f"{r.seconds * 1e3:.1f} ms",
                      f"{r.line_seconds:.2f} s")
    console = Console(width=max(Console().width, 110))
    console.print(table)
    console.print(markdown(rows, args.repeats).splitlines()[-1])
    if args.write_doc:
        write_doc(markdown(rows, args.repeats))
        console.print(f"wrote the Performance section of {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
