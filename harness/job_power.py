"""The power side of one job: the monitor that supplies a board, switched on before it boots.

Labs wire energy runs so that the monitor is the board's only supply: it must be
on before the board is flashed or its session opens, and the board's READY comes
after power-up. A monitor that only measures (the board is powered elsewhere)
is left as it is. A monitor lost mid-trace is opened again for the next attempt.
A monitor that sources the board can also power-cycle it: how a hung board the
host has no reset line to is brought back (``power_cycler``, harness/dut/recovery.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from harness.boards.driver import BoardDriver
from harness.config.bench import BenchMonitor
from harness.config.board import BoardSpec
from harness.config.faults import FaultSpec
from harness.power.monitor import PowerMonitor, create_monitor, power_board

log = logging.getLogger(__name__)


class JobPower:
    """Opens, powers and reopens one bench monitor for one job. No I/O until ``open()``."""

    def __init__(self, spec: BenchMonitor, board: BoardSpec, driver: BoardDriver,
                 faults: FaultSpec | None = None) -> None:
        self.spec = spec
        self._board = board
        self._driver = driver
        self._faults = faults
        self._monitor: PowerMonitor | None = None
        self.sources_board = False      # True when the monitor switched the supply on

    @property
    def monitor(self) -> PowerMonitor:
        return self._monitor or self.open()

    def open(self) -> PowerMonitor:
        self.close()
        monitor = create_monitor(self.spec.backend, **self._params())
        monitor.configure(sample_rate=self.spec.sample_rate,
                          supply_voltage=self.spec.supply_voltage or self._board.supply.voltage_v,
                          current_range_a=None)
        self._monitor = monitor
        self.sources_board = power_board(monitor, True)
        if not self.sources_board:
            log.info("monitor %s only measures: %s is powered from elsewhere", self.spec.id,
                     self._board.id)
        return monitor

    def power_cycle(self) -> None:
        """Off, long enough for the board's capacitors to drain below its brown-out level
        (``supply.power_cycle_off_s``), then on: the board boots with its state lost."""
        monitor = self.monitor
        off_s = self._board.supply.power_cycle_off_s
        log.warning("power-cycling %s through monitor %s (off %g s)", self._board.id,
                    self.spec.id, off_s)
        monitor.set_output(False)
        time.sleep(off_s)
        monitor.set_output(True)

    def close(self) -> None:
        if self._monitor is not None:
            self._monitor.close()
            self._monitor = None

    def _params(self) -> dict:
        params = dict(self.spec.params)
        if self.spec.resource:
            params.setdefault("resource", self.spec.resource)
        if self.spec.backend != "sim":
            return params
        # A simulated board's virtual power wire is what a simulated monitor measures.
        wire = getattr(self._driver, "virtual_wire_params", None)
        if wire is not None:
            params = {**wire(), **params}
        if self._faults is not None and self._faults.monitor_disconnect_rate:
            params.setdefault("disconnect_rate", self._faults.monitor_disconnect_rate)
            params.setdefault("seed", self._faults.seed)
        return params


def power_cycler(power: JobPower | None) -> Callable[[], None] | None:
    """What the session's recovery power-cycles a hung board with: the job's monitor,
    when it is open and sources the board (call after ``power.open()``)."""
    return power.power_cycle if power is not None and power.sources_board else None
