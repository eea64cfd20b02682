"""What every backend test does with its monitor: one acquisition, always closed."""

from __future__ import annotations

import time
from collections.abc import Callable

from harness.power.monitor import PowerMonitor
from harness.power.trace import Trace


def record(monitor: PowerMonitor, sample_rate: float, supply_voltage: float | None,
           seconds: float, current_range_a: float | None = None) -> Trace:
    try:
        monitor.configure(sample_rate=sample_rate, supply_voltage=supply_voltage,
                          current_range_a=current_range_a)
        monitor.start()
        time.sleep(seconds)
        monitor.stop()
        return monitor.read()
    finally:
        monitor.close()


def wait_until(condition: Callable[[], bool], timeout_s: float = 2.0) -> bool:
    """Whether ``condition`` came true within the timeout (an emulator answers on its own
    thread)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True
