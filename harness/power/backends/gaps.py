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


def hold_over_missing(values: np.ndarray) -> tuple[np.ndarray, int]:
    """NaN marks a slot whose sample never arrived (or arrived invalid): hold the last
    good one there (the first good one before any). Returns the array and the count."""
    bad = ~np.isfinite(values)
    n_bad = int(bad.sum())
    if not n_bad or n_bad == len(values):
        return values, n_bad
    good_at = np.where(bad, 0, np.arange(len(values)))
    np.maximum.accumulate(good_at, out=good_at)
    first_good = int(np.argmax(~bad))
    good_at[:first_good] = first_good
    return values[good_at], n_bad
