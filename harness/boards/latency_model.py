"""Per-board latency model: cycles per inference from a model's ops, for a core and kernel library.

cycles = scale(core, kernels) x sum over ops of (per_MAC[kind] x MACs + per_element[kind] x
output elements) + ops x overhead(core). The per-op costs are those of the calibration stack
(Cortex-M4F + CMSIS-NN in TFLM 2.3.1, fitted to MLPerf Tiny v0.5's reference results on the
NUCLEO-L4R5ZI); every other core/kernel pair is that stack times one scale factor. Float
ops run on TFLM's reference kernels whatever the library (CMSIS-NN and ESP-NN are integer
only). docs/boards.md mirrors these tables, with the source of each figure.

The simulated board reports these cycles; ``harness estimate`` and ``harness run --dry-run``
predict with them. A board with a calibration (``boards/calibrations/``, fitted by ``harness
calibrate`` from its own per-layer profiles; calibration.py) is costed with that instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.boards.calibration import Calibration, OpSample, PriorCost
from harness.errors import BoardError
from harness.models.tflite_inspect import ModelInfo

# Calibration stack, cycles per MAC. Fitted (least squares, exact with three points) to
# the IC, KWS and AD results below with the element and overhead costs held fixed.
PER_MAC: dict[str, float] = {
    "CONV_2D": 6.64,
    "TRANSPOSE_CONV": 6.64,        # assumed like CONV_2D (no calibration point)
    "DEPTHWISE_CONV_2D": 18.6,
    "FULLY_CONNECTED": 4.46,
}
# Calibration stack, cycles per output element (estimates: requantisation for MAC ops,
# rescale-add-requantise for element-wise ops, a window per pooled output, exp per softmax).
PER_ELEMENT: dict[str, float] = {
    "CONV_2D": 10, "TRANSPOSE_CONV": 10, "DEPTHWISE_CONV_2D": 10, "FULLY_CONNECTED": 10,
    "ADD": 20, "SUB": 20, "MUL": 20, "SQUARED_DIFFERENCE": 20,
    "AVERAGE_POOL_2D": 30, "MAX_POOL_2D": 30,
    "SOFTMAX": 150, "LOGISTIC": 50, "TANH": 50,
}
DEFAULT_PER_ELEMENT = 4.0  # data movement: RESHAPE, PAD, CONCATENATION, QUANTIZE, RELU, ...
# The ops DEFAULT_PER_ELEMENT stands for. Any other op has no cost here: it is costed
# like data movement too, and an estimate names it and says so.
DATA_MOVEMENT = frozenset({
    "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "PAD", "PADV2", "MIRROR_PAD", "CONCATENATION",
    "PACK", "UNPACK", "SPLIT", "SPLIT_V", "SLICE", "STRIDED_SLICE", "TRANSPOSE", "GATHER",
    "QUANTIZE", "DEQUANTIZE", "RELU", "RELU6", "RELU_N1_TO_1", "CAST", "SHAPE", "FILL",
    "ZEROS_LIKE"})


@dataclass(frozen=True)
class Profile:
    scale: float           # kernel work relative to the calibration stack
    op_overhead: int       # cycles per op: interpreter dispatch and kernel entry
    source: str


# (core, kernels) -> profile. See docs/boards.md for the sources; "estimate" means no
# measurement of that pair backs the figure.
PROFILES: dict[tuple[str, str], Profile] = {
    ("cortex-m4f", "cmsis-nn"): Profile(1.0, 1000, "fitted: MLPerf Tiny v0.5 L4R5ZI IC/KWS/AD"),
    ("cortex-m4f", "reference"): Profile(4.6, 1000, "estimate: CMSIS-NN paper's 4.6x"),
    ("cortex-m7", "cmsis-nn"): Profile(0.679, 680, "estimate: CoreMark/MHz 3.40 / 5.01"),
    ("cortex-m7", "reference"): Profile(3.12, 680, "estimate: M7 scale x 4.6"),
    ("cortex-m33", "cmsis-nn"): Profile(0.846, 850, "estimate: CoreMark/MHz 3.40 / 4.02"),
    ("cortex-m33", "reference"): Profile(3.89, 850, "estimate: M33 scale x 4.6"),
    ("xtensa-lx6", "esp-nn"): Profile(1.53, 1500, "fitted: Espressif person detection 380 ms"),
    ("xtensa-lx6", "reference"): Profile(16.5, 1500, "fitted: Espressif person detection 4084 ms"),
}
REFERENCE_KERNELS = "reference"
FLOAT_DTYPES = frozenset({"float32", "float16", "float64"})

# Relative standard deviation of one inference's cycle count from run to run.
JITTER_REL_SIGMA = 1e-3


@dataclass(frozen=True)
class PublishedResult:
    """One MLPerf Tiny v0.5 closed-division reference result (NUCLEO-L4R5ZI, 120 MHz)."""

    model_file: str
    latency_s: float
    energy_uj: float | None = None
    power_mw: float | None = None


# github.com/mlcommons/tiny_results_v0.5 closed/reference/results/Nucleo-L4R5ZI/<b>/
# {performance,energy}/results.txt (median throughput; median energy per inference).
MLPERF_TINY_V05_L4R5ZI: dict[str, PublishedResult] = {
    "ic": PublishedResult("ic01_int8.tflite", 1 / 1.420, 29_207.0, 41.475),
    "kws": PublishedResult("kws01_int8.tflite", 1 / 5.497, 7_373.7, 40.836),
    "ad": PublishedResult("ad01_int8.tflite", 1 / 99.487, 416.3, 40.095),
    "vww": PublishedResult("vww_96_int8.tflite", 1 / 1.665),
}
L4R5ZI_CLOCK_HZ = 120_000_000


@dataclass(frozen=True)
class LatencyEstimate:
    cycles_per_op: tuple[int, ...]
    total_cycles: int
    seconds: float
    assumed: tuple[str, ...] = ()   # op kinds costed without a constant for them, and how
    calibration: str | None = None  # the calibration used (None: the published constants)


def profile_for(core: str, kernels: str) -> Profile:
    try:
        return PROFILES[core, kernels]
    except KeyError:
        known = ", ".join(f"{c}/{k}" for c, k in PROFILES)
        raise BoardError(f"no latency profile for core {core!r} with kernels {kernels!r} "
                         f"(known: {known})") from None


def published_cost(core: str, kernels: str) -> PriorCost:
    """One op's cycles by the published constants, for ``core`` and ``kernels``."""
    optimized = profile_for(core, kernels)
    reference = profile_for(core, REFERENCE_KERNELS)

    def cost(op: OpSample) -> float:
        profile = reference if op.dtype in FLOAT_DTYPES else optimized
        work = (PER_MAC.get(op.op, 0.0) * op.macs
                + PER_ELEMENT.get(op.op, DEFAULT_PER_ELEMENT) * op.output_elements)
        return profile.scale * work + profile.op_overhead

    return cost


