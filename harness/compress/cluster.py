"""Weight clustering: every Conv/Dense kernel shares K values (k-means++ centroids).

After fine-tuning, the clustering wrappers are stripped; a kernel then holds at
most K distinct floats. int8 conversion quantizes per output channel, so the
.tflite holds at most K distinct int8 values per channel: the file is as large
as before, but it compresses (the card's gzip bytes).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.compress.prune import kernels
from harness.compress.training import TrainData, fine_tune
from harness.models.tf_env import import_tf


def cluster(model: Any, data: TrainData, clusters: int, seed: int,
            preserve_sparsity: bool = False) -> tuple[Any, dict[str, Any]]:
    tf, _ = import_tf()
    import tensorflow_model_optimization as tfmot

    cl = tfmot.clustering.keras
    tf.random.set_seed(seed)  # k-means++ draws its first centroids at wrapping time
    wrapped = cl.cluster_weights(model, number_of_clusters=clusters,
                                 cluster_centroids_init=cl.CentroidInitialization.KMEANS_PLUS_PLUS,
                                 preserve_sparsity=preserve_sparsity)
    loss = fine_tune(wrapped, data, seed)
    stripped = cl.strip_clustering(wrapped)
    return stripped, {"cluster_loss": round(loss, 6),
                      "max_distinct_kernel_values": max_distinct_values(stripped)}


def max_distinct_values(model: Any) -> int:
    return max((len(np.unique(k)) for k in kernels(model)), default=0)
