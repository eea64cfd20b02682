"""What a .tflite file holds: ops with their MACs, parameters, inputs and outputs.

Reads the flatbuffer with the ``tflite`` schema package only (no TensorFlow), so
it is cheap enough for every plan, estimate and simulated board.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tflite

from harness.errors import ModelError
from harness.tensors import TFLITE_TYPE_TO_DTYPE, TensorSpec

# numpy dtypes of constant buffers (for counting non-zero weights); wider than
# TFLITE_TYPE_TO_DTYPE, which lists only the types a model input/output may have.
_BUFFER_DTYPES: dict[int, str] = {
    0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool",
    7: "int16", 9: "int8", 10: "float64",
}
# Ops whose cost is dominated by multiply-accumulates; their constant inputs are weights.
_WEIGHTED_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"})
# Integer constants outside weighted ops are shapes, axes and paddings, not parameters.
_INDEX_TYPES = frozenset({2, 4})  # int32, int64


@dataclass(frozen=True)
class OpInfo:
    index: int
    name: str                          # builtin name ("CONV_2D") or "CUSTOM:<code>"
    macs: int
    output_elements: int               # summed over the op's outputs
    output_shape: tuple[int, ...]      # first output
    dtype: str                         # first output's element type: int8 ops and float ops
                                       # run on different kernels
    kernel_shape: tuple[int, ...] = ()  # filter tensor shape of weighted ops
    input_elements: int = 0            # first input's elements (a pooling op's window work)
    stride: tuple[int, ...] = ()       # (h, w) of convolutions and pooling


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    sha256: str                        # hex digest of the file
    file_bytes: int
    ops: tuple[OpInfo, ...]            # main subgraph, in execution order
    op_names: tuple[str, ...]          # sorted, unique
    total_macs: int
    params: int                        # elements of constant weight/bias tensors
    nonzero_params: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    description: str
    subgraphs: int                     # >1 means IF/WHILE bodies, not counted in ops

    @property
    def sparsity(self) -> float:
        return 1.0 - self.nonzero_params / self.params if self.params else 0.0


def inspect_tflite(path: Path) -> ModelInfo:
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: not a file (expected a .tflite model)")
    data = path.read_bytes()
    if len(data) < 8 or not tflite.Model.ModelBufferHasIdentifier(data, 0):
        raise ModelError(f"{path}: not a TFLite flatbuffer (no 'TFL3' identifier at byte 4)")
    try:
        return _inspect(path, data)
    except ModelError:
        raise
    except Exception as exc:  # a truncated or corrupt flatbuffer fails anywhere in the reader
        raise ModelError(
            f"{path}: corrupt TFLite flatbuffer ({type(exc).__name__}: {exc})") from exc


def _inspect(path: Path, data: bytes) -> ModelInfo:
    model = tflite.Model.GetRootAsModel(data, 0)
    if model.SubgraphsLength() < 1:
        raise ModelError(f"{path}: the model has no subgraph")
    graph = model.Subgraphs(0)
    tensors = [graph.Tensors(i) for i in range(graph.TensorsLength())]
    op_names = [_op_name(model.OperatorCodes(i)) for i in range(model.OperatorCodesLength())]
    ops: list[OpInfo] = []
    weights: set[int] = set()
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        name = op_names[op.OpcodeIndex()]
        ins = [int(t) for t in op.InputsAsNumpy()] if op.InputsLength() else []
        outs = [int(t) for t in op.OutputsAsNumpy()] if op.OutputsLength() else []
        dtype = _type_name(tensors[outs[0]].Type()) if outs else ""
        ops.append(_op_info(i, name, dtype, [_shape(tensors, t) for t in ins],
                            [_shape(tensors, t) for t in outs], _stride(op)))
        weighted = name in _WEIGHTED_OPS
        weights.update(t for t in ins if t >= 0 and _is_constant(model, tensors[t])
                       and (weighted or tensors[t].Type() not in _INDEX_TYPES))
    params = sum(_elements(_shape(tensors, t)) for t in weights)
    nonzero = sum(_nonzero(model, tensors[t]) for t in weights)
    description = model.Description()
    return ModelInfo(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        file_bytes=len(data),
        ops=tuple(ops),
        op_names=tuple(sorted({o.name for o in ops})),
        total_macs=sum(o.macs for o in ops),
        params=params,
        nonzero_params=nonzero,
        inputs=tuple(_spec(path, tensors[int(t)]) for t in graph.InputsAsNumpy()),
        outputs=tuple(_spec(path, tensors[int(t)]) for t in graph.OutputsAsNumpy()),
        description=description.decode("utf-8", "replace") if description else "",
        subgraphs=model.SubgraphsLength(),
    )


def _op_info(index: int, name: str, dtype: str, ins: list[tuple[int, ...]],
             outs: list[tuple[int, ...]], stride: tuple[int, ...] = ()) -> OpInfo:
    out_shape = outs[0] if outs else ()
    out_elems = sum(_elements(s) for s in outs)
    kernel: tuple[int, ...] = ()
    macs = 0
    if name == "CONV_2D":              # filter [out_c, k_h, k_w, in_c / groups]
        kernel = ins[1]
        macs = out_elems * kernel[1] * kernel[2] * kernel[3]
    elif name == "DEPTHWISE_CONV_2D":  # filter [1, k_h, k_w, out_c]
        kernel = ins[1]
        macs = out_elems * kernel[1] * kernel[2]
    elif name == "FULLY_CONNECTED":    # filter [units, in_features]
        kernel = ins[1]
        macs = out_elems * kernel[-1]
    elif name == "TRANSPOSE_CONV":     # inputs: output shape, filter [out_c, k_h, k_w, in_c], x
        kernel = ins[1]
        macs = _elements(ins[2]) * kernel[0] * kernel[1] * kernel[2]
    return OpInfo(index=index, name=name, macs=int(macs), output_elements=int(out_elems),
                  output_shape=out_shape, dtype=dtype, kernel_shape=kernel,
                  input_elements=_elements(ins[0]) if ins and ins[0] else 0, stride=stride)


# Options tables that carry strides (the kernel path a library picks depends on them).
_STRIDED_OPTIONS = {
    tflite.BuiltinOptions.Conv2DOptions: tflite.Conv2DOptions,
    tflite.BuiltinOptions.DepthwiseConv2DOptions: tflite.DepthwiseConv2DOptions,
    tflite.BuiltinOptions.Pool2DOptions: tflite.Pool2DOptions,
    tflite.BuiltinOptions.TransposeConvOptions: tflite.TransposeConvOptions,
}


def _stride(op: tflite.Operator) -> tuple[int, ...]:
    table = _STRIDED_OPTIONS.get(op.BuiltinOptionsType())
    raw = op.BuiltinOptions()
    if table is None or raw is None:
        return ()
    options = table()
    options.Init(raw.Bytes, raw.Pos)
    return (int(options.StrideH()), int(options.StrideW()))


def _op_name(code: tflite.OperatorCode) -> str:
    # Codes above 127 live in BuiltinCode(); older files only fill the deprecated byte.
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    if builtin == tflite.BuiltinOperator.CUSTOM:
        custom = code.CustomCode()
        return f"CUSTOM:{custom.decode('utf-8', 'replace') if custom else '?'}"
    return tflite.utils.BUILTIN_OPCODE2NAME.get(builtin, f"BUILTIN_{builtin}")


def _type_name(tflite_type: int) -> str:
    return _BUFFER_DTYPES.get(tflite_type, f"tflite_type_{tflite_type}")


def _shape(tensors: list[tflite.Tensor], index: int) -> tuple[int, ...]:
    if index < 0:                      # optional input left out (e.g. no bias)
        return ()
    t = tensors[index]
    return tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()


def _elements(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=np.int64)) if shape else 1


def _is_constant(model: tflite.Model, tensor: tflite.Tensor) -> bool:
    buf = tensor.Buffer()
    if buf == 0 or buf >= model.BuffersLength():  # buffer 0 is the shared empty buffer
        return False
    b = model.Buffers(buf)
    return b.DataLength() > 0 or b.Size() > 0     # Size: data stored after the flatbuffer


def _nonzero(model: tflite.Model, tensor: tflite.Tensor) -> int:
    b = model.Buffers(tensor.Buffer())
    dtype = _BUFFER_DTYPES.get(tensor.Type())
    if dtype is None or b.DataLength() == 0:
        # Packed int4 or out-of-line data: count every element as a weight.
        return _elements(tuple(tensor.ShapeAsNumpy())) if tensor.ShapeLength() else 1
    values = np.frombuffer(b.DataAsNumpy().tobytes(), dtype=np.dtype(dtype).newbyteorder("<"))
    return int(np.count_nonzero(values))


def _spec(path: Path, tensor: tflite.Tensor) -> TensorSpec:
    dtype = TFLITE_TYPE_TO_DTYPE.get(tensor.Type())
    if dtype is None:
        raise ModelError(f"{path}: tensor {tensor.Name().decode()!r} has TFLite type "
                         f"{tensor.Type()}, expected one of {sorted(TFLITE_TYPE_TO_DTYPE)}")
    shape = tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
    q = tensor.Quantization()
    scale, zero_point = 0.0, 0
    if q is not None and q.ScaleLength() > 0:
        # Per-channel tensors: the first channel's parameters (inputs/outputs are per-tensor).
        scale, zero_point = float(q.Scale(0)), int(q.ZeroPoint(0))
    return TensorSpec(dtype=dtype, shape=shape, scale=scale, zero_point=zero_point)
