"""PROFILE on TFLM in QEMU through `harness run`: every op of MLPerf Tiny's KWS timed in
instructions by the firmware's profiling trampolines, with the profile's own cost measured.

Needs TFLM_DIR (a tflite-micro checkout), qemu-system-arm and the Arm cross-compiler with
libstdc++; skipped otherwise.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import harness.boards.qemu_driver as qemu_driver
from harness.boards.calibration import find_calibration
from harness.cli import main
from harness.config.board import find_board
from harness.dut.session import DutSession
from harness.dut.transport import open_link
from harness.estimate import board_latency
from harness.firmware.qemu_tflm import build_qemu_tflm_image
from harness.measure.profile import read_profiles
from harness.models.tflite_inspect import inspect_tflite
from tests.skips import TFLM_IN_QEMU

pytestmark = TFLM_IN_QEMU
TICK = 40   # instructions per SysTick tick under -icount shift=0: the counter's resolution


def test_kws_is_profiled_op_by_op_in_qemu(tmp_path: Path, mlperf_dir: Path) -> None:
    bench = tmp_path / "bench.yaml"
    bench.write_text(yaml.safe_dump({
        "name": "qemu-profile", "boards": [{"id": "qemu", "board": "qemu_mps2_an386"}],
        "models": [{"id": "kws", "path": "mlperf:kws01_int8.tflite"}],
        "modes": {"profile": {"runs": 2, "warmups": 0}}}))
    result = CliRunner().invoke(main, ["run", str(bench), "--results-dir",
                                       str(tmp_path / "results"), "--mlperf-dir",
                                       str(mlperf_dir)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (run_dir,) = [p for p in (tmp_path / "results").iterdir() if p.is_dir()]
    (profile,) = read_profiles(run_dir)
    info = inspect_tflite(mlperf_dir / "kws01_int8.tflite")
    ops = profile["ops"]
    assert [o["op"] for o in ops] == [o.name for o in info.ops]
    assert (profile["source"], profile["unit"], profile["counter"]) == \
        ("emulated", "instructions", "systick-icount")
    # the four depthwise and the four pointwise layers have one shape each: equal counts
    for kind, first in (("DEPTHWISE_CONV_2D", 1), ("CONV_2D", 2)):
        same = [o["cycles"] for o in ops[first:9:2]]
        assert {o["op"] for o in ops[first:9:2]} == {kind}
        assert max(same) - min(same) <= TICK, same
    # the ops account for the inference; timing them costs a little on top, never less
    unprofiled, profiled = profile["unprofiled_per_inference"], profile["profiled_per_inference"]
    assert abs(profile["ops_per_inference"] - unprofiled) < 0.001 * unprofiled
    assert 0 < profile["overhead_per_inference"] == profiled - unprofiled < 0.001 * unprofiled
    with (run_dir / "results.csv").open(newline="") as fh:
        rows = {r["metric"]: r for r in csv.DictReader(fh) if r["mode"] == "profile"}
    assert rows["profiled_instructions"]["unit"] == "instructions"
    assert 0 < float(rows["profile_overhead"]["value"]) < 0.1


VWW_IN_TINY = Path("benchmark/training/visual_wake_words/trained_models/vww_96_int8.tflite")


@pytest.mark.slow
def test_the_committed_calibration_predicts_vww_which_it_has_not_seen(tmp_path: Path) -> None:
    """boards/calibrations/qemu_mps2_an386.cmsis-nn.json was fitted to IC, KWS and AD only;
    VWW's emulated instructions per inference are within ±10 % of its prediction."""
    vww = Path(os.environ.get("MLPERF_TINY_DIR", "")) / VWW_IN_TINY
    if not vww.is_file():
        pytest.skip(f"MLPERF_TINY_DIR does not hold {VWW_IN_TINY} (an mlcommons/tiny checkout)")
    board = find_board("qemu_mps2_an386")
    calibration = find_calibration(board.id, "cmsis-nn")
    assert calibration is not None
    assert {m.model.split("/")[0] for m in calibration.models} == {"ic01", "kws01", "ad01"}
    predicted = board_latency(inspect_tflite(vww), board, "cmsis-nn", calibration)
    image = build_qemu_tflm_image(vww, "cmsis_nn")
    driver = qemu_driver.QemuDriver(board, tmp_path, runner="tflm")
    url = driver.launch(image.image.elf)
    try:
        with DutSession(open_link(url, board.serial.baudrate)) as session:
            assert session.wait_ready(10.0)
            session.upload(bytes(session.hello().input_bytes))
            measured = session.infer(0, 2).cycles
    finally:
        driver.stop()
    assert measured is not None
    error = predicted.estimate.total_cycles / measured[-1] - 1
    assert abs(error) < 0.10, f"VWW predicted {predicted.estimate.total_cycles:,}, measured " \
                              f"{measured[-1]:,} ({error:+.1%})"
