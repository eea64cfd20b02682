"""inspect_tflite on models built here (op by op) and on the MLPerf Tiny reference models."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from tiny_tflite import TinyGraph

from harness.errors import ModelError
from harness.models.tflite_inspect import inspect_tflite
from harness.tensors import TensorSpec


def _conv_dw_fc_model(path: Path, rng: np.random.Generator) -> tuple[Path, list[np.ndarray]]:
    """8x8x3 -> CONV_2D 3x3x4 -> DEPTHWISE 3x3 -> FULLY_CONNECTED 10 -> SOFTMAX."""
    conv_w = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)
    conv_w[0] = 0.0  # a pruned filter: 27 zero weights
    dw_w = rng.normal(size=(1, 3, 3, 4)).astype(np.float32)
    fc_w = rng.normal(size=(10, 256)).astype(np.float32)
    biases = [np.zeros(4, np.float32), np.ones(4, np.float32), np.ones(10, np.float32)]
    g = TinyGraph()
    x = g.tensor((1, 8, 8, 3), "float32")
    a = g.tensor((1, 8, 8, 4), "float32")
    b = g.tensor((1, 8, 8, 4), "float32")
    c = g.tensor((1, 10), "float32")
    y = g.tensor((1, 10), "float32")
    g.op("CONV_2D", [x, g.tensor(conv_w.shape, "float32", conv_w),
                     g.tensor((4,), "float32", biases[0])], [a], strideW=1, strideH=1)
    g.op("DEPTHWISE_CONV_2D", [a, g.tensor(dw_w.shape, "float32", dw_w),
                               g.tensor((4,), "float32", biases[1])], [b],
         strideW=1, strideH=1, depthMultiplier=1)
    g.op("FULLY_CONNECTED", [b, g.tensor(fc_w.shape, "float32", fc_w),
                             g.tensor((10,), "float32", biases[2])], [c])
    g.op("SOFTMAX", [c], [y])
    return g.write(path, [x], [y]), [conv_w, dw_w, fc_w, *biases]


def test_macs_params_and_io_of_a_built_model(tmp_path: Path) -> None:
    path, weights = _conv_dw_fc_model(tmp_path / "m.tflite", np.random.default_rng(1))
    info = inspect_tflite(path)

    assert [op.name for op in info.ops] == ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED",
                                           "SOFTMAX"]
    # out_h*out_w*out_c * k_h*k_w*in_c | out_h*out_w*out_c * k_h*k_w | units * features | 0
    assert [op.macs for op in info.ops] == [8 * 8 * 4 * 3 * 3 * 3, 8 * 8 * 4 * 3 * 3, 10 * 256, 0]
    assert info.total_macs == 6912 + 2304 + 2560
    assert [op.output_elements for op in info.ops] == [256, 256, 10, 10]
    assert info.ops[0].kernel_shape == (4, 3, 3, 3)
    assert info.ops[3].kernel_shape == ()
    assert {op.dtype for op in info.ops} == {"float32"}
    assert info.params == sum(w.size for w in weights)
    assert info.nonzero_params == sum(int(np.count_nonzero(w)) for w in weights)
    assert info.params - info.nonzero_params == 27 + 4  # the pruned filter and the zero bias
    assert info.op_names == ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX")
    assert info.inputs == (TensorSpec("float32", (1, 8, 8, 3)),)
    assert info.outputs == (TensorSpec("float32", (1, 10)),)
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info.file_bytes == path.stat().st_size
    assert info.description == "tiny test model"
    assert info.subgraphs == 1


def test_quantization_per_tensor_and_first_channel(tmp_path: Path) -> None:
    g = TinyGraph()
    x = g.tensor((1, 4), "int8", scale=0.5, zero_point=-3)
    y = g.tensor((1, 4), "int8", scale=(0.25, 0.125, 0.5, 1.0), zero_point=7)
    g.op("RELU", [x], [y])
    info = inspect_tflite(g.write(tmp_path / "q.tflite", [x], [y]))
    assert info.inputs == (TensorSpec("int8", (1, 4), 0.5, -3),)
    assert info.outputs == (TensorSpec("int8", (1, 4), 0.25, 7),)
    assert info.total_macs == 0 and info.params == 0
    assert info.ops[0].dtype == "int8"


def test_custom_ops_are_named_and_cost_no_macs(tmp_path: Path) -> None:
    g = TinyGraph()
    x, y = g.tensor((1, 16), "float32"), g.tensor((1, 16), "float32")
    g.op("CUSTOM:MyFancyOp", [x], [y])
    info = inspect_tflite(g.write(tmp_path / "c.tflite", [x], [y]))
    assert info.op_names == ("CUSTOM:MyFancyOp",)
    assert info.ops[0].macs == 0 and info.ops[0].output_elements == 16


@pytest.mark.parametrize("make, expected", [
    (lambda p: p, "not a file"),
    (lambda p: p.mkdir() or p, "not a file"),
    (lambda p: p.write_text("definitely not a model\n") and p, "no 'TFL3' identifier"),
])
def test_unreadable_paths_raise_model_error_naming_the_path(tmp_path: Path, make,
                                                            expected: str) -> None:
    path = make(tmp_path / "bad.tflite")
    with pytest.raises(ModelError, match=expected) as err:
        inspect_tflite(path)
    assert str(path) in str(err.value)


def test_a_truncated_flatbuffer_raises_model_error(tmp_path: Path) -> None:
    good, _ = _conv_dw_fc_model(tmp_path / "m.tflite", np.random.default_rng(2))
    bad = tmp_path / "truncated.tflite"
    bad.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ModelError, match="corrupt TFLite flatbuffer") as err:
        inspect_tflite(bad)
    assert str(bad) in str(err.value)


# Layer shapes of the MLPerf Tiny reference networks (their Keras sources), BN folded.
def _conv(out_hw: int, out_c: int, k: int, in_c: int) -> int:
    return out_hw * out_hw * out_c * k * k * in_c


IC_RESNET8_MACS = (
    _conv(32, 16, 3, 3)                                           # stem
    + 2 * _conv(32, 16, 3, 16)                                    # stack 1
    + _conv(16, 32, 3, 16) + _conv(16, 32, 3, 32) + _conv(16, 32, 1, 16)  # stack 2 + shortcut
    + _conv(8, 64, 3, 32) + _conv(8, 64, 3, 64) + _conv(8, 64, 1, 32)     # stack 3 + shortcut
    + 64 * 10                                                     # classifier
)
KWS_DSCNN_MACS = (
    25 * 5 * 64 * 10 * 4                                          # 10x4 conv, stride 2
    + 4 * (25 * 5 * 64 * 3 * 3 + 25 * 5 * 64 * 64)                # 4 x (depthwise + pointwise)
    + 64 * 12
)
AD_AUTOENCODER_MACS = 640 * 128 + 3 * 128 * 128 + 128 * 8 + 8 * 128 + 3 * 128 * 128 + 128 * 640


@pytest.mark.parametrize("name, macs, ops, shape_in, shape_out", [
    ("ic01_int8", IC_RESNET8_MACS, {"CONV_2D", "ADD", "AVERAGE_POOL_2D", "FULLY_CONNECTED"},
     (1, 32, 32, 3), (1, 10)),
    ("kws01_int8", KWS_DSCNN_MACS, {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"},
     (1, 49, 10, 1), (1, 12)),
    ("ad01_int8", AD_AUTOENCODER_MACS, {"FULLY_CONNECTED"}, (1, 640), (1, 640)),
])
def test_mlperf_tiny_models_match_their_layer_shapes(mlperf_dir: Path, name: str, macs: int,
                                                     ops: set[str], shape_in: tuple[int, ...],
                                                     shape_out: tuple[int, ...]) -> None:
    info = inspect_tflite(mlperf_dir / f"{name}.tflite")
    assert info.total_macs == macs
    assert ops <= set(info.op_names)
    assert len(info.inputs) == len(info.outputs) == 1
    assert info.inputs[0].dtype == info.outputs[0].dtype == "int8"
    assert info.inputs[0].shape == shape_in and info.outputs[0].shape == shape_out
    assert info.inputs[0].quantized and info.outputs[0].quantized
    assert 0 < info.nonzero_params <= info.params


def test_mlperf_ic_macs_are_the_published_12_5_million(mlperf_dir: Path) -> None:
    info = inspect_tflite(mlperf_dir / "ic01_int8.tflite")
    assert info.total_macs == pytest.approx(12.5e6, rel=0.01)
    # ResNet-8 weights+biases after BN folding: conv 76,720 + 336, dense 640 + 10
    assert info.params == 77_706
    fp32 = inspect_tflite(mlperf_dir / "ic01_fp32.tflite")
    assert fp32.total_macs == info.total_macs and fp32.params == info.params
