"""The simulated board's runner: TFLM host runtime for outputs, latency model for cycles.

It also drives the board's virtual power wire: every INFER appends its warm-up
and timed (marker-high) segments to the activity log the simulated monitor reads.
"""

from __future__ import annotations

import time

import numpy as np

from harness.boards.latency_model import estimate, jittered_cycles
from harness.config.board import BoardSpec
from harness.dut.device import RunnerResult
from harness.models.tflite_inspect import ModelInfo
from harness.models.tflm_host import TflmHostModel
from harness.power.sim_activity import ActivityWriter


class SimulatedRunner:
    """Runs the model once per INFER (outputs are deterministic) and models the timing."""

    def __init__(self, board: BoardSpec, model: TflmHostModel, info: ModelInfo,
                 activity: ActivityWriter | None, seed: int = 0) -> None:
        self._board = board
        self._model = model
        self._activity = activity
        self._rng = np.random.default_rng(seed)
        self.cycles_per_inference = estimate(
            info, board.core, board.build.kernels, board.clock_hz).total_cycles

    def infer(self, input_data: bytes, warmups: int, runs: int) -> RunnerResult:
        raw = self._model.input_spec.from_bytes(input_data)
        output = self._model.run(raw)
        cycles = jittered_cycles(self.cycles_per_inference, runs, self._rng)
        if self._activity is not None:
            self._record(warmups, cycles)
        return RunnerResult(output=np.ascontiguousarray(output).tobytes(),
                            cycles=[int(c) for c in cycles])

    def _record(self, warmups: int, cycles: np.ndarray) -> None:
        clock = self._board.clock_hz
        current = self._board.power.active_current_a
        now = time.monotonic()
        if warmups:
            warm_s = warmups * self.cycles_per_inference / clock
            self._activity.append(now, warm_s, current, False)
        self._activity.append(now, float(np.sum(cycles)) / clock, current, True)
