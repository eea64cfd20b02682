"""Latency: warmups, then timed runs; per-run cycles -> milliseconds.

A board that times only a whole INFER (MLPerf Tiny's DUT: two ``m-lap-us`` lines
around N inferences) gives one figure per INFER command instead:
`measure_lap_performance` splits the runs over several commands and the
distribution is that of their per-inference means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.dut.mlperf_session import MlperfSession
from harness.dut.session import DutSession
from harness.errors import ProtocolError

#: INFER commands a lap-timed performance run is split into, at least (MLPerf Tiny's
#: runner times five)
LAP_COMMANDS = 5


@dataclass(frozen=True)
class PerformanceResult:
    cycles: np.ndarray        # per timed run; or per INFER command, the mean per inference
    clock_hz: int | float     # what the counts count per second
    runs_per_sample: tuple[int, ...] = ()   # lap-timed: the runs each INFER held

    @property
    def latency_ms(self) -> np.ndarray:
        return self.cycles.astype(np.float64) / self.clock_hz * 1e3

    @property
    def median_ms(self) -> float:
        return float(np.median(self.latency_ms))

    @property
    def p90_ms(self) -> float:
        return float(np.percentile(self.latency_ms, 90))

    @property
    def mean_cycles(self) -> float:
        return float(np.mean(self.cycles))


def measure_performance(session: DutSession, input_data: bytes, clock_hz: int,
                        warmups: int, runs: int) -> PerformanceResult:
    """Upload one input, then time ``runs`` inferences after ``warmups`` untimed ones."""
    session.upload(input_data)
    result = session.infer(warmups, runs, per_run=True, want_output=False)
    return PerformanceResult(cycles=np.asarray(result.cycles, dtype=np.int64), clock_hz=clock_hz)


def measure_lap_performance(session: MlperfSession, input_data: bytes, warmups: int,
                            runs: int) -> PerformanceResult:
    """``runs`` inferences over at least `LAP_COMMANDS` INFER commands (fewer when there
    are fewer runs), each with ``warmups`` warm-ups first, as MLPerf's ``infer N W``;
    no command is expected to outlast waits.MAX_COMMAND_S. Each command's figure is
    its lap time over its runs, in microseconds."""
    session.upload(input_data)
    means: list[float] = []
    sizes: list[int] = []
    done = 0
    while done < runs:
        left = max(1, min(LAP_COMMANDS, runs) - len(sizes))
        n = min(math.ceil((runs - done) / left),
                session.waits.runs_per_command(warmups, runs - done))
        result = session.infer(warmups, n)
        if result.elapsed_us is None:
            raise ProtocolError(f"board {session.board}: `infer {n} {warmups}%` printed no "
                                "m-lap-us lines: the DUT runs its energy-mode firmware, which "
                                "times with the timestamp pin")
        means.append(result.elapsed_us / n)
        sizes.append(n)
        done += n
    return PerformanceResult(cycles=np.asarray(means), clock_hz=session.timer_hz,
                             runs_per_sample=tuple(sizes))
