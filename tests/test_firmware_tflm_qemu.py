"""The TFLM runner in QEMU, driven by the harness session, against the TFLM host runtime.

Needs TFLM_DIR (a tflite-micro checkout with its third-party downloads), the
Arm cross-compiler with libstdc++ and qemu-system-arm; skipped otherwise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from tiny_tflite import dense_float_model

import harness.boards.qemu_driver as qemu_driver
from harness.config.board import find_board
from harness.dut.messages import ErrorCode
from harness.dut.session import DutSession
from harness.dut.transport import open_link
from harness.errors import DeviceError
from harness.firmware.qemu_tflm import QemuTflmImage, build_qemu_tflm_image
from harness.models.tflite_inspect import inspect_tflite
from harness.models.tflm_host import TflmHostModel
from harness.tensors import TensorSpec
from tests.skips import TFLM_IN_QEMU

pytestmark = TFLM_IN_QEMU
INSTRUCTIONS_PER_TICK = 40


@contextmanager
def running(build: QemuTflmImage, workdir: Path) -> Iterator[DutSession]:
    """The image in QEMU through the qemu board driver, with a session open on its UART."""
    board = find_board("qemu_mps2_an386")
    driver = qemu_driver.QemuDriver(board, workdir, runner="tflm")
    url = driver.launch(build.image.elf)
    try:
        with DutSession(open_link(url, board.serial.baudrate)) as session:
            assert session.wait_ready(10.0)
            yield session
    finally:
        driver.stop()


def inputs_for(host: TflmHostModel, count: int, seed: int) -> list[np.ndarray]:
    """Inputs spread over the int8 range at several widths, so outputs differ."""
    spec, rng = host.input_spec, np.random.default_rng(seed)
    info = np.iinfo(spec.dtype)
    return [np.clip(rng.normal(spec.zero_point, width, spec.shape), info.min, info.max)
            .astype(spec.dtype) for width in np.linspace(8, 90, count)]


@pytest.fixture(scope="module", params=["kws01_int8", "ic01_int8"])
def deployed(request: pytest.FixtureRequest, mlperf_dir: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[QemuTflmImage,
                                                                          DutSession]]:
    build = build_qemu_tflm_image(mlperf_dir / f"{request.param}.tflite")
    with running(build, tmp_path_factory.mktemp("qemu")) as session:
        yield build, session


def test_hello_reports_the_embedded_model(deployed: tuple[QemuTflmImage, DutSession]) -> None:
    build, session = deployed
    info = session.hello()
    model = inspect_tflite(build.model.model)
    assert info.model_hash == hashlib.sha256(build.model.model.read_bytes()).digest()
    assert info.inputs == model.inputs and info.outputs == model.outputs
    # TFLM's own figure on the 32-bit target: below the harness's arena, which has a margin
    assert 0 < info.arena_used <= build.model.arena_bytes
    assert info.arena_used < TflmHostModel.load(build.model.model).arena_used_bytes * 1.05
    assert (info.board_id, info.counter) == ("qemu_mps2_an386", "systick-icount")


def test_outputs_are_identical_to_the_tflm_host_runtime(
        deployed: tuple[QemuTflmImage, DutSession]) -> None:
    build, session = deployed
    host = TflmHostModel.load(build.model.model)
    outputs = []
    for x in inputs_for(host, 6, seed=3):
        session.upload(x.tobytes())
        result = session.infer(warmups=1, runs=2, per_run=True)
        assert result.output == host.run(x).tobytes()
        outputs.append(result.output)
    assert len(set(outputs)) >= 3  # the inputs really lead to different answers


def test_instruction_counts_are_deterministic(deployed: tuple[QemuTflmImage, DutSession]) -> None:
    build, session = deployed
    host = TflmHostModel.load(build.model.model)
    session.upload(inputs_for(host, 1, seed=4)[0].tobytes())
    cycles = session.infer(warmups=1, runs=4, per_run=True).cycles or ()
    assert len(cycles) == 4 and all(c % INSTRUCTIONS_PER_TICK == 0 for c in cycles)
    # the same input takes the same path: equal up to the tick boundaries
    assert max(cycles) - min(cycles) <= 2 * INSTRUCTIONS_PER_TICK
    assert cycles[0] > build.model.model_bytes  # millions, not a stub's thousands


def test_float_model_describes_float32_and_matches_the_host(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    model = dense_float_model(tmp_path / "dense.tflite", rng.normal(size=(4, 6)).astype("f4"),
                              rng.normal(size=4).astype("f4"))
    build = build_qemu_tflm_image(model)
    host = TflmHostModel.load(model)
    with running(build, tmp_path) as session:
        info = session.hello()
        assert info.inputs == (TensorSpec("float32", (1, 6)),) == (host.input_spec,)
        x = rng.normal(size=(1, 6)).astype("f4")
        session.upload(x.tobytes())
        got = np.frombuffer(session.infer(runs=1).output or b"", "<f4")
        # float, so FMA contraction may move the last bit on the Cortex-M4F
        np.testing.assert_allclose(got, host.run(x).ravel(), rtol=1e-6, atol=1e-6)


def test_an_arena_too_small_fails_every_infer_with_the_reason(mlperf_dir: Path,
                                                             tmp_path: Path) -> None:
    build = build_qemu_tflm_image(mlperf_dir / "kws01_int8.tflite", arena_bytes=1024)
    with running(build, tmp_path) as session:
        info = session.hello()
        assert (info.inputs, info.outputs, info.arena_used) == ((), (), 0)
        assert info.model_hash == hashlib.sha256(build.model.model.read_bytes()).digest()
        session.upload(b"")
        with pytest.raises(DeviceError, match="AllocateTensors failed") as failed:
            session.infer(runs=1)
        assert failed.value.code == ErrorCode.INFER_FAILED


@pytest.mark.slow
@pytest.mark.parametrize("name", ["kws01_int8", "ic01_int8"])
def test_reference_kernels_give_the_same_outputs_with_more_instructions(
        name: str, mlperf_dir: Path, tmp_path: Path) -> None:
    """TFLM's reference kernels (a second library: ~10 min to build the first time)."""
    model = mlperf_dir / f"{name}.tflite"
    host = TflmHostModel.load(model)
    x = inputs_for(host, 1, seed=5)[0]
    counts = {}
    for kernels in ("reference", "cmsis_nn"):
        build = build_qemu_tflm_image(model, kernels=kernels)
        with running(build, tmp_path / kernels) as session:
            session.upload(x.tobytes())
            result = session.infer(runs=1)
            assert result.output == host.run(x).tobytes()
            counts[kernels] = result.total_cycles
    assert counts["reference"] > 2 * counts["cmsis_nn"]
