"""What a session may do to get a misbehaving board back, and how often.

A board that resets mid-run (READY mid-command) has lost its input; one that stops
answering is reset by its driver; one whose port vanished (USB re-enumeration) is
looked for again. The session then uploads its input again and repeats the
interrupted command. Every action is counted in the session's LinkStats, so rows
say how many recoveries their figures survived.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import serial

#: reopen the board's link after it was lost (finds it again by VID:PID and serial number)
Relink = Callable[[float], serial.SerialBase]


@dataclass(frozen=True)
class Recovery:
    board: str                              # named in every message
    reset: Callable[[], None] | None = None  # the driver's reset (or power-cycle)
    relink: Relink | None = None
    attempts: int = 5                       # recoveries per command before the job fails
    relink_timeout_s: float = 10.0          # re-enumeration takes 1-3 s on real USB
    ready_timeout_s: float = 5.0            # boot to READY after a reset (ROM text included)
