"""Build a list of variants of one model: cached, each with its card, failures recorded.

A variant that cannot be made (does not apply, conversion fails, TFLM cannot run
its ops, the dataset does not fit the model) becomes an outcome with a reason
naming model, variant and cause; the other variants are still built. A variant
whose .tflite TFLM cannot run keeps its file and card (tflm_supported false) so
the reason can be inspected, and counts as failed.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.compress.build import build_tflite, check_applies
from harness.compress.cache import cached_files, entry_dir, publishing, variant_key
from harness.compress.card import card_path, make_card, read_card, write_card
from harness.compress.evaluate import check_tflm, host_accuracy, litert_runner, metric_for
from harness.compress.sources import ModelSource
from harness.compress.variants import Variant, parse_variant
from harness.errors import ModelError
from harness.models.datasets import HELD_OUT_FRACTION, HELD_OUT_SEED, Dataset, load_dataset
from harness.tensors import TensorSpec

log = logging.getLogger(__name__)
Progress = Callable[[str, str], None]   # (variant, what is happening)


@dataclass(frozen=True)
class VariantOutcome:
    variant: str
    tflite: Path | None
    card: Path | None
    error: str = ""          # "" when built and TFLM runs it
    cached: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass(frozen=True)
class CompressRequest:
    source: ModelSource
    model: str                 # name in cards and cache folders
    dataset: Dataset
    dataset_ref: str
    cache_dir: Path
    seed: int = 0
    force: bool = False


def load_dataset_for(source: ModelSource, ref: str, base_dir: Path | None = None,
                     task: str | None = None, seed: int = 0) -> Dataset:
    """The dataset a source is compressed and scored with (generated data needs its input)."""
    return load_dataset(ref, base_dir=base_dir, input_spec=_input_spec(source),
                        task=task, seed=seed, n=512)  # type: ignore[arg-type]


def build_variants(request: CompressRequest, variants: list[str],
                   progress: Progress | None = None) -> list[VariantOutcome]:
    return [build_variant(request, name, progress) for name in variants]


def build_variant(request: CompressRequest, name: str,
                  progress: Progress | None = None) -> VariantOutcome:
    started = time.monotonic()
    where = f"model {request.model!r}, variant {name!r}"
    try:
        variant = parse_variant(name)
        check_applies(variant, request.source)
        return _cached_or_built(request, variant, progress or (lambda *_: None), started)
    except Exception as exc:  # any reason a variant cannot be made is recorded, not fatal
        log.debug("%s failed", where, exc_info=True)
        reason = str(exc) if isinstance(exc, ModelError) else f"{type(exc).__name__}: {exc}"
        log.warning("%s: %s", where, reason)
        return VariantOutcome(name, None, None, f"{where}: {reason}",
                              seconds=time.monotonic() - started)


def _cached_or_built(request: CompressRequest, variant: Variant, progress: Progress,
                     started: float) -> VariantOutcome:
    recipe = variant.recipe(request.seed)
    key = variant_key(request.source.sha256, recipe, _dataset_id(request))
    entry = entry_dir(request.cache_dir, request.model, variant.name, key)
    found = None if request.force else cached_files(entry, variant.name)
    if found is None:
        progress(variant.name, "building")
        with publishing(entry) as staging:
            _build_into(staging, request, variant, recipe, progress, started)
        found = cached_files(entry, variant.name)
        if found is None:
            raise ModelError(f"{entry}: the build left no .tflite and card")
        cached = False
    else:
        cached = True
    tflite, card = found
    data = read_card(card)
    error = "" if data["tflm_supported"] else (
        f"model {request.model!r}, variant {variant.name!r}: TFLM cannot run it "
        f"(unsupported ops: {', '.join(data['unsupported_ops']) or 'unknown'}): "
        f"{data.get('tflm_error') or ''}")
    return VariantOutcome(variant.name, tflite, card, error, cached,
                          time.monotonic() - started)


def _build_into(staging: Path, request: CompressRequest, variant: Variant, recipe: dict,
                progress: Progress, started: float) -> None:
    train, held_out = request.dataset.split(HELD_OUT_FRACTION, HELD_OUT_SEED)
    data, training = build_tflite(variant, request.source, train, request.seed)
    tflite = staging / f"{variant.name}.tflite"
    tflite.write_bytes(data)
    progress(variant.name, "checking with TFLM")
    tflm = check_tflm(tflite)
    progress(variant.name, "scoring on the held-out split")
    run, in_spec, out_spec = litert_runner(tflite)
    _check_fits(request, variant, held_out, in_spec)
    accuracy = {
        "metric": metric_for(held_out),
        "tflite": host_accuracy(run, in_spec, out_spec, held_out),
        "tflm": None if tflm.host is None else host_accuracy(
            tflm.host.run, tflm.host.input_spec, tflm.host.output_spec, held_out),
        "dataset": request.dataset_ref,
        "n": len(held_out),
    }
    card = make_card(request.model, variant.name, request.source.sha256, tflite,
                     unsupported_ops=tflm.unsupported_ops, tflm_reason=tflm.reason,
                     arena_bytes=None if tflm.host is None else tflm.host.arena_used_bytes,
                     accuracy=accuracy, recipe=recipe, training=training,
                     build_seconds=time.monotonic() - started)
    write_card(card, card_path(tflite))


def _check_fits(request: CompressRequest, variant: Variant, dataset: Dataset,
                spec: TensorSpec) -> None:
    needed = int(np.prod(spec.shape))
    if int(np.prod(dataset.input_shape)) != needed:
        raise ModelError(f"dataset {request.dataset_ref!r} has samples of shape "
                         f"{dataset.input_shape}, the {variant.name} model's input is "
                         f"{spec.dtype}{list(spec.shape)}")


def _dataset_id(request: CompressRequest) -> str:
    """The reference with a hash of the content: an edited .npz is a new dataset."""
    digest = hashlib.sha256(request.dataset.x.tobytes())
    digest.update(request.dataset.y.tobytes())
    return f"{request.dataset_ref}#{digest.hexdigest()[:16]}"


def _input_spec(source: ModelSource) -> TensorSpec:
    if source.format == "tflite":
        from harness.models.tflite_inspect import inspect_tflite

        return inspect_tflite(source.path).inputs[0]
    from harness.compress.sources import load_keras

    shape = load_keras(source).input_shape
    return TensorSpec("float32", (1, *shape[1:]))
