"""A .tflite model as C/C++ sources for the firmware's TFLM runner.

Writes three files into a folder the firmware build adds to its include path:

* ``harness_model.h``: sizes (model, arena, input, output, op count) as macros
  and the model array and its SHA-256 as ``extern "C"`` data. Plain C, so board
  files (Arduino ones included) can size the arena without TFLM headers.
* ``harness_model_ops.h``: the resolver type, ``MicroMutableOpResolver<N>`` with
  N the model's distinct ops, and the function that registers exactly them.
* ``harness_model.cc``: the model bytes, 16-byte aligned (TFLM reads the
  flatbuffer in place), the hash computed here, and that function.

Output is deterministic: the same model and arena always give the same bytes,
so builds can be cached by the hash of these files.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from harness.errors import ModelError
from harness.models.tflite_inspect import ModelInfo, inspect_tflite
from harness.tensors import TensorSpec

log = logging.getLogger(__name__)

FILES = ("harness_model.h", "harness_model_ops.h", "harness_model.cc")
ARENA_ALIGNMENT = 16

# The builtin ops TFLM's MicroMutableOpResolver can register (its Add<Op>()
# methods; tflite-micro 90b983c2, 2026-08). The method is the op name in
# CamelCase, except for the spellings below. tests/test_firmware_embed.py checks
# this table against $TFLM_DIR's micro_mutable_op_resolver.h when it is set.
_RESOLVER_OPS_TEXT = """
    ABS ADD ADD_N ARG_MAX ARG_MIN ASSIGN_VARIABLE AVERAGE_POOL_2D BATCH_MATMUL
    BATCH_TO_SPACE_ND BROADCAST_ARGS BROADCAST_TO CALL_ONCE CAST CEIL CONCATENATION CONV_2D
    COS CUMSUM DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE DIV DYNAMIC_UPDATE_SLICE ELU
    EMBEDDING_LOOKUP EQUAL EXP EXPAND_DIMS FILL FLOOR FLOOR_DIV FLOOR_MOD FULLY_CONNECTED
    GATHER GATHER_ND GREATER GREATER_EQUAL HARD_SWISH IF L2_NORMALIZATION L2_POOL_2D
    LEAKY_RELU LESS LESS_EQUAL LOG LOGICAL_AND LOGICAL_NOT LOGICAL_OR LOGISTIC LOG_SOFTMAX
    MAXIMUM MAX_POOL_2D MEAN MINIMUM MIRROR_PAD MUL NEG NOT_EQUAL PACK PAD PADV2 PRELU
    QUANTIZE READ_VARIABLE REDUCE_ALL REDUCE_MAX REDUCE_MIN RELU RELU6 RESHAPE
    RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR REVERSE_V2 ROUND RSQRT SELECT_V2 SHAPE SIN SLICE
    SOFTMAX SPACE_TO_BATCH_ND SPACE_TO_DEPTH SPLIT SPLIT_V SQRT SQUARE SQUARED_DIFFERENCE
    SQUEEZE STRIDED_SLICE SUB SUM SVDF TANH TRANSPOSE TRANSPOSE_CONV
    UNIDIRECTIONAL_SEQUENCE_LSTM UNPACK VAR_HANDLE WHILE ZEROS_LIKE
