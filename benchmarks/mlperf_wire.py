"""The same accuracy run over the harness's binary protocol and MLPerf Tiny's text protocol.

100 IC01 inputs go through the harness firmware's TFLM image of ``ic01_int8.tflite``
on the emulated board (QEMU mps2-an386, CMSIS-NN), one upload and one inference each,
as an accuracy run does, through

1. the harness's binary protocol (``DutSession``: COBS frames with CRC, windowed
   1 KiB chunks, INFER with the output in the reply);
2. MLPerf Tiny's text protocol as the harness sends it (``MlperfSession``: ``db load``,
   38 bytes of hex per ``db`` line, ``infer 1 0``, ``%0.3f`` results);
3. the same text protocol with 31 bytes a line, as MLCommons' runner sends them.

Each protocol gets a freshly booted board; the figures cover the 100 inputs only
(identification before is left out). Wall time is the host's; bytes are counted on
the wire (``CountingLink``) each way. Every output must equal the TFLM host runtime's,
so the three runs are the same work. The table goes into docs/mlperf.md between the
generated-section markers.

Run: ``TFLM_DIR=… .venv/bin/python benchmarks/mlperf_wire.py [--inputs 100]``.
"""

from __future__ import annotations

import argparse
import logging
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.boards.qemu_driver import QemuDriver
from harness.config.board import find_board
from harness.dut.mlperf_codec import MlperfCodec
from harness.dut.mlperf_session import LINE_MAX, MlperfSession
from harness.dut.session import DutSession
from harness.dut.transport import LinkStats, open_link
from harness.firmware.qemu_tflm import build_qemu_tflm_image
from harness.models.mlperf_tiny import mlperf_tiny_dir
from harness.models.tflm_host import TflmHostModel
from harness.paths import project_root

log = logging.getLogger("mlperf_wire")
BEGIN, END = "<!-- mlperf_wire:begin -->", "<!-- mlperf_wire:end -->"
RUNNER_DB_BYTES = 31        # MLCommons' runner: DUT._max_bytes without a power manager


@dataclass(frozen=True)
class Measured:
    name: str
    inputs: int
    wall_s: float
    per_input_s: list[float]
    bytes_out: int
    bytes_in: int
    round_trips: int
    outputs_equal: int      # outputs equal to the TFLM host runtime's


def _inputs(count: int, shape: tuple[int, ...]) -> list[bytes]:
    """IC01 inputs as the model takes them (int8, the uint8 pixel - 128): blocks of colour
    plus noise, so that the outputs differ from input to input."""
    rng = np.random.default_rng(10)
    out = []
    for _ in range(count):
        coarse = rng.integers(0, 256, (4, 4, 3)).astype(np.float64)
        image = np.kron(coarse, np.ones((8, 8, 1))) + rng.normal(0, 25, (32, 32, 3))
        pixels = image.clip(0, 255).astype(np.uint8).reshape(shape)
        out.append((pixels.astype(np.int16) - 128).astype(np.int8).tobytes())
    return out


def _run(name: str, elf: Path, inputs: list[bytes], expected: list[bytes],
         open_session: Callable[[str], DutSession | MlperfSession]) -> Measured:
    workdir = Path(tempfile.mkdtemp(prefix="mlperf-wire-"))   # QEMU's log
    driver = QemuDriver(find_board("qemu_mps2_an386"), workdir)
    url = driver.launch(elf)
    try:
        session = open_session(url)
        try:
            stats: LinkStats = session.stats
            start = (stats.bytes_out, stats.bytes_in, stats.round_trips)
            per_input = []
            equal = 0
            began = time.perf_counter()
            for raw, want in zip(inputs, expected, strict=True):
                t0 = time.perf_counter()
                session.upload(raw)
                if isinstance(session, DutSession):
                    output = session.infer(0, 1, per_run=False, want_output=True).output
                else:
                    output = session.infer(0, 1).output
                per_input.append(time.perf_counter() - t0)
                equal += output == want
            wall = time.perf_counter() - began
            return Measured(name, len(inputs), wall, per_input, stats.bytes_out - start[0],
                            stats.bytes_in - start[1], stats.round_trips - start[2], equal)
        finally:
            session.close()
    finally:
        driver.stop()


def measure(count: int) -> list[Measured]:
    model_path = mlperf_tiny_dir() / "ic01_int8.tflite"
    host = TflmHostModel.load(model_path)
    codec = MlperfCodec.for_model(host.input_spec, host.output_spec)
    elf = build_qemu_tflm_image(model_path).image.elf
    inputs = _inputs(count, host.input_spec.shape)
    expected = [host.run(raw).tobytes() for raw in inputs]
    baud = find_board("qemu_mps2_an386").serial.baudrate

    def binary(url: str) -> DutSession:
        session = DutSession(open_link(url, baud)).open()
        session.wait_ready(10.0)
        session.hello()
        return session

    def text(line_max: int) -> Callable[[str], MlperfSession]:
        def opened(url: str) -> MlperfSession:
            session = MlperfSession(open_link(url, baud), codec, timeout=5.0,
                                    line_max=line_max).open()
            session.identify()
            return session
        return opened

    return [
        _run("harness binary protocol", elf, inputs, expected, binary),
        _run("MLPerf text protocol, 38 bytes a db line (harness)", elf, inputs, expected,
             text(LINE_MAX)),
        _run("MLPerf text protocol, 31 bytes a db line (MLCommons' runner)", elf, inputs,
             expected, text(len("db ") + 2 * RUNNER_DB_BYTES)),
    ]


def table(results: list[Measured]) -> list[str]:
    first = results[0]
    lines = [f"{first.inputs} IC01 inputs (3,072 bytes each), one upload and one inference "
             "each, on the emulated board (harness firmware, TFLM with CMSIS-NN); measured "
             "wall time on this 2-core machine, bytes counted on the wire. Run "
             "`benchmarks/mlperf_wire.py` to refresh.", "",
             "| protocol | wall s | per input, median ms | host → board bytes | "
             "board → host bytes | round trips | outputs equal to the host's |",
             "|---|--:|--:|--:|--:|--:|--:|"]
    for r in results:
        lines.append(f"| {r.name} | {r.wall_s:.1f} | "
                     f"{1e3 * statistics.median(r.per_input_s):.0f} | {r.bytes_out:,} | "
                     f"{r.bytes_in:,} | {r.round_trips:,} | {r.outputs_equal} / {r.inputs} |")
    return lines


def write_doc(lines: list[str], doc: Path) -> None:
    text = doc.read_text()
    if BEGIN not in text:
        raise SystemExit(f"{doc} has no {BEGIN} … {END} section to fill")
    block = "\n".join([BEGIN, *lines, END])
    doc.write_text(re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text,
                          flags=re.DOTALL))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", type=int, default=100)
    parser.add_argument("--no-doc", action="store_true", help="print the table only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    lines = table(measure(args.inputs))
    print("\n".join(lines))
    if not args.no_doc:
        write_doc(lines, project_root() / "docs" / "mlperf.md")


if __name__ == "__main__":
    main()
