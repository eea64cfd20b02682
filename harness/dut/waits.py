"""How long to wait for a board: derived from what is awaited, never a fixed cap.

An INFER of n inferences is awaited for n × the expected time per inference (the
latency model's estimate until the board has answered one, then what it took),
twice over, plus the line time of the command and its reply, plus the ordinary
reply margin. Long runs are split so that no single command outlasts
``MAX_COMMAND_S``: a hang is then noticed within about a minute.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: what one INFER may take before a run is split over several
MAX_COMMAND_S = 20.0
#: an INFER may take this many times the expected time before it counts as lost
#: (2: a command resent while the first copy still runs finishes within it)
SLACK = 2.0
#: the guess before anything is known about a board (no latency estimate given)
UNKNOWN_S_PER_INFERENCE = 5.0


@dataclass
class InferWaits:
    """Expected wall time per inference on one board, learnt as the board answers."""

    seconds_per_inference: float = UNKNOWN_S_PER_INFERENCE
    measured: bool = False
    known: bool = False     # an estimate or a measurement, not the blind guess

    def expect(self, seconds: float) -> None:
        """The latency model's estimate (ignored once the board has been timed)."""
        if not self.measured and seconds > 0:
            self.seconds_per_inference = seconds
            self.known = True

    def observed(self, inferences: int, seconds: float) -> None:
        """An INFER of ``inferences`` answered after ``seconds`` (wire time included)."""
        if inferences > 0:
            per = seconds / inferences
            if not self.measured:
                log.debug("first INFER: %.4f s per inference (expected %.4f s)", per,
                          self.seconds_per_inference)
            self.seconds_per_inference = per if not self.measured else \
                max(per, 0.5 * self.seconds_per_inference + 0.5 * per)
            self.measured = self.known = True

    def infer_timeout(self, inferences: int, wire_s: float, margin_s: float) -> float:
        return inferences * self.seconds_per_inference * SLACK + wire_s + margin_s

    def runs_per_command(self, warmups: int, cap: int) -> int:
        """Runs in the next INFER (after ``warmups``); unsplit while nothing is known."""
        if not self.known:
            return cap
        per_command = max(1, math.floor(MAX_COMMAND_S / self.seconds_per_inference))
        return max(1, min(cap, per_command - warmups))
