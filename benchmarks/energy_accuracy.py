"""Accuracy of the energy arithmetic against synthetic traces of known energy.

Each trace: 4.5 mA idle, then 10 windows of 37.1111 ms at 12.6 mA (not a whole
number of samples at any rate) 0.2 s apart, 3.3 V; every sample is the exact
average of that piecewise-constant current over its interval (as an
integrating instrument reports it) plus white Gaussian noise; the marker is
0/1, read at each sample's midpoint. Per cell, 5 seeds, each shifting the
windows by a random fraction of a sample. Errors are of the mean J/inference
(5 inferences per window) against the exact value.

A second table places the windows from host timestamps instead of the marker
(`measure_energy_from_timestamps`), each edge off by a uniform error within
±jitter, and reports the error and the CI half-width.

Run: ``.venv/bin/python benchmarks/energy_accuracy.py`` (prints Markdown tables
for docs/energy.md; about a minute).
"""

from __future__ import annotations

import numpy as np
from rich.console import Console

from harness.power.energy import measure_energy, measure_energy_from_timestamps
from harness.power.sim_activity import RECORD
from harness.power.sim_monitor import render, timeline
from harness.power.trace import Trace

SUPPLY_V, IDLE_A, ACTIVE_A = 3.3, 0.0045, 0.0126
WINDOW_S, GAP_S, WINDOWS, PER_WINDOW = 0.0371111, 0.2, 10, 5
RATES = (10e3, 100e3, 1e6)
NOISES_A = (0.0, 2e-4, 1e-3, 3e-3)
SEEDS = 5
TRUE_J = WINDOW_S * ACTIVE_A * SUPPLY_V / PER_WINDOW
TRUE_ABOVE_J = WINDOW_S * (ACTIVE_A - IDLE_A) * SUPPLY_V / PER_WINDOW


def synthetic(rate: float, noise_a: float, seed: int) -> tuple[Trace, np.ndarray]:
    """The trace and its windows' true (start, end) in trace seconds."""
    rng = np.random.default_rng(seed)
    shift = rng.uniform(0.0, 1.0 / rate)
    segments = np.array([(1.0 + GAP_S * i + shift, WINDOW_S, ACTIVE_A, 1, 0)
                         for i in range(WINDOWS)], dtype=RECORD)
    edges, levels, spans = timeline(segments, 0.9, GAP_S * WINDOWS + 0.2, IDLE_A)
    current, marker = render(edges, levels, spans, rate)
    current += rng.normal(0.0, noise_a, current.shape)
    return Trace(rate, current, SUPPLY_V, {"marker": marker}), spans


def marker_table(console: Console) -> None:
    console.print("| rate | noise (rms) | mean error | worst error | worst above-idle error "
                  "| 95 % CI half-width |", markup=False)
    console.print("| --- | --- | --- | --- | --- | --- |", markup=False)
    for rate in RATES:
        for noise in NOISES_A:
            errors, above, half = [], [], []
            for seed in range(SEEDS):
                trace, _ = synthetic(rate, noise, seed)
                r = measure_energy(trace, PER_WINDOW)
                errors.append(r.mean_j / TRUE_J - 1)
                above.append(r.above_idle_mean_j / TRUE_ABOVE_J - 1)
                half.append((r.ci_high_j - r.ci_low_j) / 2 / TRUE_J)
            console.print(f"| {rate / 1e3:g} kS/s | {noise * 1e3:g} mA "
                          f"| {np.mean(errors):+.3%} | {np.max(np.abs(errors)):.3%} "
                          f"| {np.max(np.abs(above)):.3%} | {np.mean(half):.3%} |",
                          markup=False)


def timestamp_table(console: Console, rate: float = 100e3, noise: float = 2e-4) -> None:
    console.print(f"\nNo marker, windows from host timestamps ({rate / 1e3:g} kS/s, "
                  f"{noise * 1e3:g} mA noise):\n", markup=False)
    console.print("| jitter (±) | worst error | worst above-idle error | CI half-width "
                  "| of which edges | truth inside CI |", markup=False)
    console.print("| --- | --- | --- | --- | --- | --- |", markup=False)
    for jitter in (1e-4, 1e-3, 5e-3):
        errors, above, half, edge, inside = [], [], [], [], 0
        for seed in range(SEEDS):
            trace, spans = synthetic(rate, noise, seed)
            error = np.random.default_rng(100 + seed).uniform(-jitter, jitter, spans.shape)
            host_t0 = 1000.0
            r = measure_energy_from_timestamps(trace, host_t0 + spans + error, host_t0,
                                               PER_WINDOW, jitter_s=jitter)
            errors.append(r.mean_j / TRUE_J - 1)
            above.append(r.above_idle_mean_j / TRUE_ABOVE_J - 1)
            half.append((r.ci_high_j - r.ci_low_j) / 2 / TRUE_J)
            edge.append(r.edge_uncertainty_j / TRUE_J)
            inside += r.ci_low_j <= TRUE_J <= r.ci_high_j
        console.print(f"| {jitter * 1e3:g} ms | {np.max(np.abs(errors)):.3%} "
                      f"| {np.max(np.abs(above)):.3%} | {np.mean(half):.3%} "
                      f"| {np.mean(edge):.3%} | {inside}/{SEEDS} |", markup=False)


def main() -> None:
    console = Console(soft_wrap=True)
    marker_table(console)
    timestamp_table(console)


if __name__ == "__main__":
    main()
