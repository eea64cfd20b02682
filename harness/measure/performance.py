"""Latency: warmups, then timed runs; per-run cycles -> milliseconds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.dut.session import DutSession


@dataclass(frozen=True)
class PerformanceResult:
    cycles: np.ndarray        # per timed run
    clock_hz: int

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
