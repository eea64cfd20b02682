"""A realtime simulated board takes as long as the real one: the harness must wait for it.

The lab bench's performance settings (10 warm-ups + 100 runs) on a NUCLEO-L4R5ZI
that spends the published ~704 ms per MLPerf Tiny IC inference in wall time: the
run needs about 78 s of INFER, which no fixed timeout may cut short.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from harness.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
def test_lab_bench_performance_settings_complete_on_a_realtime_l4r5zi(tmp_path, mlperf_dir):
    lab = yaml.safe_load((EXAMPLES / "lab-bench.yaml").read_text())
    bench = {
        "name": "realtime-ic",
        "boards": [{"id": "l4r5zi", "board": "nucleo_l4r5zi", "kind": "sim",
                    "pace": "realtime"}],
        "models": [{"id": "ic-resnet8", "path": "mlperf:ic01_int8.tflite"}],
        "modes": {"performance": lab["modes"]["performance"]},
    }
    assert bench["modes"]["performance"] == {"warmups": 10, "runs": 100}
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(bench))
    started = time.monotonic()
    result = CliRunner().invoke(main, ["run", str(path), "--results-dir",
                                       str(tmp_path / "results"), "--mlperf-dir",
                                       str(mlperf_dir)], catch_exceptions=False)
    wall = time.monotonic() - started
    assert result.exit_code == 0, result.output
    (run_dir,) = [p for p in (tmp_path / "results").iterdir() if p.is_dir()]
    with (run_dir / "results.csv").open(newline="") as fh:
        rows = {r["metric"]: r for r in csv.DictReader(fh)}
    median = float(rows["latency_median"]["value"])
    assert rows["latency_median"]["n"] == "100"
    assert 690 < median < 720                         # the latency model's 704 ms
    assert wall > 110 * median / 1e3                  # the board really took its time
    assert rows["board_resets"]["value"] == "0.0"
