"""A known DUT current with marker windows: what every instrument emulation measures."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Waveform:
    """Idle current, and ``windows`` marked bursts of ``active_a`` (times from start)."""

    idle_a: float = 0.002
    active_a: float = 0.020
    first_s: float = 0.10
    period_s: float = 0.15
    width_s: float = 0.05
    windows: int = 5

    def spans(self) -> np.ndarray:
        starts = self.first_s + self.period_s * np.arange(self.windows)
        return np.column_stack((starts, starts + self.width_s))

    def _inside(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        inside = np.zeros(t.shape, dtype=bool)
        for start, end in self.spans():
            inside |= (t >= start) & (t < end)
        return inside

    def current(self, t: np.ndarray) -> np.ndarray:
        """Current at instants ``t`` (s since the acquisition started)."""
        return np.where(self._inside(t), self.active_a, self.idle_a)

    def marker(self, t: np.ndarray) -> np.ndarray:
        return self._inside(t).astype(np.uint8)

    def energy_per_window_j(self, volts: float) -> float:
        return self.active_a * volts * self.width_s

    @property
    def last_end_s(self) -> float:
        return float(self.spans()[-1, 1])
