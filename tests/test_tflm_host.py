"""TflmHostModel on models built here and on the MLPerf Tiny int8 models (real TFLM runtime)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from tiny_tflite import TinyGraph, dense_float_model

from harness.errors import ModelError
from harness.models.tflite_inspect import inspect_tflite
from harness.models.tflm_host import TflmHostModel
from harness.models.tflm_probe import ARENA_ALIGNMENT
from harness.tensors import TensorSpec

pytestmark = pytest.mark.tflm


@pytest.fixture()
def dense(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    w = rng.normal(size=(6, 20)).astype(np.float32)
    b = rng.normal(size=6).astype(np.float32)
    return dense_float_model(tmp_path / "dense.tflite", w, b), w, b


def test_outputs_are_the_models_arithmetic(dense) -> None:
    path, w, b = dense
    model = TflmHostModel.load(path)
    assert model.input_spec == TensorSpec("float32", (1, 20))
    assert model.output_spec == TensorSpec("float32", (1, 6))
    x = np.random.default_rng(4).normal(size=(1, 20)).astype(np.float32)
    np.testing.assert_allclose(model.run(x), x @ w.T + b, rtol=1e-5, atol=1e-5)
    # raw bytes, as they arrive from the DUT protocol, give the same answer
    np.testing.assert_array_equal(model.run(x.tobytes()), model.run(x))
    assert model.run(x).dtype == np.float32


def test_arena_used_is_the_smallest_arena_that_loads(dense) -> None:
    path, _, _ = dense
    used = TflmHostModel.load(path).arena_used_bytes
    assert 0 < used < 64 * 1024
    assert TflmHostModel.load(path, arena_size=used).arena_used_bytes == used
    with pytest.raises(ModelError, match=rf"arena {used - ARENA_ALIGNMENT} bytes"):
        TflmHostModel.load(path, arena_size=used - ARENA_ALIGNMENT)


def test_wrong_inputs_raise_model_error(dense) -> None:
    path, _, _ = dense
    model = TflmHostModel.load(path)
    with pytest.raises(ModelError, match="expected float32"):
        model.run(np.zeros((1, 20), np.int8))
    with pytest.raises(ModelError, match="expected 80"):
        model.run(b"\0" * 79)
    with pytest.raises(ModelError, match=r"\(1, 20\)"):
        model.run(np.zeros((1, 21), np.float32))


def test_unsupported_ops_name_the_model_and_the_op(tmp_path: Path) -> None:
    for op in ("RFFT2D", "CUSTOM:NoSuchKernel"):
        g = TinyGraph()
        x, y = g.tensor((1, 8), "float32"), g.tensor((1, 8), "float32")
        g.op(op, [x], [y])
        path = g.write(tmp_path / "unsupported.tflite", [x], [y])
        with pytest.raises(ModelError) as err:
            TflmHostModel.load(path)
        assert str(path) in str(err.value)
        assert op.split(":")[0] in str(err.value)


def test_bad_files_raise_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a file"):
        TflmHostModel.load(tmp_path / "missing.tflite")
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x18\0\0\0TFL3" + b"\xff" * 100)  # right identifier, garbage body
    with pytest.raises(ModelError, match=r"junk\.tflite"):
        TflmHostModel.load(junk)


def test_models_with_two_inputs_are_refused(tmp_path: Path) -> None:
    g = TinyGraph()
    a, b, y = (g.tensor((1, 4), "float32") for _ in range(3))
    g.op("ADD", [a, b], [y])
    with pytest.raises(ModelError, match="2 inputs and 1 outputs"):
        TflmHostModel.load(g.write(tmp_path / "add.tflite", [a, b], [y]))


@pytest.mark.parametrize("name, mlperf_arena", [
    ("ic01_int8", 100 * 1024), ("kws01_int8", 200 * 1024), ("ad01_int8", 10 * 1024)])
def test_mlperf_int8_models_run_and_fit_the_reference_arenas(mlperf_dir: Path, name: str,
                                                             mlperf_arena: int) -> None:
    path = mlperf_dir / f"{name}.tflite"
    model = TflmHostModel.load(path)
    info = inspect_tflite(path)  # the flatbuffer reader and the runtime must agree
    assert (model.input_spec,) == info.inputs and (model.output_spec,) == info.outputs
    # MLPerf Tiny's reference firmware arenas; the host's 64-bit structs are larger still
    assert 0 < model.arena_used_bytes <= mlperf_arena
    rng = np.random.default_rng(5)
    info_in = np.iinfo(np.int8)
    x = rng.integers(info_in.min, info_in.max + 1, size=model.input_spec.shape, dtype=np.int8)
    out = model.run(x)
    assert out.dtype == np.int8 and out.shape == model.output_spec.shape
    np.testing.assert_array_equal(model.run(x), out)  # deterministic


def test_mlperf_hybrid_kws_fp32_is_refused_with_tflms_reason(mlperf_dir: Path) -> None:
    path = mlperf_dir / "kws01_fp32.tflite"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with pytest.raises(ModelError, match="Hybrid models are not supported"):
        TflmHostModel.load(path)


@pytest.mark.slow
def test_stateful_models_run_from_a_fresh_state(tmp_path: Path) -> None:
    """A resource variable accumulates across invokes unless run() resets the interpreter."""
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    tf = pytest.importorskip("tensorflow")

    class Accumulator(tf.Module):
        def __init__(self) -> None:
            self.total = tf.Variable(tf.zeros([1, 4]))

        @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32)])
        def __call__(self, x):
            self.total.assign_add(x)
            return self.total.read_value()

    module = Accumulator()
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [module.__call__.get_concrete_function()], module)
    converter.experimental_enable_resource_variables = True
    path = tmp_path / "accumulator.tflite"
    path.write_bytes(converter.convert())

    model = TflmHostModel.load(path)
    x = np.ones((1, 4), np.float32)
    for _ in range(3):
        np.testing.assert_array_equal(model.run(x), x)
    assert inspect_tflite(path).subgraphs == 2  # the variable's init runs in its own subgraph
