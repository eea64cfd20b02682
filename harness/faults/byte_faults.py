"""Byte faults on one direction of a serial line: drop, duplicate, flip a bit.

Each byte draws two numbers from the direction's own generator, whatever the
chunks it travels in, so the faults are a function of the seed and the byte's
position in the stream: a run is reproducible from its seed.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from harness.config.faults import LinkFaults

Way = Literal["to-board", "from-board"]


class ByteFaults:
    def __init__(self, spec: LinkFaults, seed: int, way: Way) -> None:
        self._spec = spec
        self.active = spec.any and spec.direction in ("both", way)
        self._rng = np.random.default_rng([seed, 0 if way == "to-board" else 1])
        self.bytes = self.dropped = self.duplicated = self.corrupted = 0

    def apply(self, data: bytes) -> bytes:
        """``data`` as it arrives at the other end."""
        self.bytes += len(data)
        if not self.active or not data:
            return data
        spec = self._spec
        draws = self._rng.random((len(data), 2))
        u = draws[:, 0]
        drop = u < spec.drop_rate
        dup = (u >= spec.drop_rate) & (u < spec.drop_rate + spec.duplicate_rate)
        flip = (u >= spec.drop_rate + spec.duplicate_rate) & \
            (u < spec.drop_rate + spec.duplicate_rate + spec.corrupt_rate)
        out = np.frombuffer(data, dtype=np.uint8).copy()
        bits = (draws[:, 1] * 8).astype(np.uint8)
        out[flip] ^= np.left_shift(np.uint8(1), bits[flip])
        self.dropped += int(drop.sum())
        self.duplicated += int(dup.sum())
        self.corrupted += int(flip.sum())
        return np.repeat(out, np.where(drop, 0, np.where(dup, 2, 1))).tobytes()
