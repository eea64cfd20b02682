"""The reference model of the demo: a small CNN trained on scikit-learn's digits.

It makes a real accuracy figure possible without downloading anything: train a
~3.8k-parameter CNN (8×8×1 → conv 8 → conv 16 stride 2 → dense 10) for a few
seconds, export float32 and full-integer int8 .tflite files, and keep the Keras
model as the starting point of compression (saved in the Keras v3 ``.keras``
format of tf_keras, which ``tf_keras.models.load_model`` and tfmot read).

The held-out split is `Dataset.split(TEST_FRACTION, HELD_OUT_SEED)` of
``digits`` whatever the training seed, the split the bench runner and the
compress pipeline score on: models of different training seeds are scored on
the same samples, and none of them has trained on one. Results are cached in
``cache_dir/digits-<key>/``, where the key hashes the training settings, this
module's and the dataset module's source and the TensorFlow version, so a
second call only reads a small JSON file. A build happens in a temporary folder
renamed into place when complete: a killed run never leaves a half model.
Training enables TensorFlow's op determinism for the rest of the process (a
public switch-off does not exist); this makes the files reproducible.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

from harness.compress.evaluate import host_accuracy, litert_runner
from harness.compress.quantize import convert_keras
from harness.errors import ModelError
from harness.models import datasets
from harness.models.datasets import Dataset, load_dataset
from harness.models.tf_env import import_tf
from harness.native_output import quiet_native

log = logging.getLogger(__name__)

TEST_FRACTION = datasets.HELD_OUT_FRACTION
SPLIT_SEED = datasets.HELD_OUT_SEED
SUMMARY = "summary.json"


@dataclass(frozen=True)
class TrainingSettings:
    seed: int                          # weights' initialisation and batch order
    epochs: int = 15
    batch_size: int = 32
    learning_rate: float = 3e-3
    calibration_samples: int = 200   # representative dataset for int8 conversion
    test_fraction: float = TEST_FRACTION
    split_seed: int = SPLIT_SEED       # the held-out split, the same for every training seed


@dataclass(frozen=True)
class DigitsModels:
    fp32: Path
    int8: Path
    keras: Path
    accuracy_keras: float     # on the held-out split, as Keras computes it
    accuracy_fp32: float      # the .tflite files run by TF's tf.lite.Interpreter
    accuracy_int8: float
    test_samples: int
    seed: int


def build_digits_models(cache_dir: Path, seed: int = 0, force: bool = False) -> DigitsModels:
    """Train and convert the digits CNN, or return the cached files of an earlier build."""
    settings = TrainingSettings(seed=seed)
    final = Path(cache_dir) / f"digits-{_cache_key(settings)}"
    cached = None if force else _read_summary(final)
    if cached is not None:
        log.debug("digits models from cache %s", final)
        return cached
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=".digits-building-") as tmp:
        staging = Path(tmp) / "new"
        staging.mkdir()
        _build(staging, settings)
        if final.exists():  # forced rebuild, a broken entry, or a concurrent build won
            final.rename(Path(tmp) / "old")
        staging.rename(final)
    models = _read_summary(final)
    if models is None:
        raise ModelError(f"{final}: the digits model build left no readable {SUMMARY}")
    return models


def _cache_key(settings: TrainingSettings) -> str:
    digest = hashlib.sha256(json.dumps(asdict(settings), sort_keys=True).encode())
    for module_file in (__file__, datasets.__file__):
        digest.update(Path(module_file).read_bytes())
    for package in ("tensorflow", "tf-keras"):
        try:
            digest.update(f"{package}=={metadata.version(package)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{package} absent".encode())  # import_tf will say what to install
    return digest.hexdigest()[:16]


def _read_summary(folder: Path) -> DigitsModels | None:
    try:
        summary = json.loads((folder / SUMMARY).read_text())
        models = DigitsModels(**{k: folder / v if k in ("fp32", "int8", "keras") else v
                                 for k, v in summary.items()})
    except (OSError, ValueError, TypeError):
        return None
    return models if all(p.is_file() for p in (models.fp32, models.int8, models.keras)) else None


def _build(out: Path, settings: TrainingSettings) -> None:
    started = time.monotonic()
    tf, keras = import_tf()
    train, test = load_dataset("digits").split(settings.test_fraction, settings.split_seed)
    log.info("training the digits CNN: %d train / %d test samples, %d epochs, seed %d",
             len(train), len(test), settings.epochs, settings.seed)
    model, keras_accuracy = _train(tf, keras, train, test, settings)
    model.save(out / "digits.keras")
    calibration = train.x[: settings.calibration_samples]
    for kind, quantization in (("fp32", "float32"), ("int8", "int8")):
        (out / f"digits_{kind}.tflite").write_bytes(convert_keras(model, quantization,
                                                                  calibration))
    accuracy = {kind: host_accuracy(*litert_runner(out / f"digits_{kind}.tflite"), test)
                for kind in ("fp32", "int8")}
    log.info("digits CNN: test accuracy keras %.4f, fp32 .tflite %.4f, int8 .tflite %.4f "
             "(%.1f s)", keras_accuracy, accuracy["fp32"], accuracy["int8"],
             time.monotonic() - started)
    summary = {"fp32": "digits_fp32.tflite", "int8": "digits_int8.tflite",
               "keras": "digits.keras", "accuracy_keras": keras_accuracy,
               "accuracy_fp32": accuracy["fp32"], "accuracy_int8": accuracy["int8"],
               "test_samples": len(test), "seed": settings.seed}
    # Written last: its presence marks a complete build.
    (out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")


def _train(tf: ModuleType, keras: ModuleType, train: Dataset, test: Dataset,
           settings: TrainingSettings) -> tuple[Any, float]:
    # Fixed names and a fresh Keras session: auto-numbered names (conv2d_3) would make the
    # files of a second build in one process differ from the first.
    keras.backend.clear_session()
    keras.utils.set_random_seed(settings.seed)
    tf.config.experimental.enable_op_determinism()
    layers = keras.layers
    model = keras.Sequential([
        layers.Input(shape=train.input_shape, name="image"),
        layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
        layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="conv2"),
        layers.Flatten(name="flatten"),
        layers.Dense(10, activation="softmax", name="probabilities"),
    ], name="digits_cnn")
    model.compile(optimizer=keras.optimizers.Adam(settings.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    with quiet_native("training the digits CNN"):
        history = model.fit(train.x, train.y, epochs=settings.epochs,
                            batch_size=settings.batch_size, shuffle=True, verbose=0)
    log.info("digits CNN: %d parameters, final train loss %.4f", model.count_params(),
             history.history["loss"][-1])
    _, accuracy = model.evaluate(test.x, test.y, verbose=0)
    return model, float(accuracy)
