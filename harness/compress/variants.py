"""Variant names and what they mean: the one parser of ``fp32``, ``pruned-0.5-int8``, ….

A variant is a recipe applied to a source model. Its name carries its
parameters, so a bench file or a command line says everything in one word:

=====================  ==========================================================
``fp32``               float32 conversion, no other change
``int8``               full-integer post-training quantization, int8 input/output
``int16x8``            16-bit activations, 8-bit weights (int16 input/output)
``qat-int8``           quantization-aware fine-tuning (tfmot), then int8
``pruned-<S>-int8``    magnitude pruning to sparsity S (0 < S < 1), fine-tuned,
                       stripped, then int8
``structured-<P>-int8`` structured pruning: the fraction P (0 < P < 1) of each
                       Conv2D's filters removed (lowest L1 norm), the model
                       rebuilt narrower, fine-tuned, then int8
``clustered-<K>-int8`` weight clustering to K centroids (2 ≤ K ≤ 256), then int8
``distilled-int8``     a half-width student trained on the teacher's
                       temperature-softened outputs, then int8
``hybrid-int8``        distillation (where it applies) + pruning + clustering
                       preserving sparsity + QAT preserving both, then int8
=====================  ==========================================================

``as-is`` is not a variant built here: the bench measures the file unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.errors import ModelError

Kind = Literal["fp32", "int8", "int16x8", "qat", "pruned", "structured", "clustered",
               "distilled", "hybrid"]
AS_IS = "as-is"

# Fine-tuning settings shared by every trained variant; small, because the source
# is already trained and the models are tiny. Recorded in each card's recipe.
FINE_TUNE_EPOCHS = 4
FINE_TUNE_BATCH = 32
FINE_TUNE_LR = 1e-3
CALIBRATION_SAMPLES = 200
DISTILL_EPOCHS = 15
DISTILL_TEMPERATURE = 4.0
DISTILL_ALPHA = 0.1          # weight of the hard-label loss; the rest is the soft loss
WIDTH_MULTIPLIER = 0.5
HYBRID_SPARSITY = 0.5
HYBRID_CLUSTERS = 16

_PRUNED = re.compile(r"^pruned-(0?\.\d+)-int8$")
_STRUCTURED = re.compile(r"^structured-(0?\.\d+)-int8$")
_CLUSTERED = re.compile(r"^clustered-(\d+)-int8$")
_FIXED: dict[str, Kind] = {"fp32": "fp32", "int8": "int8", "int16x8": "int16x8",
                           "qat-int8": "qat", "distilled-int8": "distilled",
                           "hybrid-int8": "hybrid"}
KNOWN = ("fp32, int8, int16x8, qat-int8, pruned-<S>-int8 (0<S<1), structured-<P>-int8 "
         "(0<P<1), clustered-<K>-int8 "
         "(2<=K<=256), distilled-int8, hybrid-int8")


class DoesNotApply(ModelError):
    """The variant cannot be made from this model: a recorded reason, not a crash."""


@dataclass(frozen=True)
class Variant:
    """A parsed variant name: its kind, parameters and full recipe (for cards and cache keys)."""

    name: str
    kind: Kind
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def needs_keras(self) -> bool:
        """Variants that change weights by training need the Keras source model."""
        return self.kind not in ("fp32", "int8", "int16x8")

    @property
    def quantization(self) -> str:
        return {"fp32": "float32", "int16x8": "int16x8"}.get(self.kind, "int8")

    def recipe(self, seed: int) -> dict[str, Any]:
        """Everything that decides the artefact besides the source and the dataset."""
        recipe: dict[str, Any] = {"variant": self.name, "kind": self.kind,
                                  "quantization": self.quantization, **self.params,
                                  "seed": seed}
        if self.quantization != "float32":
            recipe["calibration_samples"] = CALIBRATION_SAMPLES
        if self.needs_keras:
            recipe.update(fine_tune_epochs=FINE_TUNE_EPOCHS, batch_size=FINE_TUNE_BATCH,
                          learning_rate=FINE_TUNE_LR)
        if self.kind in ("distilled", "hybrid"):
            recipe.update(distill_epochs=DISTILL_EPOCHS, temperature=DISTILL_TEMPERATURE,
                          alpha=DISTILL_ALPHA, width_multiplier=WIDTH_MULTIPLIER)
        return recipe


def parse_variant(name: str) -> Variant:
    name = name.strip()
    if name in _FIXED:
        kind = _FIXED[name]
        params = ({"sparsity": HYBRID_SPARSITY, "clusters": HYBRID_CLUSTERS}
                  if kind == "hybrid" else {})
        return Variant(name, kind, params)
    if match := _PRUNED.match(name):
        sparsity = float(match.group(1))
        if 0.0 < sparsity < 1.0:
            return Variant(name, "pruned", {"sparsity": sparsity})
    if match := _STRUCTURED.match(name):
        fraction = float(match.group(1))
        if 0.0 < fraction < 1.0:
            return Variant(name, "structured", {"filter_fraction": fraction})
    if match := _CLUSTERED.match(name):
        clusters = int(match.group(1))
        if 2 <= clusters <= 256:
            return Variant(name, "clustered", {"clusters": clusters})
    raise ModelError(f"unknown variant {name!r} (known: {AS_IS}, {KNOWN})")


def parse_variant_list(text: str) -> list[Variant]:
    """A comma-separated list, as ``--variants int8,pruned-0.5-int8`` gives it."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ModelError(f"no variants in {text!r} (known: {KNOWN})")
    if len(set(names)) != len(names):
        raise ModelError(f"variant list {text!r} names a variant twice")
    return [parse_variant(n) for n in names]
