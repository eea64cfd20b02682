"""PROFILE on TFLM in QEMU through `harness run`: every op of MLPerf Tiny's KWS timed in
instructions by the firmware's profiling trampolines, with the profile's own cost measured.

Needs TFLM_DIR (a tflite-micro checkout), qemu-system-arm and the Arm cross-compiler with
libstdc++; skipped otherwise.
"""

from __future__ import annotations

import csv
from pathlib import Path

import yaml
from click.testing import CliRunner

from harness.cli import main
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
