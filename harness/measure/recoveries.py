"""What a job's board put its session through, written beside the figures it touched.

A figure measured across a board reset, a hang (reset by the host's reset line or
by a power-cycle through its monitor) or a lost port is still a figure
from completed commands only (the interrupted command was repeated), but a reader
must see that it happened: those figures carry a caveat, and every job records
its totals as info rows, zeros included.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from harness.results.rows import ResultRow, RowContext, caveat, join_notes

if TYPE_CHECKING:
    from harness.dut.mlperf_session import MlperfSession
    from harness.dut.session import DutSession

#: LinkStats counters that mean the board itself misbehaved, with how a note names them
#: (a hang the host power-cycled counts in both hang_resets and power_cycles)
DISRUPTIONS = {"reboots": "board reset", "hang_resets": "hang (reset by the host)",
               "power_cycles": "power-cycle through its monitor",
               "relinks": "lost port (found again)"}
#: info rows every job records: metric -> LinkStats counter
TOTALS = {"board_resets": "reboots", "board_hangs": "hang_resets",
          "board_power_cycles": "power_cycles",
          "link_losses": "relinks", "command_resends": "resends",
          "frames_garbled_to_board": "line_errors", "frames_garbled_from_board": "garbled_in"}


class RecoveryWatch:
    """Snapshots of a session's recovery counters between a job's modes."""

    def __init__(self, session: DutSession | MlperfSession) -> None:
        self._session = session
        self._start = self._mark = self._counts()

    def _counts(self) -> dict[str, int]:
        stats = self._session.stats
        return {name: getattr(stats, name) for name in {*DISRUPTIONS, *TOTALS.values()}}

    def since_mark(self) -> dict[str, int]:
        now = self._counts()
        return {name: now[name] - self._mark[name] for name in now}

    def disturbed(self) -> dict[str, int]:
        """What since the mark ran a command again: a reset, hang, lost port or resend.
        (A garbled frame that was not a command's reply or a command changes nothing.)"""
        delta = self.since_mark()
        return {name: delta[name] for name in (*DISRUPTIONS, "resends") if delta[name]}

    def annotate(self, rows: list[ResultRow], mode: str) -> list[ResultRow]:
        """Caveat ``mode``'s rows with what the board did since the last mode ended."""
        delta, self._mark = self.since_mark(), self._counts()
        happened = [f"{delta[name]} × {label}" for name, label in DISRUPTIONS.items()
                    if delta[name]]
        if not happened:
            return rows
        note = caveat(f"survived {', '.join(happened)}; the interrupted commands were "
                      "repeated on a fresh upload")
        return [replace(r, notes=join_notes(r.notes, note)) if r.mode == mode else r
                for r in rows]

    def totals(self, ctx: RowContext, time: str) -> list[ResultRow]:
        now = self._counts()
        return [ctx.row("info", metric, now[name] - self._start[name], "events", time=time)
                for metric, name in TOTALS.items()]
