"""Quantization-aware training: fake-quantize in the forward pass while fine-tuning."""

from __future__ import annotations

from typing import Any

from harness.compress.training import TrainData, fine_tune
from harness.models.tf_env import import_tf


def quantization_aware(model: Any, data: TrainData, seed: int,
                       scheme: Any | None = None) -> tuple[Any, dict[str, Any]]:
    """A QAT-trained copy of ``model``; ``scheme`` picks a collaborative (preserving) scheme."""
    import_tf()
    import tensorflow_model_optimization as tfmot

    q = tfmot.quantization.keras
    annotated = q.quantize_annotate_model(model)
    qat_model = q.quantize_apply(annotated, scheme) if scheme is not None else \
        q.quantize_apply(annotated)
    loss = fine_tune(qat_model, data, seed)
    return qat_model, {"qat_loss": round(loss, 6)}
