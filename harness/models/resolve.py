"""From a bench file's model entry and variant name to a .tflite on disk.

Model paths: a file path (relative to the bench file), ``mlperf:<file>`` (in the
MLPerf Tiny folder, configurable) or ``builtin:digits`` (the small CNN the
project trains on scikit-learn's digits). Variant ``as-is`` measures the file
as it is; any other variant (``int8``, ``pruned-0.5-int8``, …) is built from the
model by `harness.compress` (cached by content hash) with the model's dataset,
and comes with its model card. For ``builtin:digits`` the compression source is
its Keras model. A variant that cannot be made resolves to a skip reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.config.bench import BenchModel
from harness.errors import ModelError
from harness.models.mlperf_tiny import MLPERF_TINY_HINT

BUILTIN_MODELS = ("digits",)
AS_IS = "as-is"


@dataclass(frozen=True)
class ResolvedModel:
    path: Path | None
    skip_reason: str = ""   # set when an optional model is absent or a variant cannot be made
    card: Path | None = None  # the variant's model card (variants other than as-is)


def resolve_model(model: BenchModel, variant: str, bench_dir: Path, mlperf_dir: Path,
                  cache_dir: Path) -> ResolvedModel:
    source = _locate(model, variant, bench_dir, mlperf_dir, cache_dir)
    if variant == AS_IS or source.path is None:
        return source
    return _compressed(model, variant, source.path, bench_dir, cache_dir)


def compression_source(model: BenchModel, bench_dir: Path, mlperf_dir: Path,
                       cache_dir: Path, seed: int = 0) -> Path:
    """The file variants of ``model`` are made from (for ``builtin:digits``, its Keras model,
    trained with ``seed``; a file is the same whatever the seed)."""
    located = _locate(model, "compressed", bench_dir, mlperf_dir, cache_dir, seed)
    if located.path is None:
        raise ModelError(located.skip_reason)
    return located.path


def copy_cards(models: dict[tuple[str, str], ResolvedModel], run_dir: Path) -> None:
    """The card of each variant a run uses, as ``run_dir/cards/<model>__<variant>.json``."""
    from harness.compress.cache import copy_atomic

    for (model_id, variant), resolved in models.items():
        if resolved.path is not None and resolved.card is not None:
            copy_atomic(resolved.card, run_dir / "cards" / f"{model_id}__{variant}.json")


def is_trained_here(model: BenchModel) -> bool:
    """Whether ``model`` is trained by the harness (a training seed changes it)."""
    return model.path.partition(":")[0] == "builtin"


def _locate(model: BenchModel, variant: str, bench_dir: Path, mlperf_dir: Path,
            cache_dir: Path, seed: int = 0) -> ResolvedModel:
    scheme, _, rest = model.path.partition(":")
    if scheme == "builtin":
        return ResolvedModel(_builtin(model, rest, cache_dir, keras=variant != AS_IS,
                                      seed=seed))
    if scheme == "mlperf":
        path = mlperf_dir / rest
        if not path.is_file():
            reason = (f"model {model.id!r}: {path} not found. {MLPERF_TINY_HINT} "
                      "Set HARNESS_MLPERF_TINY_DIR or --mlperf-dir to their folder.")
            if model.optional:
                return ResolvedModel(None, reason)
            raise ModelError(reason)
        return ResolvedModel(path)
    path = Path(model.path)
    path = path if path.is_absolute() else bench_dir / path
    if not path.exists():
        if model.optional:
            return ResolvedModel(None, f"model {model.id!r}: {path} not found")
        raise ModelError(f"model {model.id!r}: {path} not found")
    return ResolvedModel(path)


def _compressed(model: BenchModel, variant: str, source_path: Path, bench_dir: Path,
                cache_dir: Path) -> ResolvedModel:
    from harness.compress.build import check_applies
    from harness.compress.pipeline import CompressRequest, build_variant, load_dataset_for
    from harness.compress.sources import open_source
    from harness.compress.variants import DoesNotApply, parse_variant

    try:
        parsed = parse_variant(variant)  # a misspelt variant stops the run before it starts
    except ModelError as exc:
        raise ModelError(f"model {model.id!r}: {exc}") from None
    source = open_source(source_path, name=model.id)
    try:  # cheap checks first: a .tflite must not pay for TensorFlow to be told "no"
        check_applies(parsed, source)
    except DoesNotApply as exc:
        return ResolvedModel(None, f"model {model.id!r}, variant {variant!r}: {exc}")
    dataset = load_dataset_for(source, model.dataset, base_dir=bench_dir, task=model.task)
    outcome = build_variant(CompressRequest(source, model.id, dataset, model.dataset,
                                            cache_dir), variant)
    if not outcome.ok:
        return ResolvedModel(None, outcome.error, outcome.card)
    return ResolvedModel(outcome.tflite, card=outcome.card)


def _builtin(model: BenchModel, name: str, cache_dir: Path, keras: bool, seed: int) -> Path:
    if name != "digits":
        raise ModelError(f"model {model.id!r}: unknown builtin model {name!r} "
                         f"(known: {', '.join(BUILTIN_MODELS)})")
    from harness.models.digits_model import build_digits_models  # trains with TensorFlow

    models = build_digits_models(cache_dir, seed=seed)
    return models.keras if keras else models.int8
