"""The simulated board's "power wire": an append-only log of what it draws.

The simulated board appends one record per activity segment (warm-up, timed
inferences); the simulated monitor reads the records that fall between its
start() and stop(). Records are fixed-size binary, so a reader never parses a
half-written line, and times are CLOCK_MONOTONIC, which all processes share.

A segment is either *modelled* (``realtime`` 0: it stands for what the modelled
board would take, and the monitor inserts its duration where it began) or
*realtime* (1: it already happened in wall time, from ``wall_start`` for
``duration_s``, and the monitor overlays it on the wall timeline).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

RECORD = np.dtype([("wall_start", "<f8"), ("duration_s", "<f8"), ("current_a", "<f8"),
                   ("marker", "u1"), ("realtime", "u1")])


class ActivityWriter:
    def __init__(self, path: Path) -> None:
        self._path = path

    def append(self, wall_start: float, duration_s: float, current_a: float,
               marker: bool, realtime: bool = False) -> None:
        record = np.array([(wall_start, duration_s, current_a, int(marker), int(realtime))],
                          dtype=RECORD)
        with self._path.open("ab") as fh:
            fh.write(record.tobytes())
            fh.flush()
            os.fsync(fh.fileno())


class ActivityReader:
    def __init__(self, path: Path) -> None:
        self._path = path

    def segments_between(self, wall_from: float, wall_to: float) -> np.ndarray:
        """Records that start in [wall_from, wall_to], and realtime ones still running at
        wall_from, in start order."""
        if not self._path.exists():
            return np.empty(0, dtype=RECORD)
        raw = self._path.read_bytes()
        raw = raw[: len(raw) - len(raw) % RECORD.itemsize]
        records = np.frombuffer(raw, dtype=RECORD)
        start = records["wall_start"]
        keep = (start >= wall_from) & (start <= wall_to)
        keep |= (records["realtime"] == 1) & (start < wall_from) & (
            start + records["duration_s"] > wall_from)
        # stable: a warm-up and its timed segment share a start time and keep log order
        return records[keep][np.argsort(records["wall_start"][keep], kind="stable")]
