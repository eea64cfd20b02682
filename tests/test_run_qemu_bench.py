"""`harness run examples/qemu-bench.yaml`: TFLM in QEMU's Cortex-M4F, through the real CLI.

Needs TFLM_DIR (a tflite-micro checkout with its third-party downloads),
qemu-system-arm and the Arm cross-compiler with libstdc++; skipped otherwise.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.models.datasets import load_dataset
from harness.models.digits_model import build_digits_models
from harness.models.tflm_host import TflmHostModel
from harness.paths import default_cache_dir
from tests.skips import TFLM_IN_QEMU

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CLOCK_HZ = 25e6  # boards/qemu_mps2_an386.yaml; HELLO reports the same

pytestmark = TFLM_IN_QEMU


def _host_top1(n: int) -> float:
    """Top-1 (%) of the TFLM host runtime on the first ``n`` held-out digits, as the run scores."""
    host = TflmHostModel.load(build_digits_models(default_cache_dir()).int8)
    data = load_dataset("digits", input_spec=host.input_spec,
                        task="classification").held_out()
    predicted = [int(np.argmax(host.run(data.to_model_input(i, host.input_spec))))
                 for i in range(n)]
    return float(np.mean(np.asarray(predicted) == np.asarray(data.y[:n]))) * 100


@pytest.mark.slow
def test_qemu_bench_runs_tflm_in_the_emulator_and_labels_it_emulated(tmp_path, mlperf_dir):
    result = CliRunner().invoke(main, ["run", str(EXAMPLES / "qemu-bench.yaml"),
                                       "--results-dir", str(tmp_path / "results"),
                                       "--mlperf-dir", str(mlperf_dir)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (run_dir,) = [p for p in (tmp_path / "results").iterdir() if p.is_dir()]  # + history
    with (run_dir / "results.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["source"] for r in rows} == {"emulated"}
    assert {r["model"] for r in rows} == {"digits-cnn", "kws-dscnn"}
    by = {(r["model"], r["metric"]): r for r in rows}

    # the emulated board computes exactly what the host runtime computes
    top1 = by["digits-cnn", "top1"]
    assert float(top1["value"]) == pytest.approx(_host_top1(int(top1["n"])), abs=1e-9)
    assert float(top1["value"]) > 80
    for model in ("digits-cnn", "kws-dscnn"):
        assert float(by[model, "host_reference_mismatches"]["value"]) == 0

    # performance: instruction counts, and a latency that states its CPI assumption
    for model in ("digits-cnn", "kws-dscnn"):
        counted = by[model, "instructions_mean"]
        assert counted["unit"] == "instructions" and counted["n"] == "20"
        assert "systick-icount" in counted["notes"]
        latency = by[model, "latency_median"]
        assert latency["unit"] == "ms"
        assert "1 instruction per cycle" in latency["notes"]
        # deterministic: the median run is the mean run, to SysTick's 40 instructions
        assert float(latency["value"]) == pytest.approx(
            float(counted["value"]) / CLOCK_HZ * 1e3, abs=2 * 40 / CLOCK_HZ * 1e3)
        assert (model, "latency_p90") in by
        # the image QEMU ran: the model plus TFLM and the core, the arena in RAM
        flash = float(by[model, "firmware_flash_bytes"]["value"])
        assert flash > float(by[model, "model_bytes"]["value"])
        assert float(by[model, "firmware_ram_bytes"]["value"]) > float(
            by[model, "arena_bytes"]["value"])
    assert (float(by["kws-dscnn", "instructions_mean"]["value"])
            > 10 * float(by["digits-cnn", "instructions_mean"]["value"]))
    assert "**emulated**" in (run_dir / "report.md").read_text()