def unknown_ops(model: ModelInfo) -> dict[str, list[int]]:
    """Ops the published constants have no cost for: name -> op indexes."""
    known = PER_MAC.keys() | PER_ELEMENT.keys() | DATA_MOVEMENT
    found: dict[str, list[int]] = {}
    for op in model.ops:
        if op.name not in known:
            found.setdefault(op.name, []).append(op.index)
    return found


def estimate(model: ModelInfo, core: str, kernels: str, clock_hz: int,
             calibration: Calibration | None = None) -> LatencyEstimate:
    """Cycles per inference by the published constants, or by ``calibration``."""
    if clock_hz <= 0:
        raise BoardError(f"clock_hz must be positive, got {clock_hz}")
    prior = published_cost(core, kernels)
    unknown = unknown_ops(model)
    notes: dict[str, list[int]] = {}
    if calibration is None:
        per_op = [round(prior(OpSample.of(op))) for op in model.ops]
    else:
        per_op = []
        for op in model.ops:
            cost, how = calibration.op_cost(OpSample.of(op), prior)
            per_op.append(round(cost + calibration.between_ops))
            if how is not None:
                notes.setdefault(how, []).append(op.index)
    assumed = [f"{how} (ops {_indexes(ops)})" for how, ops in notes.items()]
    if calibration is None or any("published constant" in how for how in notes):
        assumed += [f"{name} (ops {_indexes(ops)}): no cost in the latency model; assumed "
                    f"{DEFAULT_PER_ELEMENT:g} cycles per output element, as data movement"
                    for name, ops in unknown.items()]
    total = sum(per_op)
    return LatencyEstimate(cycles_per_op=tuple(per_op), total_cycles=total,
                           seconds=total / clock_hz, assumed=tuple(assumed),
                           calibration=calibration.name if calibration else None)


def _indexes(ops: list[int]) -> str:
    return ", ".join(map(str, ops[:8])) + (f", … ({len(ops)} in all)" if len(ops) > 8 else "")


def jittered_cycles(total: int, runs: int, rng: np.random.Generator) -> np.ndarray:
    """``runs`` cycle counts around ``total``: Gaussian, relative sigma JITTER_REL_SIGMA."""
    if runs < 0:
        raise ValueError(f"runs must be >= 0, got {runs}")
    noisy = total * (1.0 + JITTER_REL_SIGMA * rng.standard_normal(runs))
    return np.maximum(np.rint(noisy), 1).astype(np.int64)