"""
RESOLVER_OPS = frozenset(_RESOLVER_OPS_TEXT.split())
_IRREGULAR_METHODS = {
    "AVERAGE_POOL_2D": "AddAveragePool2D", "BATCH_MATMUL": "AddBatchMatMul",
    "CONV_2D": "AddConv2D", "CUMSUM": "AddCumSum", "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "L2_POOL_2D": "AddL2Pool2D", "MAX_POOL_2D": "AddMaxPool2D", "PADV2": "AddPadV2",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
}


def resolver_method(op: str) -> str:
    """The MicroMutableOpResolver method that registers builtin ``op`` (``CONV_2D``)."""
    if op not in RESOLVER_OPS:
        raise ModelError(f"op {op} has no MicroMutableOpResolver method in TFLM "
                         "(custom ops and ops TFLM lacks cannot run on the firmware)")
    return _IRREGULAR_METHODS.get(op) or "Add" + "".join(w.capitalize() for w in op.split("_"))


def arena_with_margin(host_arena_bytes: int) -> int:
    """Arena to give the firmware for a model the TFLM host runtime allocates in
    ``host_arena_bytes``: the host figure (64-bit, reference kernels) plus an
    eighth and 4 KiB for what the optimized kernels ask on top (CMSIS-NN im2col
    and ESP-NN scratch buffers), rounded up to TFLM's 16-byte alignment."""
    need = host_arena_bytes + host_arena_bytes // 8 + 4096
    return -(-need // ARENA_ALIGNMENT) * ARENA_ALIGNMENT


@dataclass(frozen=True)
class EmbeddedModel:
    """What was written: where, for which model, with which arena."""

    folder: Path
    model: Path
    sha256: str
    model_bytes: int
    arena_bytes: int
    op_names: tuple[str, ...]
    input: TensorSpec
    output: TensorSpec

    @property
    def digest(self) -> str:
        """SHA-256 of the generated files: equal digests, identical sources."""
        h = hashlib.sha256()
        for name in FILES:
            h.update((self.folder / name).read_bytes())
        return h.hexdigest()


def host_arena_bytes(model: Path) -> int:
    """Smallest arena the TFLM host runtime loads ``model`` with."""
    from harness.models.tflm_host import TflmHostModel  # needs the tflite-micro package

    return TflmHostModel.load(model).arena_used_bytes


def write_model_sources(model: Path, folder: Path, arena_bytes: int | None = None) -> EmbeddedModel:
    """Write the three sources for ``model`` into ``folder`` (created if needed).

    ``arena_bytes`` defaults to the TFLM host runtime's figure plus a margin.
    """
    info = inspect_tflite(model)
    _check_runnable(info)
    methods = [resolver_method(op) for op in info.op_names]
    if arena_bytes is None:
        host = host_arena_bytes(model)
        arena_bytes = arena_with_margin(host)
        log.info("%s: TFLM host arena %d bytes, firmware arena %d", model.name, host, arena_bytes)
    elif arena_bytes <= 0 or arena_bytes % ARENA_ALIGNMENT:
        raise ModelError(f"arena of {arena_bytes} bytes for {model}: expected a positive "
                         f"multiple of {ARENA_ALIGNMENT}")
    folder.mkdir(parents=True, exist_ok=True)
    data = info.path.read_bytes()
    spec_in, spec_out = info.inputs[0], info.outputs[0]
    header = _HEADER.format(
        name=model.name, model_bytes=len(data), arena=arena_bytes, input_bytes=spec_in.nbytes,
        output_bytes=spec_out.nbytes, op_count=len(methods))
    source = _SOURCE.format(
        name=model.name, data=_c_bytes(data), sha=_c_bytes(bytes.fromhex(info.sha256)),
        ops=", ".join(info.op_names),
        calls="".join(f"    if (resolver.{m}() != kTfLiteOk) {{\n        return kTfLiteError;\n"
                      f"    }}\n" for m in methods))
    for name, text in zip(FILES, (header, _OPS_HEADER, source), strict=True):
        (folder / name).write_text(text)
    return EmbeddedModel(folder=folder, model=model, sha256=info.sha256, model_bytes=len(data),
                         arena_bytes=arena_bytes, op_names=info.op_names, input=spec_in,
                         output=spec_out)


def embed_model(model: Path, cache_root: Path, arena_bytes: int | None = None) -> EmbeddedModel:
    """The sources for ``model`` in ``cache_root/<hash of the sources>/``.

    The folder's name is its content's hash, so a build that records the folder
    path records the model, the arena and the generator's output at once.
    """
    tmp = cache_root / f"tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    embedded = write_model_sources(model, tmp, arena_bytes)
    final = cache_root / embedded.digest[:16]
    if final.is_dir():
        shutil.rmtree(tmp)
    else:
        try:
            tmp.rename(final)
        except OSError:  # another process wrote the same sources first
            shutil.rmtree(tmp, ignore_errors=True)
    return replace(embedded, folder=final)


def _check_runnable(info: ModelInfo) -> None:
    if (len(info.inputs), len(info.outputs)) != (1, 1):
        raise ModelError(f"{info.path}: has {len(info.inputs)} inputs and {len(info.outputs)} "
                         "outputs; the firmware runner serves one input and one output")
    if info.subgraphs > 1:
        log.warning("%s: %d subgraphs; only the ops of the main one are registered",
                    info.path, info.subgraphs)


def _c_bytes(data: bytes, per_line: int = 16) -> str:
    rows = (", ".join(f"0x{b:02x}" for b in data[i:i + per_line])
            for i in range(0, len(data), per_line))
    return ",\n".join(f"    {row}" for row in rows)


_HEADER = """\
/* Generated by harness.firmware.model_embed from {name}: do not edit. */
#ifndef HARNESS_MODEL_H
#define HARNESS_MODEL_H

#define HARNESS_MODEL_BYTES {model_bytes}u
#define HARNESS_MODEL_ARENA_BYTES {arena}u
#define HARNESS_MODEL_INPUT_BYTES {input_bytes}u
#define HARNESS_MODEL_OUTPUT_BYTES {output_bytes}u
#define HARNESS_MODEL_OP_COUNT {op_count}

#ifdef __cplusplus
extern "C" {{
#endif
extern const unsigned char harness_model_tflite[HARNESS_MODEL_BYTES];
extern const unsigned char harness_model_sha256[32];
#ifdef __cplusplus
}}
#endif

#endif
"""

_OPS_HEADER = """\
/* Generated by harness.firmware.model_embed: do not edit. C++ only (TFLM). */
#ifndef HARNESS_MODEL_OPS_H
#define HARNESS_MODEL_OPS_H

#include "harness_model.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"

/* Exactly the model's ops: no kernel the model does not use is linked. */
using HarnessOpResolver = tflite::MicroMutableOpResolver<HARNESS_MODEL_OP_COUNT>;
TfLiteStatus harness_model_add_ops(HarnessOpResolver &resolver);

#endif
"""

_SOURCE = """\
/* Generated by harness.firmware.model_embed from {name}: do not edit. */
#include "harness_model_ops.h"

/* TFLM reads the flatbuffer in place: its tables need 16-byte alignment. */
alignas(16) const unsigned char harness_model_tflite[HARNESS_MODEL_BYTES] = {{
{data}
}};

const unsigned char harness_model_sha256[32] = {{
{sha}
}};

/* {ops} */
TfLiteStatus harness_model_add_ops(HarnessOpResolver &resolver)
{{
{calls}    return kTfLiteOk;
}}
"""
