"""From a bench file's model entry and variant name to a .tflite on disk.

Model paths: a file path (relative to the bench file), ``mlperf:<file>`` (in the
MLPerf Tiny folder, configurable) or ``builtin:digits`` (the small CNN the
project trains on scikit-learn's digits). Variant ``as-is`` measures the file
as it is; compressed variants are made by `harness compress`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.config.bench import BenchModel
from harness.errors import ModelError
from harness.models.mlperf_tiny import MLPERF_TINY_HINT

BUILTIN_MODELS = ("digits",)


@dataclass(frozen=True)
class ResolvedModel:
    path: Path | None
    skip_reason: str = ""   # set when an optional model is absent


def resolve_model(model: BenchModel, variant: str, bench_dir: Path, mlperf_dir: Path,
                  cache_dir: Path) -> ResolvedModel:
    if variant != "as-is":
        raise ModelError(f"model {model.id!r}: variant {variant!r} is not known here "
                         "(this bench runner measures models 'as-is')")
    scheme, _, rest = model.path.partition(":")
    if scheme == "builtin":
        return ResolvedModel(_builtin(model, rest, cache_dir))
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
    if not path.is_file():
        if model.optional:
            return ResolvedModel(None, f"model {model.id!r}: {path} not found")
        raise ModelError(f"model {model.id!r}: {path} not found")
    return ResolvedModel(path)


def _builtin(model: BenchModel, name: str, cache_dir: Path) -> Path:
    if name != "digits":
        raise ModelError(f"model {model.id!r}: unknown builtin model {name!r} "
                         f"(known: {', '.join(BUILTIN_MODELS)})")
    from harness.models.digits_model import build_digits_models  # trains with TensorFlow

    return build_digits_models(cache_dir).int8
