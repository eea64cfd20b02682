"""An MLPerf Tiny DUT as the run rules' session (measure/mlperf_rules.py, ``RuleSession``).

The rules say only ``upload`` and ``infer`` to a board and read an infer's time as
``total_cycles / clock_hz`` of the board's timer. On a DUT speaking MLPerf's text
protocol that timer is its own ``m-lap-us`` (a microsecond clock read before and
after the timed runs of ``infer N W%``), so this presents the lap time as cycles of
a 1 MHz clock. Only a performance-mode DUT prints laps; an energy-mode one is
refused by the command that finds it, naming the board.
"""

from __future__ import annotations

from harness.dut.messages import InferResult
from harness.dut.mlperf_session import MlperfSession
from harness.dut.transport import LinkStats
from harness.dut.waits import InferWaits
from harness.errors import MeasurementError

#: what the rule records call the timer their seconds come from
LAP_COUNTER = "m-lap-us (the MLPerf DUT's microsecond timer)"


class LapTimedSession:
    """``MlperfSession`` as a ``RuleSession``: a 1 MHz "clock" counting ``m-lap-us``."""

    clock_hz = MlperfSession.timer_hz
    counter = LAP_COUNTER

    def __init__(self, session: MlperfSession) -> None:
        self.session = session

    @property
    def stats(self) -> LinkStats:
        return self.session.stats

    @property
    def waits(self) -> InferWaits:
        return self.session.waits

    def upload(self, data: bytes) -> object:
        return self.session.upload(data)

    def infer(self, warmups: int = 0, runs: int = 1, per_run: bool = True,
              want_output: bool = True, timeout: float | None = None) -> InferResult:
        """One ``infer runs warmups%``; its lap time as ``total_cycles`` (µs). The DUT
        times the whole command, so ``per_run`` must be False, as the rules ask."""
        reply = self.session.infer(warmups, runs, per_run=per_run, timeout=timeout)
        if reply.elapsed_us is None:
            raise MeasurementError(
                f"board {self.session.board}: `infer {runs} {warmups}%` printed no m-lap-us "
                "lines (energy-mode firmware); the run rules time runs on a performance-mode "
                "DUT's m-lap-us")
        output = reply.output if want_output else None
        return InferResult(runs=runs, total_cycles=reply.elapsed_us, cycles=None,
                           output=output, output_bytes=len(output or b""))
