"""Structured pruning: whole Conv2D filters removed, the model rebuilt narrower, fine-tuned.

Unstructured (magnitude) pruning zeroes single weights: the dense int8 tensors
TFLM runs keep their shape, so MACs, file size and latency do not change.
Removing whole filters does change them: every Conv2D keeps the ``1 - P``
fraction of its filters (rounded, at least 1) with the largest L1 norm, and
the layers after it lose the matching input channels — the next Conv2D's
kernel, a DepthwiseConv2D's channels, a BatchNormalization's parameters, and
the rows of the Dense layer after a Flatten or a global pooling. The kept
weights are copied, so fine-tuning starts from the trained model, not anew.

Only ``Sequential`` models: in a residual or branched graph the channels
joined by an Add must be pruned alike, which this does not derive, so the
variant does not apply (as distillation does not). Dense layers keep their
units: the study's models spend their MACs in convolutions.
"""

from __future__ import annotations

import copy
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from harness.compress.training import TrainData, fine_tune
from harness.compress.variants import DoesNotApply
from harness.models.tf_env import import_tf

# Layers that leave the channel axis as it is (the kept channels pass through them).
_CHANNEL_PRESERVING = frozenset({
    "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "Dropout",
    "SpatialDropout2D", "MaxPooling2D", "AveragePooling2D", "ZeroPadding2D",
    "GaussianNoise", "GaussianDropout"})
_GLOBAL_POOLING = frozenset({"GlobalAveragePooling2D", "GlobalMaxPooling2D"})


def structured_prune(model: Any, data: TrainData, fraction: float,
                     seed: int) -> tuple[Any, dict[str, Any]]:
    """The model with ``fraction`` of each Conv2D's filters removed, fine-tuned."""
    _, keras = import_tf()
    if type(model).__name__ != "Sequential":
        raise DoesNotApply(f"structured pruning does not apply: removing filters needs the "
                           f"layers in one chain (Sequential), this is a "
                           f"{type(model).__name__} model (joins must prune their inputs "
                           "alike)")
    if not any(type(layer).__name__ == "Conv2D" for layer in model.layers):
        raise DoesNotApply("structured pruning does not apply: the model has no Conv2D "
                           "layer to remove filters from")
    config, weights, filters = _narrowed(model, fraction)
    narrow = keras.Sequential.from_config(config)
    for layer, kept in zip(narrow.layers, weights, strict=True):
        layer.set_weights(kept)
    loss = fine_tune(narrow, data, seed)
    return narrow, {"structured_loss": round(loss, 6), "filters": filters,
                    "params_before": int(model.count_params()),
                    "params_after": int(narrow.count_params()),
                    "macs_before": keras_macs(model), "macs_after": keras_macs(narrow)}


def keras_macs(model: Any) -> int:
    """MACs as the TFLite file will count them (tflite_inspect), via a float conversion."""
    from harness.compress.quantize import convert_keras
    from harness.models.tflite_inspect import inspect_tflite

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(convert_keras(model, "float32", None))
        return int(inspect_tflite(path).total_macs)


def _narrowed(model: Any, fraction: float) -> tuple[dict[str, Any], list[list[np.ndarray]],
                                                     dict[str, list[int]]]:
    """The narrower model's config, each layer's kept weights, and filters before/after."""
    config = copy.deepcopy(model.get_config())
    by_name = {layer["config"]["name"]: layer for layer in config["layers"]}
    weights: list[list[np.ndarray]] = []
    filters: dict[str, list[int]] = {}
    keep: np.ndarray | None = None   # kept indices of the current tensor's last axis
    for layer in model.layers:
        kind = type(layer).__name__
        w = layer.get_weights()
        name = layer.name
        if kind == "Conv2D":
            kernel = w[0] if keep is None else w[0][:, :, keep, :]
            count = kernel.shape[-1]
            n_keep = max(1, round(count * (1.0 - fraction)))
            norms = np.abs(kernel).sum(axis=(0, 1, 2))
            # Stable order: the strongest filters, in their original positions.
            keep = np.sort(np.argsort(-norms, kind="stable")[:n_keep])
            w = [kernel[..., keep], *(b[keep] for b in w[1:])]
            by_name[name]["config"]["filters"] = int(n_keep)
            filters[name] = [int(count), int(n_keep)]
        elif kind == "DepthwiseConv2D" and keep is not None:
            multiplier = w[0].shape[-1]
            kernel = w[0][:, :, keep, :]
            keep = np.array([c * multiplier + m for c in keep for m in range(multiplier)])
            w = [kernel, *(b[keep] for b in w[1:])]
        elif kind == "BatchNormalization" and keep is not None:
            w = [p[keep] for p in w]
        elif kind == "Flatten" and keep is not None:
            channels = int(layer.input_shape[-1])
            positions = math.prod(int(d) for d in layer.input_shape[1:-1])
            keep = np.array([p * channels + c for p in range(positions) for c in keep])
        elif kind == "Dense" and keep is not None:
            w = [w[0][keep, :], *w[1:]]
            keep = None
        elif keep is not None and kind not in _CHANNEL_PRESERVING | _GLOBAL_POOLING:
            raise DoesNotApply(f"structured pruning does not apply: layer {name!r} "
                               f"({kind}) follows a pruned convolution and its channels "
                               "cannot be followed")
        weights.append(w)
    return config, weights, filters
