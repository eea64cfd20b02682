"""Outputs of the board under test: the TFLM host runtime's, byte for byte, for the
model it runs; CRC-32 and byte sum for the checksum runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.dut.device import ChecksumRunner
from harness.dut.messages import HelloInfo
from harness.dut.session import DutSession
from harness.models.tflm_host import TflmHostModel
from tests.hardware.suite import sample_inputs

pytestmark = pytest.mark.hardware


def test_outputs_equal_the_tflm_host_runtime(dut: DutSession, hello: HelloInfo,
                                             model: Path) -> None:
    """Integer kernels (reference, CMSIS-NN) are bit-exact in TFLM: any difference is a
    finding; float outputs may move in the last bits (fused multiply-add)."""
    host = TflmHostModel.load(model)
    assert (host.input_spec, host.output_spec) == (hello.inputs[0], hello.outputs[0])
    spec = hello.outputs[0]
    answers = set()
    for i, x in enumerate(sample_inputs(hello.inputs[0], 6, seed=3)):
        dut.upload(x.tobytes())
        got = spec.from_bytes(dut.infer(runs=1).output or b"")
        want = host.run(x)
        if spec.dtype.startswith("float"):
            np.testing.assert_allclose(got.ravel(), want.ravel(), rtol=1e-5, atol=1e-5,
                                       err_msg=f"input {i}")
        else:
            assert got.tobytes() == want.tobytes(), f"input {i}: board {got.ravel().tolist()}"\
                f", TFLM host runtime {want.ravel().tolist()}"
        answers.add(got.tobytes())
    assert len(answers) >= 3  # the inputs really lead to different answers


def test_checksum_runner_outputs(dut: DutSession, hello: HelloInfo, runs_a_model: bool) -> None:
    if runs_a_model:
        pytest.skip("the board runs a model: test_outputs_equal_the_tflm_host_runtime")
    size = hello.input_bytes
    random = sample_inputs(hello.inputs[0], 1, seed=4)[0].tobytes()
    for data in (bytes(size), b"\xff" * size, random):
        dut.upload(data)
        assert dut.infer(runs=1).output == ChecksumRunner.checksum(data)
