"""The model card: the figures of one variant, as JSON beside its .tflite.

Keys (the report relies on them): model, variant, source_sha256, tflite_sha256,
file_bytes, gzip_bytes, params, nonzero_params, sparsity, macs_total,
macs_per_op [{index, op, macs}], ops, tflm_supported, unsupported_ops,
arena_bytes, accuracy {metric, tflite, tflm, dataset, n}, recipe, created,
tensorflow, tfmot, harness_version. ``training`` adds what the build measured
on the way (sparsity reached in the kernels, distinct kernel values, losses),
``build_seconds`` the build's wall time.

gzip bytes are the file compressed by gzip level 9 with a zero timestamp: what
pruning (runs of zeros) and clustering (few distinct values) buy in flash when
the weights are stored compressed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.models.tflite_inspect import inspect_tflite
from harness.results.metadata import harness_version, utc_now

CARD_SUFFIX = ".card.json"


def card_path(tflite_path: Path) -> Path:
    return tflite_path.with_name(tflite_path.name.removesuffix(".tflite") + CARD_SUFFIX)


def tool_versions() -> dict[str, str]:
    versions = {}
    for key, package in (("tensorflow", "tensorflow"),
                         ("tfmot", "tensorflow-model-optimization"),
                         ("tf_keras", "tf-keras"), ("tflite_micro", "tflite-micro")):
        try:
            versions[key] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[key] = "absent"
    return versions


def make_card(model: str, variant: str, source_sha256: str, tflite_path: Path, *,
              unsupported_ops: tuple[str, ...], tflm_reason: str, arena_bytes: int | None,
              accuracy: dict[str, Any], recipe: dict[str, Any], training: dict[str, Any],
              build_seconds: float) -> dict[str, Any]:
    data = tflite_path.read_bytes()
    info = inspect_tflite(tflite_path)
    versions = tool_versions()
    return {
        "model": model,
        "variant": variant,
        "source_sha256": source_sha256,
        "tflite_sha256": hashlib.sha256(data).hexdigest(),
        "file_bytes": len(data),
        "gzip_bytes": len(gzip.compress(data, compresslevel=9, mtime=0)),
        "params": info.params,
        "nonzero_params": info.nonzero_params,
        "sparsity": round(info.sparsity, 6),
        "macs_total": info.total_macs,
        "macs_per_op": [{"index": op.index, "op": op.name, "macs": op.macs} for op in info.ops],
        "ops": list(info.op_names),
        "input": {"dtype": info.inputs[0].dtype, "shape": list(info.inputs[0].shape)},
        "tflm_supported": not tflm_reason,
        "unsupported_ops": list(unsupported_ops),
        "tflm_error": tflm_reason or None,
        "arena_bytes": arena_bytes,
        "accuracy": accuracy,
        "recipe": recipe,
        "training": training,
        "build_seconds": round(build_seconds, 2),
        "created": utc_now(),
        "tensorflow": versions["tensorflow"],
        "tfmot": versions["tfmot"],
        "harness_version": harness_version(),
    }


def write_card(card: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(card, indent=2) + "\n")


def read_card(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())
