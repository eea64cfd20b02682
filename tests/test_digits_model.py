"""The digits CNN: trained once per session into the shared model cache, then checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.errors import ModelError
from harness.models import digits_model
from harness.models.datasets import load_dataset
from harness.models.digits_model import TEST_FRACTION, DigitsModels, build_digits_models
from harness.models.tflite_inspect import inspect_tflite
from harness.models.tflm_host import TflmHostModel

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def digits(model_cache: Path) -> DigitsModels:
    return build_digits_models(model_cache)


def _files(models: DigitsModels) -> list[Path]:
    return [models.fp32, models.int8, models.keras, models.int8.parent / "summary.json"]


def test_int8_model_is_full_integer_and_accurate(digits: DigitsModels) -> None:
    info = inspect_tflite(digits.int8)
    assert [s.dtype for s in info.inputs + info.outputs] == ["int8", "int8"]
    assert info.inputs[0].shape == (1, 8, 8, 1) and info.outputs[0].shape == (1, 10)
    assert digits.accuracy_int8 >= 0.85
    assert digits.accuracy_fp32 >= 0.85
    assert abs(digits.accuracy_fp32 - digits.accuracy_keras) < 0.01
    assert digits.test_samples == 450


@pytest.mark.tflm
def test_recorded_accuracy_matches_the_tflm_runtime_on_the_held_out_split(
        digits: DigitsModels) -> None:
    """The figure comes from tf.lite; the boards run TFLM, on the split the bench scores."""
    test = load_dataset("digits").split(TEST_FRACTION, digits_model.SPLIT_SEED)[1]
    host = TflmHostModel.load(digits.int8)
    predicted = np.array([np.argmax(host.run(test.to_model_input(i, host.input_spec)))
                          for i in range(len(test))])
    tflm_accuracy = float(np.mean(predicted == test.y))
    assert tflm_accuracy >= 0.85
    assert abs(tflm_accuracy - digits.accuracy_int8) <= 2 / len(test)


def test_second_call_reads_the_cache_without_rewriting(digits: DigitsModels,
                                                       model_cache: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in _files(digits)}
    again = build_digits_models(model_cache)
    assert again == digits
    assert {p: p.stat().st_mtime_ns for p in _files(again)} == before
    other_seed_key = digits_model._cache_key(digits_model.TrainingSettings(seed=1))
    assert digits.int8.parent.name != f"digits-{other_seed_key}"


@pytest.mark.tflm
def test_a_training_seed_changes_the_weights_and_not_the_held_out_split(
        digits: DigitsModels, model_cache: Path) -> None:
    """Seeds of a study retrain the model; all are scored on the samples none trained on."""
    other = build_digits_models(model_cache, seed=1)
    assert other.seed == 1 and other.int8.read_bytes() != digits.int8.read_bytes()
    held_out = load_dataset("digits").held_out()
    assert other.test_samples == digits.test_samples == len(held_out)
    host = TflmHostModel.load(other.int8)
    predicted = np.array([np.argmax(host.run(held_out.to_model_input(i, host.input_spec)))
                          for i in range(len(held_out))])
    assert abs(float(np.mean(predicted == held_out.y)) - other.accuracy_int8) <= 2 / len(held_out)


def test_keras_model_loads_into_tfmot(digits: DigitsModels) -> None:
    from harness.models.tf_env import import_tf

    _, keras = import_tf()
    import tensorflow_model_optimization as tfmot

    model = keras.models.load_model(digits.keras)
    assert model.input_shape == (None, 8, 8, 1)
    quantized = tfmot.quantization.keras.quantize_model(model)
    assert quantized.output_shape == (None, 10)


def test_forced_rebuild_is_bit_identical(digits: DigitsModels, model_cache: Path) -> None:
    before = {p: p.read_bytes() for p in (digits.fp32, digits.int8)}
    rebuilt = build_digits_models(model_cache, force=True)
    assert rebuilt == digits
    assert {p: p.read_bytes() for p in (rebuilt.fp32, rebuilt.int8)} == before


def test_a_failed_build_leaves_no_model_behind(tmp_path: Path, monkeypatch) -> None:
    def fail(*_args: object) -> float:
        raise ModelError("interrupted on purpose, after the model files were written")

    monkeypatch.setattr(digits_model, "host_accuracy", fail)
    with pytest.raises(ModelError, match="interrupted on purpose"):
        build_digits_models(tmp_path)
    assert list(tmp_path.iterdir()) == []
