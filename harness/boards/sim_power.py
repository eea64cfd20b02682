"""What keeps a simulated board alive: its supply, and its firmware not hanging.

The simulated board process serves its device through ``PoweredDevice``. A
simulated monitor switches the board's supply through the virtual wire's supply
file (``harness/power/sim_supply.py``), which ``watch`` follows; the driver
hangs and resets the board by signal. Off or hung, the board answers nothing
and what it was doing stops (a realtime INFER included); power back on, or a
reset, and it boots with its state lost and sends READY, as a real board does.
A power loss ends a hang; a hang survives nothing but a reset or a power-cycle.

Every change is applied at the boot the change's reset request causes, on the
thread that serves the link, so a command is never answered half-way between
two states.
"""

from __future__ import annotations

import threading
from pathlib import Path

from harness.dut.pty_link import ByteDevice, ResetLine
from harness.power.sim_supply import supply_on

#: how often the supply file is read: a power-cycle is off for far longer (docs/boards.md)
SUPPLY_POLL_S = 0.01


class PoweredDevice:
    """``device`` as its supply and its firmware's state let it answer."""

    def __init__(self, device: ByteDevice, reset: ResetLine, supply: Path | None) -> None:
        self._device = device
        self._reset = reset
        self._supply = supply
        self._supply_on = supply_on(supply) if supply is not None else True
        self._hang_asked = False
        self._alive = self._supply_on      # as of the last boot

    def boot(self) -> bytes:
        self._alive = self._supply_on and not self._hang_asked
        return self._device.boot() if self._alive else b""

    def feed(self, data: bytes) -> bytes:
        return self._device.feed(data) if self._alive else b""

    def hang(self) -> None:
        """The firmware stops: it answers nothing until a reset or a power-cycle."""
        self._hang_asked = True
        self._reset.request()

    def reset(self) -> None:
        """The reset line (or a brown-out, a watchdog): a hang ends, the board boots."""
        self._hang_asked = False
        self._reset.request()

    def watch(self, stop: threading.Event) -> None:
        """Follow the supply file until ``stop``; without one, the board is always on."""
        if self._supply is None:
            return
        while not stop.wait(SUPPLY_POLL_S):
            on = supply_on(self._supply)
            if on != self._supply_on:
                self._supply_on = on
                self._hang_asked = False    # a power loss clears whatever was stuck
                self._reset.request()
