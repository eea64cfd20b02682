"""Builds small .tflite flatbuffers in the tests, in milliseconds and without TensorFlow.

Uses the schema's object API that ships with ``tflite-micro``; the models are real
files any TFLite reader or the TFLM runtime loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import flatbuffers
import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

from harness.tensors import DTYPE_TO_TFLITE_TYPE

_OPTIONS = {
    "CONV_2D": (fb.BuiltinOptions.Conv2DOptions, fb.Conv2DOptionsT),
    "DEPTHWISE_CONV_2D": (fb.BuiltinOptions.DepthwiseConv2DOptions, fb.DepthwiseConv2DOptionsT),
    "FULLY_CONNECTED": (fb.BuiltinOptions.FullyConnectedOptions, fb.FullyConnectedOptionsT),
}


@dataclass
class TinyGraph:
    """One subgraph: add tensors and ops, then ``write`` the model."""

    tensors: list[fb.TensorT] = field(default_factory=list)
    buffers: list[fb.BufferT] = field(default_factory=lambda: [fb.BufferT()])
    ops: list[fb.OperatorT] = field(default_factory=list)
    codes: list[fb.OperatorCodeT] = field(default_factory=list)

    def tensor(self, shape: tuple[int, ...], dtype: str, data: np.ndarray | None = None,
               scale: float | tuple[float, ...] = 0.0, zero_point: int = 0) -> int:
        """A tensor, constant when ``data`` is given; a tuple ``scale`` is per-channel."""
        t = fb.TensorT()
        t.shape = list(shape)
        t.type = DTYPE_TO_TFLITE_TYPE[dtype]
        t.name = f"t{len(self.tensors)}".encode()
        t.buffer = 0
        if data is not None:
            buf = fb.BufferT()
            buf.data = np.frombuffer(np.asarray(data, dtype=dtype).tobytes(), np.uint8)
            self.buffers.append(buf)
            t.buffer = len(self.buffers) - 1
        if scale:
            q = fb.QuantizationParametersT()
            scales = list(scale) if isinstance(scale, tuple) else [scale]
            q.scale, q.zeroPoint = scales, [zero_point] * len(scales)
            t.quantization = q
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, name: str, inputs: list[int], outputs: list[int], **options: int) -> None:
        """A builtin op by name, or ``CUSTOM:<code>``; options go to its *OptionsT."""
        code = fb.OperatorCodeT()
        if name.startswith("CUSTOM:"):
            code.builtinCode = fb.BuiltinOperator.CUSTOM
            code.customCode = name.split(":", 1)[1].encode()
        else:
            code.builtinCode = getattr(fb.BuiltinOperator, name)
        code.deprecatedBuiltinCode = min(code.builtinCode, 127)
        self.codes.append(code)
        op = fb.OperatorT()
        op.opcodeIndex = len(self.codes) - 1
        op.inputs, op.outputs = inputs, outputs
        if name in _OPTIONS:
            kind, cls = _OPTIONS[name]
            opts = cls()
            for key, value in options.items():
                setattr(opts, key, value)
            op.builtinOptionsType, op.builtinOptions = kind, opts
        self.ops.append(op)

    def write(self, path: Path, inputs: list[int], outputs: list[int]) -> Path:
        graph = fb.SubGraphT()
        graph.tensors, graph.operators = self.tensors, self.ops
        graph.inputs, graph.outputs = inputs, outputs
        model = fb.ModelT()
        model.version = 3
        model.description = b"tiny test model"
        model.subgraphs, model.buffers, model.operatorCodes = [graph], self.buffers, self.codes
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        path.write_bytes(bytes(builder.Output()))
        return path


def dense_float_model(path: Path, weights: np.ndarray, bias: np.ndarray) -> Path:
    """y = x @ weights.T + bias, float32, one FULLY_CONNECTED op."""
    units, features = weights.shape
    g = TinyGraph()
    x = g.tensor((1, features), "float32")
    w = g.tensor((units, features), "float32", weights)
    b = g.tensor((units,), "float32", bias)
    y = g.tensor((1, units), "float32")
    g.op("FULLY_CONNECTED", [x, w, b], [y])
    return g.write(path, [x], [y])


def ic_like_model_and_folder(root: Path, files: int,
                             mislabelled: tuple[int, ...] = ()) -> Path:
    """``root/ic.tflite`` (logit c = feature c of 16) and ``root/ic01``, an MLPerf-style
    folder of ``files`` uint8 inputs, file i loudest in feature i % 4, labelled so but for
    ``mislabelled`` (labelled the next class). Returns the folder."""
    weights = np.zeros((4, 16), np.float32)
    weights[np.arange(4), np.arange(4)] = 1
    dense_float_model(root / "ic.tflite", weights, np.zeros(4, np.float32))
    folder = root / "ic01"
    folder.mkdir()
    rows = []
    for i in range(files):
        c = i % 4
        x = np.full(16, 10, np.uint8)
        x[c] = 200 + i
        (folder / f"img_{i:03d}.bin").write_bytes(x.tobytes())
        rows.append(f"img_{i:03d}.bin,4,{(c + 1) % 4 if i in mislabelled else c}")
    (folder / "y_labels.csv").write_text("\n".join(rows) + "\n")
    return folder


def small_int8_cnn(path: Path, seed: int = 0) -> Path:
    """An int8 CONV_2D (3x3, 4 channels, per-channel scales, ReLU) then FULLY_CONNECTED
    to 3 classes: the quantized kernels a board runs (CMSIS-NN, ESP-NN), in 2 KB."""
    rng = np.random.default_rng(seed)
    in_scale, conv_scales, conv_out = 0.05, (0.02, 0.03, 0.025, 0.04), 0.1
    fc_scale, out_scale = 0.01, 0.6
    g = TinyGraph()
    x = g.tensor((1, 8, 8, 1), "int8", scale=in_scale, zero_point=-3)
    w = g.tensor((4, 3, 3, 1), "int8", rng.integers(-127, 128, (4, 3, 3, 1)),
                 scale=conv_scales)
    b = g.tensor((4,), "int32", rng.integers(-500, 500, 4),
                 scale=tuple(in_scale * s for s in conv_scales))
    h = g.tensor((1, 6, 6, 4), "int8", scale=conv_out, zero_point=-10)
    g.op("CONV_2D", [x, w, b], [h], padding=fb.Padding.VALID, strideW=1, strideH=1,
         fusedActivationFunction=fb.ActivationFunctionType.RELU)
    fw = g.tensor((3, 144), "int8", rng.integers(-40, 41, (3, 144)), scale=fc_scale)
    fb_ = g.tensor((3,), "int32", rng.integers(-2000, 2000, 3), scale=conv_out * fc_scale)
    y = g.tensor((1, 3), "int8", scale=out_scale)
    g.op("FULLY_CONNECTED", [h, fw, fb_], [y])
    return g.write(path, [x], [y])
