"""Cycle counts from the board under test: consistent run to run, plausible for the work
(the latency model's estimate for a model, cycles per byte for the checksum runner), and,
on a real clock, no more time counted than passed on the host's clock."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from harness.boards.latency_model import estimate
from harness.config.board import BoardSpec
from harness.dut.messages import HelloInfo, MsgType
from harness.dut.session import DutSession
from harness.models.tflite_inspect import inspect_tflite
from tests.hardware.suite import sample_inputs

pytestmark = pytest.mark.hardware
RUNS = 10
PLAUSIBLE = (0.1, 10.0)   # measured / latency model: catches a stalled or mis-scaled counter
VIRTUAL_CLOCKS = {"systick-icount": "QEMU's virtual time", "model": "the latency model"}


@pytest.fixture(scope="module")
def cycles(dut: DutSession, hello: HelloInfo) -> np.ndarray:
    dut.upload(sample_inputs(hello.inputs[0], 1, seed=2)[0].tobytes())
    result = dut.infer(warmups=2, runs=RUNS, per_run=True, want_output=False)
    counted = np.asarray(result.cycles, dtype=np.int64)
    assert len(counted) == RUNS and result.total_cycles == int(counted.sum())
    return counted


def test_per_run_cycles_agree(cycles: np.ndarray) -> None:
    """The same input takes the same path: runs differ by caches and wait states only."""
    assert cycles.min() > 0
    spread = (cycles.max() - cycles.min()) / np.median(cycles)
    assert spread <= 0.05, f"per-run cycles {cycles.tolist()} vary by {spread:.1%}"


def test_cycles_are_plausible_for_the_model(cycles: np.ndarray, model: Path,
                                            board: BoardSpec, hello: HelloInfo) -> None:
    predicted = estimate(inspect_tflite(model), board.core, board.build.kernels,
                         hello.clock_hz).total_cycles
    ratio = float(np.median(cycles)) / predicted
    assert PLAUSIBLE[0] <= ratio <= PLAUSIBLE[1], (
        f"median {np.median(cycles):,.0f} {hello.counter} counts, latency model {predicted:,} "
        f"cycles for {board.core}/{board.build.kernels}: ratio {ratio:.2f}")


def test_checksum_cycles_are_plausible_per_byte(cycles: np.ndarray, hello: HelloInfo,
                                                runs_a_model: bool) -> None:
    if runs_a_model:
        pytest.skip("the board runs a model: test_cycles_are_plausible_for_the_model")
    per_byte = float(np.median(cycles)) / hello.input_bytes
    # a CRC-32 with a 16-entry table and a byte sum: about 10-20 instructions a byte
    assert 2 <= per_byte <= 200, f"{per_byte:.1f} cycles per input byte"


def test_counted_time_fits_the_host_clock(dut: DutSession, hello: HelloInfo,
                                          cycles: np.ndarray) -> None:
    """A wrong clock_hz (a PLL left unset, a divider) shows as counted time that the
    host's clock contradicts."""
    if hello.counter in VIRTUAL_CLOCKS:
        pytest.skip(f"counter {hello.counter!r} runs on {VIRTUAL_CLOCKS[hello.counter]}, "
                    "not on a clock the host can compare")
    round_trip = min(_ping_s(dut) for _ in range(3))
    runs = int(min(0xFFFF, max(1, 0.3 / (float(np.median(cycles)) / hello.clock_hz))))
    started = time.perf_counter()
    result = dut.infer(warmups=0, runs=runs, per_run=False, want_output=False)
    wall = time.perf_counter() - started
    counted = result.total_cycles / hello.clock_hz
    assert counted <= wall, f"{counted:.3f} s counted in {wall:.3f} s of wall time"
    assert counted >= 0.5 * (wall - 2 * round_trip), \
        f"only {counted:.3f} s counted in {wall:.3f} s (round trip {round_trip * 1e3:.1f} ms)"


def _ping_s(dut: DutSession) -> float:
    started = time.perf_counter()
    dut.request(MsgType.PING, b"rtt")
    return time.perf_counter() - started
