"""Pre-flight of dataset references: the files exist, load, and fit the model's input.

`dataset_files` only looks for files and folders (cheap: a run checks it before
building any variant); `check_datasets` loads each dataset as a job would and
converts its first sample to every located variant's input.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from harness.config.bench import Bench, BenchModel
from harness.errors import ModelError
from harness.models.datasets import Dataset, load_dataset
from harness.models.resolve import ResolvedModel
from harness.models.tflite_inspect import inspect_tflite
from harness.preflight.findings import Finding
from harness.tensors import TensorSpec

ModelKey = tuple[str, str]


def _referenced_path(bench: Bench, model: BenchModel) -> tuple[str, Path] | None:
    scheme, _, arg = model.dataset.partition(":")
    if scheme not in ("npz", "mlperf") or not arg:
        return None  # not a path; load_dataset judges the rest
    path = Path(arg.partition("#")[0] if scheme == "mlperf" else arg).expanduser()
    return scheme, path if path.is_absolute() else bench.base_dir / path


def dataset_files(bench: Bench) -> list[Finding]:
    findings: list[Finding] = []
    for i, model in enumerate(bench.spec.models):
        ref = _referenced_path(bench, model)
        problem = ""
        if ref is None:
            continue
        scheme, path = ref
        if scheme == "npz" and not path.is_file():
            problem = f"npz file {path} not found"
        elif scheme == "mlperf" and not path.is_dir():
            problem = f"MLPerf Tiny dataset folder {path} not found"
        elif scheme == "mlperf" and not (path / "y_labels.csv").is_file():
            problem = f"{path} has no y_labels.csv (an MLPerf Tiny dataset folder has one)"
        if problem:
            findings.append(Finding("error", str(bench.path), f"models[{i}].dataset", problem))
    return findings


def check_datasets(bench: Bench, models: Mapping[ModelKey, ResolvedModel]) -> list[Finding]:
    """Load each dataset as a job would (`dataset_files` reports the absent ones)."""
    findings: list[Finding] = []
    failed = {f.field for f in dataset_files(bench)}
    for i, model in enumerate(bench.spec.models):
        field = f"models[{i}].dataset"
        if model.dataset == "generated" or field in failed:
            continue  # generated inputs are made from the model's own input spec
        specs = _input_specs(bench, model, models)
        if not specs and model.dataset.endswith("#int8"):
            continue  # int8 files need the model's input spec; no variant is located yet
        problem = _load_and_fit(bench, model, specs)
        if problem:
            findings.append(Finding("error", str(bench.path), field, problem))
    return findings


def _input_specs(bench: Bench, model: BenchModel,
                 models: Mapping[ModelKey, ResolvedModel]) -> dict[str, TensorSpec]:
    """Variant -> input spec of every located variant whose file reads."""
    specs: dict[str, TensorSpec] = {}
    for variant in bench.spec.variants_for(model):
        resolved = models.get((model.id, variant))
        if resolved is None or resolved.path is None:
            continue
        try:
            specs[variant] = inspect_tflite(resolved.path).inputs[0]
        except (ModelError, IndexError):
            continue  # the model check reports an unreadable file
    return specs


def _load_and_fit(bench: Bench, model: BenchModel, specs: dict[str, TensorSpec]) -> str:
    loaded: dict[TensorSpec | None, Dataset] = {}
    try:
        pairs: list[tuple[str, TensorSpec | None]] = list(specs.items()) or [("", None)]
        for variant, spec in pairs:
            # only int8 MLPerf files read differently per input spec: load once otherwise
            key = spec if model.dataset.endswith("#int8") else None
            if key not in loaded:
                loaded[key] = load_dataset(model.dataset, base_dir=bench.base_dir,
                                           input_spec=spec, task=model.task)
            if spec is not None:
                try:
                    loaded[key].to_model_input(0, spec)
                except ModelError as exc:
                    return f"variant {variant}: {exc}"
    except ModelError as exc:
        return str(exc)
    return ""
