"""Keras model or float .tflite → .tflite bytes: float32, full-integer int8, or int16x8.

Integer variants are calibrated on a representative dataset (samples from the
dataset interface) and have integer inputs and outputs (int8, or int16 for
int16x8), so a board receives exactly what `Dataset.to_model_input` makes.
A float .tflite has no Keras model to convert; it is quantized with the
calibrator the TFLite converter itself uses for post-training quantization.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from harness.errors import ModelError
from harness.models.tf_env import import_tf
from harness.native_output import quiet_native

QUANTIZATIONS = ("float32", "int8", "int16x8")


def _representative(calibration: np.ndarray) -> Callable[[], Iterator[list[np.ndarray]]]:
    return lambda: ([sample[np.newaxis].astype(np.float32)] for sample in calibration)


def convert_keras(model: Any, quantization: str, calibration: np.ndarray | None) -> bytes:
    """Convert a tf_keras model; ``calibration`` (N, *input) is needed for integer output."""
    tf, _ = import_tf()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantization != "float32":
        if calibration is None:
            raise ModelError(f"{quantization} conversion needs calibration samples")
        integer = tf.int16 if quantization == "int16x8" else tf.int8
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative(calibration)
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
            if quantization == "int16x8" else tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = integer
        converter.inference_output_type = integer
    try:
        with warnings.catch_warnings(), quiet_native(f"the TFLite converter ({quantization})"):
            warnings.simplefilter("ignore")  # converter chatter about traces and signatures
            return bytes(converter.convert())
    except Exception as exc:  # ConverterError, ValueError, RuntimeError, …
        raise ModelError(f"TFLite conversion to {quantization} failed: "
                         f"{type(exc).__name__}: {_first_line(exc)}") from exc


def quantize_float_tflite(data: bytes, quantization: str, calibration: np.ndarray) -> bytes:
    """Post-training quantization of a float .tflite (integer input and output)."""
    if quantization == "float32":
        return data
    tf, _ = import_tf()
    from tensorflow.lite.python.optimize import calibrator  # the converter's own calibrator

    integer = tf.int16 if quantization == "int16x8" else tf.int8
    try:
        with quiet_native(f"the TFLite calibrator ({quantization})"):
            quantized = calibrator.Calibrator(data).calibrate_and_quantize(
                _representative(calibration), input_type=integer, output_type=integer,
                allow_float=False, activations_type=integer,
                bias_type=tf.int64 if quantization == "int16x8" else tf.int32)
    except Exception as exc:  # the calibrator raises RuntimeError/ValueError from C++
        raise ModelError(f"quantizing the float .tflite to {quantization} failed: "
                         f"{type(exc).__name__}: {_first_line(exc)}") from exc
    return bytes(quantized)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "(no message)"
