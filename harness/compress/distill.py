"""Knowledge distillation into a narrower student.

Student derivation (documented in docs/compression.md): the teacher must be a
``Sequential`` classifier ending in a softmax. The student has the teacher's
layers in the same order with every Conv2D's ``filters`` and every Dense
layer's ``units`` multiplied by WIDTH_MULTIPLIER (0.5, rounded, at least 1),
except the output Dense layer, which keeps one unit per class. Depthwise
convolutions follow their input's channels. For ``Functional`` models
(residual or branched graphs) a width change must be kept consistent across
joins, which cannot be derived generically, so distillation does not apply.

Training (Hinton et al. 2015): loss = α · CE(labels, softmax(s)) + (1 − α) ·
T² · KL(softmax(t/T) ‖ softmax(s/T)) for teacher and student logits t, s, with
T = DISTILL_TEMPERATURE and α = DISTILL_ALPHA (α = 0 when the data has no
labels). Logits come from a copy of the teacher whose softmax is removed.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from harness.compress.training import TrainData, ends_in_softmax
from harness.compress.variants import (
    DISTILL_ALPHA,
    DISTILL_EPOCHS,
    DISTILL_TEMPERATURE,
    FINE_TUNE_BATCH,
    FINE_TUNE_LR,
    WIDTH_MULTIPLIER,
    DoesNotApply,
)
from harness.models.tf_env import import_tf
from harness.native_output import quiet_native


def check_distillable(model: Any) -> None:
    if type(model).__name__ != "Sequential":
        raise DoesNotApply(f"distillation does not apply: the student is derived by halving "
                           f"the widths of a Sequential model, this is a "
                           f"{type(model).__name__} model (residual or branched graphs need "
                           "a hand-made student)")
    if not ends_in_softmax(model):
        raise DoesNotApply("distillation does not apply: it trains on temperature-softened "
                           "class probabilities, and this model's output is not a softmax")


def distill(teacher: Any, data: TrainData, seed: int) -> tuple[Any, dict[str, Any]]:
    check_distillable(teacher)
    tf, keras = import_tf()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    teacher_logits = _with_logits(keras, teacher.get_config(), teacher.get_weights())
    student_config = _student_config(teacher.get_config())
    student = keras.Sequential.from_config(_logits_config(student_config))
    alpha = DISTILL_ALPHA if data.loss == "sparse_categorical_crossentropy" else 0.0
    labels = data.y if alpha else np.zeros(len(data.x), dtype=np.int64)
    with quiet_native("distillation"):   # predict's tf.data graph logs too
        soft = tf.nn.softmax(teacher_logits.predict(data.x, batch_size=256, verbose=0)
                             / DISTILL_TEMPERATURE).numpy()
        loss = _train(tf, keras, student, data.x, labels, soft, alpha, seed)
    final = keras.Sequential.from_config(student_config)
    final.set_weights(student.get_weights())
    return final, {"distill_loss": round(loss, 6), "teacher_params": teacher.count_params(),
                   "student_params": final.count_params()}


def _student_config(config: dict[str, Any]) -> dict[str, Any]:
    config = copy.deepcopy(config)
    layers = config["layers"]
    output = max(i for i, layer in enumerate(layers) if "units" in layer["config"])
    for i, layer in enumerate(layers):
        cfg = layer["config"]
        for key in ("filters", "units"):
            if key in cfg and i != output:
                cfg[key] = max(1, round(cfg[key] * WIDTH_MULTIPLIER))
    config["name"] = f"{config.get('name', 'model')}_student"
    return config


def _logits_config(config: dict[str, Any]) -> dict[str, Any]:
    config = copy.deepcopy(config)
    last = config["layers"][-1]
    if last["class_name"] in ("Softmax", "Activation"):
        config["layers"].pop()
    else:
        last["config"]["activation"] = "linear"
    return config


def _with_logits(keras: Any, config: dict[str, Any], weights: list[np.ndarray]) -> Any:
    model = keras.Sequential.from_config(_logits_config(config))
    model.set_weights(weights)
    return model


def _train(tf: Any, keras: Any, student: Any, x: np.ndarray, labels: np.ndarray,
           soft: np.ndarray, alpha: float, seed: int) -> float:
    optimizer = keras.optimizers.Adam(FINE_TUNE_LR * 3)
    t = DISTILL_TEMPERATURE
    kl = keras.losses.KLDivergence()
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step(xb: Any, yb: Any, sb: Any) -> Any:
        with tf.GradientTape() as tape:
            logits = student(xb, training=True)
            loss = (1.0 - alpha) * t * t * kl(sb, tf.nn.softmax(logits / t))
            if alpha:
                loss += alpha * ce(yb, logits)
        grads = tape.gradient(loss, student.trainable_variables)
        optimizer.apply_gradients(zip(grads, student.trainable_variables, strict=True))
        return loss

    rng = np.random.default_rng(seed)
    loss = 0.0
    for _ in range(DISTILL_EPOCHS):
        order = rng.permutation(len(x))
        losses = [float(step(x[b], labels[b], soft[b]))
                  for b in np.array_split(order, max(1, len(x) // FINE_TUNE_BATCH))]
        loss = float(np.mean(losses))
    return loss
