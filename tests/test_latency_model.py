"""The latency model against published figures, and its behaviour without any model file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.boards.latency_model import (
    JITTER_REL_SIGMA,
    MLPERF_TINY_V05_L4R5ZI,
    PROFILES,
    estimate,
    jittered_cycles,
)
from harness.config.board import boards_dir, load_board
from harness.errors import BoardError
from harness.models.tflite_inspect import ModelInfo, OpInfo, inspect_tflite
from harness.tensors import TensorSpec

L4R5ZI = ("cortex-m4f", "cmsis-nn", 120_000_000)
# MLPerf Tiny v0.5, closed/reference/results/Nucleo-L4R5ZI/*/performance/results.txt:
# median throughput in inferences per second.
PUBLISHED_THROUGHPUT = {"ic": 1.420, "kws": 5.497, "ad": 99.487, "vww": 1.665}


def _model(ops: list[tuple[str, int, int]], dtype: str = "int8") -> ModelInfo:
    """A ModelInfo from (op name, MACs, output elements), as inspect_tflite would give it."""
    infos = tuple(OpInfo(index=i, name=name, macs=macs, output_elements=elems,
                         output_shape=(1, elems), dtype=dtype)
                  for i, (name, macs, elems) in enumerate(ops))
    spec = TensorSpec(dtype, (1, 1))
    return ModelInfo(path=Path("synthetic.tflite"), sha256="0" * 64, file_bytes=0, ops=infos,
                     op_names=tuple(sorted({o.name for o in infos})),
                     total_macs=sum(o.macs for o in infos), params=0, nonzero_params=0,
                     inputs=(spec,), outputs=(spec,), description="", subgraphs=1)


def _mobilenet_v1_025_96(in_channels: int) -> ModelInfo:
    """MobileNetV1 alpha 0.25 at 96x96 (MLPerf VWW: RGB; TFLM person detection: grayscale)."""
    ops = [("CONV_2D", 48 * 48 * 8 * 3 * 3 * in_channels, 48 * 48 * 8)]
    blocks = [(48, 1, 8, 16), (48, 2, 16, 32), (24, 1, 32, 32), (24, 2, 32, 64),
              (12, 1, 64, 64), (12, 2, 64, 128), *[(6, 1, 128, 128)] * 5,
              (6, 2, 128, 256), (3, 1, 256, 256)]
    for size, stride, c_in, c_out in blocks:
        out = size // stride
        ops += [("DEPTHWISE_CONV_2D", out * out * c_in * 9, out * out * c_in),
                ("CONV_2D", out * out * c_out * c_in, out * out * c_out)]
    ops += [("AVERAGE_POOL_2D", 0, 256), ("FULLY_CONNECTED", 256 * 2, 2), ("RESHAPE", 0, 2),
            ("SOFTMAX", 0, 2)]
    return _model(ops)


def test_published_table_matches_the_results_files() -> None:
    for key, throughput in PUBLISHED_THROUGHPUT.items():
        assert MLPERF_TINY_V05_L4R5ZI[key].latency_s == pytest.approx(1 / throughput)


@pytest.mark.parametrize("key", ["ic", "kws", "ad"])
def test_l4r5zi_reproduces_mlperf_tiny_v05_latency(mlperf_dir: Path, key: str) -> None:
    info = inspect_tflite(mlperf_dir / MLPERF_TINY_V05_L4R5ZI[key].model_file)
    predicted = estimate(info, *L4R5ZI).seconds
    assert predicted == pytest.approx(1 / PUBLISHED_THROUGHPUT[key], rel=0.25)


def test_held_out_vww_is_within_25_percent() -> None:
    """VWW took no part in the fit: MobileNetV1 0.25, 7.49 M MACs, mostly depthwise-separable."""
    vww = _mobilenet_v1_025_96(in_channels=3)
    assert vww.total_macs == pytest.approx(7.49e6, rel=0.01)
    assert estimate(vww, *L4R5ZI).seconds == pytest.approx(1 / PUBLISHED_THROUGHPUT["vww"],
                                                           rel=0.25)


@pytest.mark.parametrize("kernels, published_s", [("esp-nn", 0.380), ("reference", 4.084)])
def test_esp32_reproduces_espressifs_person_detection(kernels: str, published_s: float) -> None:
    person = _mobilenet_v1_025_96(in_channels=1)
    assert estimate(person, "xtensa-lx6", kernels, 240_000_000).seconds == pytest.approx(
        published_s, rel=0.05)


def test_cycles_grow_with_macs_and_the_sum_is_the_total() -> None:
    previous = 0
    for macs in (0, 1_000, 100_000, 10_000_000):
        est = estimate(_model([("CONV_2D", macs, 1000), ("SOFTMAX", 0, 10)]), *L4R5ZI)
        assert est.total_cycles > previous
        assert sum(est.cycles_per_op) == est.total_cycles and len(est.cycles_per_op) == 2
        previous = est.total_cycles


def test_clock_scales_seconds_not_cycles() -> None:
    model = _mobilenet_v1_025_96(3)
    slow = estimate(model, "cortex-m4f", "cmsis-nn", 64_000_000)
    fast = estimate(model, "cortex-m4f", "cmsis-nn", 128_000_000)
    assert slow.total_cycles == fast.total_cycles
    assert slow.seconds == pytest.approx(2 * fast.seconds)
    assert fast.seconds == pytest.approx(fast.total_cycles / 128e6)


def test_optimised_kernels_and_faster_cores_need_fewer_cycles() -> None:
    model = _mobilenet_v1_025_96(3)
    cycles = {pair: estimate(model, *pair, 100_000_000).total_cycles for pair in PROFILES}
    for core in {c for c, _ in PROFILES}:
        optimised = [k for c, k in PROFILES if c == core and k != "reference"]
        assert all(cycles[core, k] < cycles[core, "reference"] for k in optimised)
    assert (cycles["cortex-m7", "cmsis-nn"] < cycles["cortex-m33", "cmsis-nn"]
            < cycles["cortex-m4f", "cmsis-nn"])


def test_float_ops_run_on_reference_kernels() -> None:
    ops = [("CONV_2D", 1_000_000, 4096)]
    as_float = estimate(_model(ops, "float32"), *L4R5ZI).total_cycles
    assert as_float == estimate(_model(ops), "cortex-m4f", "reference", 1).total_cycles
    assert as_float > estimate(_model(ops), *L4R5ZI).total_cycles


def test_every_board_definition_has_a_profile() -> None:
    for path in sorted(boards_dir().glob("*.yaml")):
        board = load_board(path)
        est = estimate(_model([("FULLY_CONNECTED", 1000, 10)]), board.core, board.build.kernels,
                       board.clock_hz)
        assert est.seconds > 0, path


def test_unknown_pairs_and_bad_clocks_raise_board_error() -> None:
    model = _model([("ADD", 0, 10)])
    with pytest.raises(BoardError, match="known: cortex-m4f/cmsis-nn"):
        estimate(model, "cortex-m4f", "esp-nn", 1)
    with pytest.raises(BoardError, match="riscv"):
        estimate(model, "riscv", "reference", 1)
    with pytest.raises(BoardError, match="clock_hz"):
        estimate(model, "cortex-m7", "cmsis-nn", 0)


def test_jitter_is_small_centred_and_reproducible() -> None:
    total = 84_500_000
    cycles = jittered_cycles(total, 4000, np.random.default_rng(7))
    assert cycles.dtype == np.int64 and cycles.shape == (4000,)
    rel = cycles / total - 1
    assert abs(rel.mean()) < 4 * JITTER_REL_SIGMA / np.sqrt(len(rel))
    assert rel.std() == pytest.approx(JITTER_REL_SIGMA, rel=0.1)
    assert np.all(np.abs(rel) < 6 * JITTER_REL_SIGMA)
    np.testing.assert_array_equal(cycles, jittered_cycles(total, 4000, np.random.default_rng(7)))
    assert jittered_cycles(total, 0, np.random.default_rng(7)).shape == (0,)
    assert np.all(jittered_cycles(1, 100, np.random.default_rng(7)) >= 1)
