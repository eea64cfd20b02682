"""Keeping a trace's time base when an instrument reports lost samples.

A lost sample must still take its slot, or every later marker edge and the
trace's span shift. The slot is filled by holding the last sample before the
gap; the count goes into ``Trace.dropped_samples`` so energy.py flags the
figure instead of reporting it silently.
"""

from __future__ import annotations

import numpy as np


def hold_over_gaps(missing_after: np.ndarray, *channels: np.ndarray) -> list[np.ndarray]:
    """Repeat sample ``k`` of every channel ``1 + missing_after[k]`` times."""
    repeats = 1 + np.asarray(missing_after, dtype=np.int64)
    return [np.repeat(ch, repeats) for ch in channels]
