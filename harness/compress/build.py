"""One variant's .tflite bytes from its source: the recipe's stages in order."""

from __future__ import annotations

from typing import Any

from harness.compress.cluster import cluster
from harness.compress.distill import distill
from harness.compress.hybrid import hybrid
from harness.compress.prune import prune
from harness.compress.qat import quantization_aware
from harness.compress.quantize import convert_keras, quantize_float_tflite
from harness.compress.sources import ModelSource, load_keras
from harness.compress.structured import structured_prune
from harness.compress.training import fit_input, train_data
from harness.compress.variants import CALIBRATION_SAMPLES, DoesNotApply, Variant
from harness.models.datasets import Dataset
from harness.models.tf_env import import_tf


def check_applies(variant: Variant, source: ModelSource) -> None:
    """Raise DoesNotApply before any work when the variant cannot be made from the source."""
    if source.format != "tflite":
        return
    if variant.needs_keras:
        raise DoesNotApply(f"{variant.name} trains the model, which needs its Keras source "
                           f"(.h5, .keras or SavedModel); {source.path.name} is a .tflite")
    if not source.is_float_tflite():
        raise DoesNotApply(f"{source.path.name} is already quantized; variant "
                           f"{variant.name} needs a float model (measure this file as-is)")


def build_tflite(variant: Variant, source: ModelSource, train: Dataset,
                 seed: int) -> tuple[bytes, dict[str, Any]]:
    """The variant's .tflite and what its build measured along the way."""
    if source.format == "tflite":
        calibration = train.x[:CALIBRATION_SAMPLES]
        data = quantize_float_tflite(source.path.read_bytes(), variant.quantization, calibration)
        return data, {"calibration": f"{len(calibration)} samples"}
    _, keras = import_tf()
    keras.backend.clear_session()  # fixed layer names: the same build gives the same bytes
    model = load_keras(source)
    what = f"{source.name}/{variant.name}"
    calibration = fit_input(model, train, what)[:CALIBRATION_SAMPLES]
    facts: dict[str, Any] = {"calibration": f"{len(calibration)} samples"}
    if variant.needs_keras:
        fit = train_data(model, train, what)
        facts["targets"] = fit.targets
        model, trained = _train(variant, model, fit, seed)
        facts.update(trained)
    return convert_keras(model, variant.quantization, calibration), facts


def _train(variant: Variant, model: Any, data: Any, seed: int) -> tuple[Any, dict[str, Any]]:
    p = variant.params
    if variant.kind == "qat":
        return quantization_aware(model, data, seed)
    if variant.kind == "pruned":
        return prune(model, data, p["sparsity"], seed)
    if variant.kind == "structured":
        return structured_prune(model, data, p["filter_fraction"], seed)
    if variant.kind == "clustered":
        return cluster(model, data, p["clusters"], seed)
    if variant.kind == "distilled":
        return distill(model, data, seed)
    if variant.kind == "hybrid":
        return hybrid(model, data, p["sparsity"], p["clusters"], seed)
    raise AssertionError(f"no training stage for {variant.kind}")
