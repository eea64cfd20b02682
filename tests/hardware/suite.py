"""What the hardware suite's tests share besides fixtures."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.config.board import BoardSpec
from harness.tensors import TensorSpec

NO_MODEL_HASH = hashlib.sha256(b"").digest()  # what the model-free checksum runner reports


@dataclass(frozen=True)
class Target:
    url: str
    board: BoardSpec
    model: Path | None   # the .tflite the board runs, when the suite was told
    what: str            # for messages: which board, where


def sample_inputs(spec: TensorSpec, count: int, seed: int) -> list[np.ndarray]:
    """Inputs over the tensor's range at several widths, so outputs differ."""
    rng = np.random.default_rng(seed)
    if spec.dtype.startswith("float"):
        return [rng.normal(0.0, width, spec.shape).astype(spec.dtype)
                for width in np.linspace(0.5, 3.0, count)]
    info = np.iinfo(spec.dtype)
    centre = spec.zero_point if spec.scale else (int(info.min) + int(info.max)) // 2
    return [np.clip(rng.normal(centre, width, spec.shape), info.min, info.max)
            .astype(spec.dtype) for width in np.linspace(8, 90, count)]
