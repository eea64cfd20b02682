"""The TFLM host runtime (Python package ``tflite-micro``) behind one small class.

It gives the outputs a board running TFLM must give (the simulated board's
outputs and the host reference of accuracy runs) and the arena the model needs.

Arena usage: the figure that matters is the smallest arena with which TFLM can
allocate the model. Finding it means loading the model again and again, which
can crash the process (an arena too small, a malformed flatbuffer): that
happens in a helper program (`tflm_probe.py`), which also says why TFLM cannot
load a model. Only after the helper has found the model loadable do we load it
in-process, with TFLM's messages kept off the console. The figure is the host's:
on a 32-bit MCU TFLM's per-tensor structs are smaller, so a board needs slightly
less (the activation plan, the bulk, is the same).

State: the interpreter keeps variables (resource variables, LSTM state) between
invokes. ``run`` resets it first (< 1 µs) so each output depends on its input
only, as a freshly started board's would.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ModelError
from harness.models.tflm_probe import ProbeHelper
from harness.native_output import CapturedNativeOutput
from harness.tensors import TensorSpec

log = logging.getLogger(__name__)

# The runtime's own default is 10x the file size, too small for tiny models with
# large activations; untouched host pages cost nothing.
MIN_DEFAULT_ARENA_BYTES = 4 << 20
_MAX_TENSORS = 64  # more inputs than this is not a TinyML model
_probe_helper = ProbeHelper()


class TflmHostModel:
    """One .tflite model loaded into the TFLM host interpreter (single input, single output)."""

    def __init__(self, path: Path, interpreter: Any, input_spec: TensorSpec,
                 output_spec: TensorSpec, arena_used_bytes: int) -> None:
        self.path = path
        self._interpreter = interpreter
        self.input_spec = input_spec
        self.output_spec = output_spec
        self.arena_used_bytes = arena_used_bytes

    @classmethod
    def load(cls, path: Path, arena_size: int | None = None) -> TflmHostModel:
        from tflite_micro.python.tflite_micro import runtime  # optional extra: [tflm]

        path = Path(path)
        if not path.is_file():
            raise ModelError(f"{path}: not a file (expected a .tflite model)")
        data = path.read_bytes()
        if len(data) < 8 or data[4:8] != b"TFL3":
            raise ModelError(f"{path}: not a TFLite flatbuffer (no 'TFL3' identifier at byte 4)")
        arena = arena_size or max(10 * len(data), MIN_DEFAULT_ARENA_BYTES)
        probe = _probe_helper.run(data, arena)
        if probe.error:
            raise ModelError(f"{path}: {probe.error}")
        with CapturedNativeOutput():  # keeps TFLM's messages off the console
            interpreter = runtime.Interpreter.from_bytes(data, arena_size=arena)
            n_in = _tensor_count(interpreter.get_input_details)
            n_out = _tensor_count(interpreter.get_output_details)
        if (n_in, n_out) != (1, 1):
            raise ModelError(f"{path}: has {n_in} inputs and {n_out} outputs; "
                             "the harness runs models with one input and one output")
        log.debug("%s: smallest TFLM arena %d bytes", path, probe.arena_used)
        return cls(path, interpreter, _spec(interpreter.get_input_details(0)),
                   _spec(interpreter.get_output_details(0)), probe.arena_used)

    def run(self, raw: np.ndarray | bytes) -> np.ndarray:
        """One inference from a fresh state: raw input (input dtype) -> raw output."""
        spec = self.input_spec
        if isinstance(raw, (bytes, bytearray, memoryview)):
            if len(raw) != spec.nbytes:
                raise ModelError(f"{self.path}: input is {len(raw)} bytes, expected "
                                 f"{spec.nbytes} ({spec.dtype} {spec.shape})")
            x = spec.from_bytes(bytes(raw))
        else:
            x = np.asarray(raw)
            if x.dtype != np.dtype(spec.dtype) or x.size != int(np.prod(spec.shape)):
                raise ModelError(f"{self.path}: input is {x.dtype} {x.shape}, expected "
                                 f"{spec.dtype} {spec.shape}")
            x = x.reshape(spec.shape)
        try:
            self._interpreter.reset()
            self._interpreter.set_input(np.ascontiguousarray(x), 0)
            self._interpreter.invoke()
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"{self.path}: TFLM inference failed: {exc}") from exc
        return self._interpreter.get_output(0)


def _tensor_count(details: Callable[[int], dict]) -> int:
    """How many inputs (outputs) the interpreter has: it only answers per index."""
    for n in range(_MAX_TENSORS):
        try:
            details(n)
        except IndexError:
            return n
    return _MAX_TENSORS


def _spec(details: dict) -> TensorSpec:
    q = details["quantization_parameters"]
    scales, zero_points = q["scales"], q["zero_points"]
    return TensorSpec(
        dtype=np.dtype(details["dtype"]).name,
        shape=tuple(int(d) for d in details["shape"]),
        scale=float(scales[0]) if len(scales) else 0.0,
        zero_point=int(zero_points[0]) if len(zero_points) else 0,
    )
