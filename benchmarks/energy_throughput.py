"""Chunked energy path: samples/s on one core and peak memory for a long trace on disk.

Writes a synthetic trace (default: one hour at 1 MS/s, 3.6e9 samples, ~18 GB)
to a trace folder chunk by chunk, then measures it in a fresh child process
with ``measure_energy`` over ``TraceFile.chunks`` and reports the child's wall
time, samples/s and peak RSS (``ru_maxrss``). The trace: 4.5 mA idle, every
200 ms a 37.1 ms window at 12.6 mA with the marker high, 3.3 V, Gaussian noise
of 0.2 mA (a 1 M-sample noise block reused, to keep writing cheap).

Run: ``.venv/bin/python benchmarks/energy_throughput.py [--minutes 60] [--rate 1e6]
[--dir /tmp/energy-bench] [--keep]``. numpy here runs on one core.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from harness.power.energy import CHUNK_SAMPLES, measure_energy
from harness.power.trace_file import TraceFile, TraceWriter

SUPPLY_V, IDLE_A, ACTIVE_A, NOISE_A = 3.3, 0.0045, 0.0126, 2e-4
PERIOD_S, WINDOW_S = 0.2, 0.0371


def write_trace(path: Path, minutes: float, rate: float) -> float:
    """The synthetic trace, written 1 M samples at a time; returns the seconds it took."""
    n_total = int(minutes * 60 * rate)
    period, active = round(PERIOD_S * rate), round(WINDOW_S * rate)
    lead = period // 2  # idle before the first window and after the last
    noise = np.random.default_rng(0).normal(0.0, NOISE_A, CHUNK_SAMPLES).astype(np.float32)
    writer = TraceWriter(path, rate, SUPPLY_V, ["marker"],
                         instrument={"model": "synthetic (benchmarks/energy_throughput.py)"})
    started = time.perf_counter()
    for start in range(0, n_total, CHUNK_SAMPLES):
        idx = np.arange(start, min(start + CHUNK_SAMPLES, n_total))
        phase = (idx - lead) % period
        marker = ((idx >= lead) & (phase < active) & (idx < n_total - lead)).astype(np.uint8)
        current = np.where(marker, np.float32(ACTIVE_A), np.float32(IDLE_A)) + noise[:len(idx)]
        writer.append(current, {"marker": marker})
    writer.close()
    return time.perf_counter() - started


def measure_child(path: Path) -> dict[str, float]:
    """Runs in a fresh process so that its peak RSS is the energy pass's alone."""
    trace = TraceFile(path)
    started = time.perf_counter()
    result = measure_energy(trace, 1)
    seconds = time.perf_counter() - started
    return {"samples": trace.n_samples, "seconds": seconds,
            "windows": result.n_windows, "mean_j": result.mean_j,
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=1e6)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/energy-throughput.trace"))
    parser.add_argument("--keep", action="store_true", help="leave the trace folder on disk")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args()
    if args.measure:
        json.dump(measure_child(args.measure), sys.stdout)
        return

    write_s = write_trace(args.dir, args.minutes, args.rate)
    try:
        out = subprocess.run([sys.executable, __file__, "--measure", str(args.dir)],
                             check=True, capture_output=True, text=True).stdout
    finally:
        if not args.keep:
            shutil.rmtree(args.dir, ignore_errors=True)
    got = json.loads(out)
    true_j = WINDOW_S * ACTIVE_A * SUPPLY_V
    table = Table(title=f"energy_throughput: {args.minutes:g} min at {args.rate:g} S/s "
                        "(synthetic trace, source: simulated)")
    for column in ("samples", "write s", "energy pass s", "M samples/s", "peak RSS MiB",
                   "windows", "J/window error"):
        table.add_column(column, justify="right")
    table.add_row(f"{got['samples']:.3g}", f"{write_s:.1f}", f"{got['seconds']:.1f}",
                  f"{got['samples'] / got['seconds'] / 1e6:.1f}",
                  f"{got['peak_rss_bytes'] / 2**20:.0f}", f"{got['windows']:,}",
                  f"{got['mean_j'] / true_j - 1:+.2e}")
    Console().print(table)


if __name__ == "__main__":
    main()
