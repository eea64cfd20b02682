"""What the fault layer did to one board: a snapshot, by kind and direction."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FaultCounts:
    """Faults injected so far, with what they were drawn over (bytes, command bursts)."""

    bytes_to_board: int = 0         # bytes the host sent that crossed the faulty line
    bytes_from_board: int = 0       # bytes the board sent (boot text included)
    dropped_to_board: int = 0
    dropped_from_board: int = 0
    duplicated_to_board: int = 0
    duplicated_from_board: int = 0
    corrupted_to_board: int = 0
    corrupted_from_board: int = 0
    bursts: int = 0                 # host command bursts: what reset_rate and hang_rate draw on
    resets: int = 0                 # injected brown-out / watchdog resets
    hangs: int = 0                  # injected hangs (hang_rate, and hang())
    host_resets: int = 0            # resets the host asked for (recovery)
    reenumerations: int = 0         # times the port vanished
    boot_texts: int = 0             # ROM boot texts sent (reset on open, and every reset after)
    lost_while_booting: int = 0     # host bytes lost because the board was booting
