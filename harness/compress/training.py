"""Fine-tuning data and the one fine-tuning loop every trained variant uses.

Targets depend on what the dataset offers (recorded in the card's recipe):

- labelled classification data → the labels (sparse cross-entropy);
- labelled anomaly data (an autoencoder) → reconstruct the normal samples (MSE);
- unlabelled (generated) data → the source model's own outputs, so fine-tuning
  keeps the compressed model close to the source it came from (cross-entropy on
  soft targets for a softmax output, MSE otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.compress.variants import FINE_TUNE_BATCH, FINE_TUNE_EPOCHS, FINE_TUNE_LR
from harness.errors import ModelError
from harness.models.datasets import Dataset
from harness.models.tf_env import import_tf
from harness.native_output import quiet_native


@dataclass(frozen=True)
class TrainData:
    x: np.ndarray
    y: np.ndarray
    loss: str          # a Keras loss name
    targets: str       # what y is, for the recipe


def ends_in_softmax(model: Any) -> bool:
    last = model.layers[-1]
    activation = last.get_config().get("activation")
    return activation == "softmax" or type(last).__name__ == "Softmax"


def fit_input(model: Any, dataset: Dataset, what: str) -> np.ndarray:
    """The dataset's samples shaped as the model's input, or a clear mismatch error."""
    shape = tuple(model.input_shape[1:])
    if dataset.input_shape == shape:
        return dataset.x
    if None not in shape and int(np.prod(shape)) == int(np.prod(dataset.input_shape)):
        return dataset.x.reshape(len(dataset), *shape)
    raise ModelError(f"{what}: dataset {dataset.name!r} has samples of shape "
                     f"{dataset.input_shape}, the model expects {shape}")


def train_data(model: Any, train: Dataset, what: str) -> TrainData:
    x = fit_input(model, train, what)
    labelled = not train.generated and bool(np.all(train.y >= 0))
    if labelled and train.task == "classification":
        classes = int(model.output_shape[-1])
        if int(train.y.max()) >= classes:
            raise ModelError(f"{what}: dataset {train.name!r} has label {int(train.y.max())}, "
                             f"the model has {classes} outputs")
        return TrainData(x, train.y, "sparse_categorical_crossentropy", "dataset labels")
    if labelled and train.task == "anomaly":
        normal = train.y == 0
        out_shape = tuple(model.output_shape[1:])
        return TrainData(x[normal], x[normal].reshape(int(normal.sum()), *out_shape), "mse",
                         "reconstruction of the normal samples")
    with quiet_native("labelling with the source model"):   # predict's tf.data graph logs
        y = model.predict(x, batch_size=256, verbose=0)
    loss = "categorical_crossentropy" if ends_in_softmax(model) else "mse"
    return TrainData(x, y, loss, "source model outputs (dataset unlabelled)")


def fine_tune(model: Any, data: TrainData, seed: int, callbacks: list[Any] | None = None,
              epochs: int = FINE_TUNE_EPOCHS) -> float:
    """Train ``model`` in place; returns the last epoch's loss."""
    tf, keras = import_tf()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    model.compile(optimizer=keras.optimizers.Adam(FINE_TUNE_LR), loss=data.loss)
    with quiet_native("fine-tuning"):
        history = model.fit(data.x, data.y, epochs=epochs, batch_size=FINE_TUNE_BATCH,
                            shuffle=True, verbose=0, callbacks=callbacks or [])
    return float(history.history["loss"][-1])


def steps_per_epoch(data: TrainData) -> int:
    return max(1, -(-len(data.x) // FINE_TUNE_BATCH))
