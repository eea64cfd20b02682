"""How a model's tensors travel over MLPerf Tiny's text protocol, per benchmark.

MLPerf Tiny's reference DUTs (mlcommons/tiny, benchmark/reference_submissions/)
do not take the model's input bytes as they are, nor print the output tensor
as it is: the image benchmarks (ic01, vww01) take uint8 pixels and subtract
128, kws01 takes the int8 input, ad01 takes float32 values and quantises them
itself; every benchmark prints ``m-results-[…]`` with ``%0.3f`` floats: the
dequantised output, or (ad01) the mean squared reconstruction error.

Which benchmark a model is follows from its tensors (dtype and shape of its one
input and one output), the rule the project's firmware uses too
(firmware/lib/harness_proto/src/hp_mlperf.c); any other model is ``unknown``:
its input bytes go as they are and its output is printed element by element.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from harness.errors import ProtocolError
from harness.tensors import TensorSpec

UNKNOWN = "unknown"
#: the int8 models of MLPerf Tiny v1.x: id -> (input shape, output shape)
BENCHMARKS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "ic01": ((1, 32, 32, 3), (1, 10)),
    "kws01": ((1, 49, 10, 1), (1, 12)),
    "vww01": ((1, 96, 96, 3), (1, 2)),
    "ad01": ((1, 640), (1, 640)),
}
#: the benchmarks whose DUT takes uint8 pixels (the int8 input + 128)
_PIXELS = {"ic01", "vww01"}
#: what ``%0.3f`` keeps: a printed value is within half of this of the true one
PRINT_STEP = 1e-3
_FLOAT = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$|^[-+]?(?:inf|nan)$",
                    re.IGNORECASE)


def benchmark_of(input_spec: TensorSpec, output_spec: TensorSpec) -> str:
    """The MLPerf Tiny benchmark a model with these tensors is, or ``unknown``."""
    for name, (in_shape, out_shape) in BENCHMARKS.items():
        if (input_spec.dtype, output_spec.dtype) == ("int8", "int8") and \
                (tuple(input_spec.shape), tuple(output_spec.shape)) == (in_shape, out_shape):
            return name
    return UNKNOWN


def format_value(value: float) -> str:
    """A float as the DUT prints it (C's ``%0.3f`` of a float promoted to double)."""
    return f"{float(np.float32(value)):.3f}"


@dataclass(frozen=True)
class Results:
    """One ``m-results-[…]`` line, read for a model."""

    text: tuple[str, ...]          # the values as printed
    output: bytes | None           # raw output bytes re-quantised (None: ad01 prints a score)
    score: float | None            # ad01's reconstruction error


@dataclass(frozen=True)
class MlperfCodec:
    """The wire form of one model's input and results for MLPerf Tiny's DUT."""

    benchmark: str
    input_spec: TensorSpec
    output_spec: TensorSpec

    @classmethod
    def for_model(cls, input_spec: TensorSpec, output_spec: TensorSpec) -> MlperfCodec:
        return cls(benchmark_of(input_spec, output_spec), input_spec, output_spec)

    @property
    def scores_itself(self) -> bool:
        """ad01's DUT prints the reconstruction error, not the output tensor."""
        return self.benchmark == "ad01"

    # --- input --------------------------------------------------------------

    def wire_input(self, raw: bytes) -> bytes:
        """The ``db`` bytes for the model's raw input bytes."""
        if self.benchmark in _PIXELS:       # the DUT subtracts 128 from uint8 pixels
            return bytes(b ^ 0x80 for b in raw)
        if self.benchmark == "ad01":        # float32 values, which the DUT quantises
            values = self.input_spec.dequantize(self.input_spec.from_bytes(raw))
            return np.ascontiguousarray(values, dtype="<f4").tobytes()
        return bytes(raw)

    def model_input(self, wire: bytes) -> bytes:
        """The raw input a DUT makes of ``db`` bytes (what the emulated DUT runs)."""
        if self.benchmark in _PIXELS:
            return bytes(b ^ 0x80 for b in wire)
        if self.benchmark == "ad01":
            values = np.frombuffer(wire, dtype="<f4")
            return self.input_spec.quantize(values).tobytes()
        return bytes(wire)

    def wire_bytes(self) -> int:
        """How many ``db`` bytes one input takes."""
        return self.input_spec.nbytes * (4 if self.benchmark == "ad01" else 1)

    # --- results ------------------------------------------------------------

    def result_values(self, wire_input: bytes, raw_output: bytes) -> list[float]:
        """What a DUT prints for these ``db`` bytes and this raw output: the dequantised
        output, in float32 as MLPerf's reference computes it, or ad01's mean squared
        error against the float input (summed in element order in single precision,
        as its reference does)."""
        out = self.output_spec.dequantize(self.output_spec.from_bytes(raw_output)).reshape(-1)
        if not self.scores_itself:
            return [float(v) for v in out]
        real_in = np.frombuffer(wire_input, dtype="<f4")
        diff = (out - real_in).astype(np.float32)
        total = np.cumsum(diff * diff, dtype=np.float32)[-1]     # sequential, as in C
        return [float(np.float32(total) / np.float32(len(diff)))]

    def expected_text(self, raw_input: bytes, raw_output: bytes) -> tuple[str, ...]:
        """The ``m-results`` values a DUT that agrees with ``raw_output`` prints."""
        values = self.result_values(self.wire_input(raw_input), raw_output)
        return tuple(format_value(v) for v in values)

    def read_results(self, inner: str) -> Results:
        """The values between the brackets of ``m-results-[…]``; ProtocolError if they
        are not numbers or not as many as the model gives."""
        text = tuple(v.strip() for v in inner.split(",") if v.strip())
        bad = [v for v in text if not _FLOAT.match(v)]
        if bad:
            raise ProtocolError(f"m-results holds {bad[0]!r}, not a number")
        values = [float(v) for v in text]
        expected = 1 if self.scores_itself else int(np.prod(self.output_spec.shape))
        if len(values) != expected:
            raise ProtocolError(f"m-results holds {len(values)} values; model "
                                f"{self.benchmark} gives {expected}")
        if self.scores_itself:
            return Results(text, None, values[0])
        return Results(text, self._requantise(values), None)

    def agrees(self, got: tuple[str, ...], expected: tuple[str, ...]) -> bool:
        """Printed values equal to the expected ones within one printed digit: float32
        arithmetic on either side may turn the last one over."""
        if len(got) != len(expected):
            return False
        return all(math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=PRINT_STEP * 1.01)
                   for a, b in zip(got, expected, strict=True))

    def _requantise(self, values: list[float]) -> bytes:
        """Raw output bytes from printed floats: exact when the output's scale is more
        than the printing step (a printed value is then within half a step of the true
        one, less than half of the scale; softmax outputs have 1/256), else the raw
        value nearest to the printed one."""
        spec = self.output_spec
        return spec.quantize(np.asarray(values, dtype=np.float64)).tobytes()
