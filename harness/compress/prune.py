"""Magnitude pruning to a target sparsity, fine-tuned, then stripped of its wrappers.

Sparsity ramps from 0 to the target over the first three quarters of the
fine-tuning steps (polynomial decay, tfmot's default shape) and holds for the
rest, so the last epoch trains at the final mask. Conv and Dense kernels are
pruned; biases and batch-norm parameters are not, so the whole-model sparsity
in the card is a little below the target.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.compress.training import TrainData, fine_tune, steps_per_epoch
from harness.compress.variants import FINE_TUNE_EPOCHS
from harness.models.tf_env import import_tf


def prune(model: Any, data: TrainData, sparsity: float, seed: int) -> tuple[Any, dict[str, Any]]:
    import_tf()
    import tensorflow_model_optimization as tfmot

    sp = tfmot.sparsity.keras
    steps = steps_per_epoch(data)
    frequency = max(1, steps // 4)
    end_step = (FINE_TUNE_EPOCHS * steps * 3 // 4) // frequency * frequency
    schedule = sp.PolynomialDecay(initial_sparsity=0.0, final_sparsity=sparsity,
                                  begin_step=0, end_step=max(end_step, frequency),
                                  frequency=frequency)
    wrapped = sp.prune_low_magnitude(model, pruning_schedule=schedule)
    loss = fine_tune(wrapped, data, seed, callbacks=[sp.UpdatePruningStep()])
    stripped = sp.strip_pruning(wrapped)
    return stripped, {"prune_loss": round(loss, 6),
                      "kernel_sparsity": round(kernel_sparsity(stripped), 6)}


def kernels(model: Any) -> list[np.ndarray]:
    """Conv and Dense kernels (what pruning and clustering act on)."""
    return [w.numpy() for layer in model.layers for w in layer.weights
            if "kernel" in w.name and "quantize" not in w.name]


def kernel_sparsity(model: Any) -> float:
    ks = kernels(model)
    total = sum(k.size for k in ks)
    return 1.0 - sum(int(np.count_nonzero(k)) for k in ks) / total if total else 0.0
