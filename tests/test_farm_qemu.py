"""The emulated board in a labgrid farm: QEMU's UART on a pty, exported through ser2net by a
real labgrid exporter, reached over RFC 2217, power-cycled through the place's switch
(QMP reset). With TFLM, a whole `harness run` job on the place (issue 11, item 4)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from tiny_tflite import dense_float_model

from harness.boards.driver import LinkHint
from harness.config.bench import load_bench
from harness.config.board import find_board
from harness.dut.device import ChecksumRunner
from harness.dut.session import DutSession
from harness.dut.transport import open_link
from harness.farm.coordinator import FarmClient
from harness.farm.loopback import LoopbackBoard, LoopbackFarm
from harness.farm.place_driver import PlaceAccess, PlaceDriver
from harness.run_bench import RunOptions, run_bench
from tests.skips import TFLM_IN_QEMU

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
                       reason="the emulated board needs qemu-system-arm and arm-none-eabi-gcc "
                              "(apt-get install qemu-system-arm gcc-arm-none-eabi "
                              "libnewlib-arm-none-eabi; make setup does)"),
    pytest.mark.skipif(shutil.which("ser2net") is None and not Path("/usr/sbin/ser2net").exists(),
                       reason="needs ser2net (apt-get install ser2net; make setup does)"),
    pytest.mark.skipif(shutil.which("labgrid-coordinator",
                                    path=str(Path(sys.executable).parent)) is None,
                       reason="needs labgrid (pip install 'tinyml-harness[farm]')"),
]
QEMU_BOARD = "qemu_mps2_an386"


def test_a_qemu_board_in_a_place_is_driven_and_power_cycled(tmp_path):
    lab = LoopbackFarm(tmp_path / "lab", [LoopbackBoard(
        "q1", QEMU_BOARD, "exQ", tmp_path / "no-model.tflite", kind="qemu",
        runner="checksum")]).start()
    client = None
    try:
        client = FarmClient(lab.address)
        place = client.wait_and_acquire("q1", 10.0)
        assert place is not None
        access = PlaceAccess.of(client, place)
        assert access.url.startswith("rfc2217://127.0.0.1:")
        board = find_board(QEMU_BOARD)
        driver = PlaceDriver(board, tmp_path / "work", LinkHint(), access)
        assert driver.source == "emulated"
        with DutSession(open_link(access.url, board.serial.baudrate)) as dut:
            info = dut.hello()                 # its boot READY was lost: it answers anyway
            assert info.counter == "systick-icount"
            data = bytes(i % 251 for i in range(info.inputs[0].nbytes))
            dut.upload(data)
            assert dut.infer(runs=1).output == ChecksumRunner.checksum(data)
            lab.switched.clear()
            driver.reset()                     # through the place's power switch: QMP reset
            assert lab.switched == [("q1", False), ("q1", True)]
            assert dut.wait_ready(10.0)        # the rebooted firmware's READY, over RFC 2217
            dut.upload(data)
            assert dut.infer(runs=1).output == ChecksumRunner.checksum(data)
    finally:
        if client is not None:
            client.close()
        lab.close()


@TFLM_IN_QEMU[0]
@TFLM_IN_QEMU[1]
def test_a_job_on_a_qemu_place_measures_the_model(tmp_path):
    rng = np.random.default_rng(0)
    model = dense_float_model(tmp_path / "m0.tflite", rng.normal(size=(4, 8)).astype("f4"),
                              rng.normal(size=4).astype("f4"))
    lab = LoopbackFarm(tmp_path / "lab", [LoopbackBoard("q1", QEMU_BOARD, "exQ", model,
                                                        kind="qemu")]).start()
    try:
        bench = {"name": "qemu-farm", "coordinator": lab.address,
                 "boards": [{"id": "an386", "board": QEMU_BOARD, "firmware": "preflashed",
                             "place": "q1"}],
                 "models": [{"id": "m0", "path": "m0.tflite"}],
                 "modes": {"performance": {"warmups": 1, "runs": 10},
                           "accuracy": {"samples": 10}}}
        path = tmp_path / "bench.yaml"
        path.write_text(yaml.safe_dump(bench))
        summary = run_bench(load_bench(path), RunOptions(
            results_dir=tmp_path / "results", mlperf_dir=tmp_path, cache_dir=tmp_path / "c"))
        assert summary.completed == ["an386/m0/as-is"], summary.failed
        rows = (summary.run_dir / "results.csv").read_text()
        assert ",emulated," in rows
    finally:
        lab.close()
