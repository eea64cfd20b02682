"""The simulated board's runner: TFLM host runtime for outputs, latency model for cycles.

It also drives the board's virtual power wire: every INFER appends its warm-up
and timed (marker-high) segments to the activity log the simulated monitor reads.

At ``realtime`` pace an INFER also takes its modelled time in wall time (warm-ups,
then the timed runs), so the host sees the board's latency; the activity log then
records the segments where they really fell. A reset cuts that time short: the
segments record what was spent, and the reply is never sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from harness.boards.calibration import Calibration
from harness.boards.latency_model import JITTER_REL_SIGMA, estimate, jittered_cycles
from harness.config.board import BoardSpec
from harness.dut.device import RunnerProfile, RunnerResult
from harness.models.tflite_inspect import ModelInfo
from harness.models.tflm_host import TflmHostModel
from harness.power.sim_activity import ActivityWriter


class SimulatedRunner:
    """Runs the model once per INFER (outputs are deterministic) and models the timing."""

    def __init__(self, board: BoardSpec, model: TflmHostModel, info: ModelInfo,
                 activity: ActivityWriter | None, seed: int = 0,
                 realtime_sleep: Callable[[float], bool] | None = None,
                 calibration: Calibration | None = None) -> None:
        """``realtime_sleep(s)``, if given, spends an INFER's modelled seconds in wall time
        (realtime pace) and returns False when a reset cut them short. ``calibration``:
        the board's own op costs instead of the published constants."""
        self._board = board
        self._model = model
        self._activity = activity
        self._rng = np.random.default_rng(seed)
        self._sleep = realtime_sleep
        latency = estimate(info, board.core, board.build.kernels, board.clock_hz, calibration)
        self.cycles_per_inference = latency.total_cycles
        self.cycles_per_op = latency.cycles_per_op

    def infer(self, input_data: bytes, warmups: int, runs: int) -> RunnerResult:
        started = time.monotonic()
        raw = self._model.input_spec.from_bytes(input_data)
        output = self._model.run(raw)
        cycles = jittered_cycles(self.cycles_per_inference, runs, self._rng)
        if self._sleep is not None:
            self._spend(self._sleep, started, warmups, cycles)
        elif self._activity is not None:
            self._record(warmups, cycles)
        return RunnerResult(output=np.ascontiguousarray(output).tobytes(),
                            cycles=[int(c) for c in cycles])

    def profile(self, input_data: bytes, runs: int) -> RunnerProfile:
        """PROFILE: the latency model's split of an inference over its ops, each op with the
        same run-to-run jitter as a whole inference; no profiling overhead is modelled."""
        started = time.monotonic()
        output = self._model.run(self._model.input_spec.from_bytes(input_data))
        per_op = np.asarray(self.cycles_per_op, dtype=np.float64)
        noisy = per_op * (1.0 + JITTER_REL_SIGMA * self._rng.standard_normal((runs, per_op.size)))
        op_cycles = np.maximum(np.rint(noisy), 0).astype(np.int64).sum(axis=0)
        seconds = float(op_cycles.sum()) / self._board.clock_hz
        realtime = self._sleep is not None
        if self._sleep is not None:     # a reset cuts it short, as an INFER
            self._sleep(started + seconds - time.monotonic())
        if self._activity is not None:  # not an energy window: the marker stays low
            self._activity.append(started if realtime else time.monotonic(), seconds,
                                  self._board.power.active_current_a, False, realtime=realtime)
        return RunnerProfile(np.ascontiguousarray(output).tobytes(),
                             [int(c) for c in op_cycles], int(op_cycles.sum()))

    def _record(self, warmups: int, cycles: np.ndarray) -> None:
        assert self._activity is not None
        clock = self._board.clock_hz
        current = self._board.power.active_current_a
        now = time.monotonic()
        if warmups:
            warm_s = warmups * self.cycles_per_inference / clock
            self._activity.append(now, warm_s, current, False)
        self._activity.append(now, float(np.sum(cycles)) / clock, current, True)

    def _spend(self, sleep: Callable[[float], bool], started: float, warmups: int,
               cycles: np.ndarray) -> None:
        """Warm-ups, then the timed runs, in wall time; the host run's time counts toward them."""
        clock = self._board.clock_hz
        warm_s = warmups * self.cycles_per_inference / clock
        timed_s = float(np.sum(cycles)) / clock
        segments = [(started, warm_s, False)] if warmups else []
        alive = sleep(started + warm_s - time.monotonic())
        if alive:
            timed_start = time.monotonic()
            alive = sleep(timed_s)
            segments.append((timed_start, timed_s, True))
        if not alive:   # reset: the last segment ends now
            start, _, marker = segments[-1] if segments else (started, 0.0, False)
            segments[-1:] = [(start, time.monotonic() - start, marker)]
        if self._activity is not None:
            current = self._board.power.active_current_a
            for start, duration, marker in segments:
                self._activity.append(start, duration, current, marker, realtime=True)
