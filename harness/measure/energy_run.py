"""Energy procedure: marker-delimited inference windows under a power monitor.

The arithmetic (windows, integration, confidence interval) lives in
harness/power/energy.py; this module only choreographs the bench.
"""

from __future__ import annotations

import time
from pathlib import Path

from harness.dut.session import DutSession
from harness.power.energy import EnergyResult, measure_energy
from harness.power.monitor import PowerMonitor


def measure_energy_per_inference(session: DutSession, monitor: PowerMonitor, input_data: bytes,
                                 windows: int, inferences_per_window: int, idle_s: float,
                                 trace_path: Path | None = None) -> EnergyResult:
    """Idle, then ``windows`` INFERs of ``inferences_per_window`` runs with idle between."""
    session.upload(input_data)
    monitor.start()
    try:
        time.sleep(idle_s)
        for _ in range(windows):
            session.infer(0, inferences_per_window, per_run=False, want_output=False)
            time.sleep(idle_s)
    finally:
        monitor.stop()
    trace = monitor.read()
    if trace_path is not None:
        trace.save(trace_path)  # raw trace beside the results so the figure can be recomputed
    return measure_energy(trace, inferences_per_window, expected_windows=windows)
