"""The hybrid pipeline: distil (where it applies) → prune → cluster → QAT, then int8.

Each stage keeps what the one before bought, using tfmot's collaborative
optimization: clustering with ``preserve_sparsity`` keeps the pruned zeros,
and prune-and-cluster-preserving QAT (PCQAT) keeps both zeros and centroids
while it learns the quantization ranges.
"""

from __future__ import annotations

from typing import Any

from harness.compress.cluster import cluster
from harness.compress.distill import check_distillable, distill
from harness.compress.prune import prune
from harness.compress.qat import quantization_aware
from harness.compress.training import TrainData
from harness.compress.variants import DoesNotApply
from harness.models.tf_env import import_tf


def hybrid(model: Any, data: TrainData, sparsity: float, clusters: int,
           seed: int) -> tuple[Any, dict[str, Any]]:
    facts: dict[str, Any] = {}
    try:
        check_distillable(model)
    except DoesNotApply as exc:
        facts["distillation"] = f"skipped: {exc}"
    else:
        model, distilled = distill(model, data, seed)
        facts.update(distilled, distillation="applied")
    model, pruned = prune(model, data, sparsity, seed)
    model, clustered = cluster(model, data, clusters, seed, preserve_sparsity=True)
    import_tf()
    import tensorflow_model_optimization as tfmot

    scheme = tfmot.experimental.combine.Default8BitClusterPreserveQuantizeScheme(
        preserve_sparsity=True)
    model, qat = quantization_aware(model, data, seed, scheme)
    return model, {**facts, **pruned, **clustered, **qat}
