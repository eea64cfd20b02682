"""The model a variant starts from: a Keras model (.h5, .keras, SavedModel folder) or a .tflite.

Identity is content: `ModelSource.sha256` hashes the file's bytes (for a
SavedModel folder, every file's relative path and bytes, in sorted order), so a
renamed copy hits the same cache entry and an edited file does not.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from harness.errors import ModelError
from harness.models.tf_env import import_tf

SourceFormat = Literal["keras", "tflite"]
KERAS_SUFFIXES = (".h5", ".hdf5", ".keras")


@dataclass(frozen=True)
class ModelSource:
    path: Path
    format: SourceFormat
    sha256: str
    name: str          # a short label for cards and cache folders

    def is_float_tflite(self) -> bool:
        from harness.models.tflite_inspect import inspect_tflite

        info = inspect_tflite(self.path)
        return all(s.dtype == "float32" for s in info.inputs) and any(
            op.dtype == "float32" for op in info.ops)


def open_source(path: Path, name: str | None = None) -> ModelSource:
    """Identify a source model by its path; nothing is loaded yet."""
    path = Path(path)
    if path.is_dir():
        if not (path / "saved_model.pb").is_file():
            raise ModelError(f"{path}: a folder source must be a SavedModel (saved_model.pb "
                             "inside)")
        return ModelSource(path, "keras", _hash_folder(path), name or path.name)
    if not path.is_file():
        raise ModelError(f"{path}: not found (expected .h5, .keras, a SavedModel folder or "
                         ".tflite)")
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        fmt: SourceFormat = "tflite"
    elif suffix in KERAS_SUFFIXES:
        fmt = "keras"
    else:
        raise ModelError(f"{path}: unknown model format {suffix!r} (expected "
                         f"{', '.join(KERAS_SUFFIXES)}, a SavedModel folder or .tflite)")
    return ModelSource(path, fmt, hashlib.sha256(path.read_bytes()).hexdigest(),
                       name or path.stem)


def load_keras(source: ModelSource) -> Any:
    """The source as a tf_keras model (Keras 2, which tfmot needs), uncompiled."""
    if source.format != "keras":
        raise ModelError(f"{source.path}: a .tflite file has no trainable Keras model")
    _, keras = import_tf()
    try:
        return keras.models.load_model(source.path, compile=False)
    except Exception as exc:  # h5py, Keras and SavedModel loaders raise many types
        raise ModelError(f"{source.path}: cannot load as a Keras 2 (tf_keras) model: "
                         f"{type(exc).__name__}: {exc}") from exc


def _hash_folder(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
