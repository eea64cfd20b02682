"""`modes.profile` on the simulated board through `harness run`: the per-op table per job, its
overhead row, the split of the latency model; bench validation of the mode."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from tiny_tflite import small_int8_cnn

from harness.boards.latency_model import JITTER_REL_SIGMA, estimate
from harness.cli import main
from harness.config.bench import load_bench
from harness.config.board import find_board
from harness.errors import ConfigError
from harness.measure.profile import read_profiles
from harness.models.tflite_inspect import inspect_tflite


def _bench(tmp_path: Path, model: Path, **changes) -> Path:
    data = {"name": "prof", "boards": [{"id": "l4r5zi", "board": "nucleo_l4r5zi", "kind": "sim"}],
            "models": [{"id": "cnn", "path": str(model)}],
            "modes": {"profile": {"runs": 4}, "performance": {"runs": 5}}} | changes
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_a_profiled_job_leaves_its_per_op_table_and_overhead(tmp_path: Path) -> None:
    model = small_int8_cnn(tmp_path / "cnn.tflite")
    result = CliRunner().invoke(main, ["run", str(_bench(tmp_path, model)), "--results-dir",
                                       str(tmp_path / "results")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (run_dir,) = [p for p in (tmp_path / "results").iterdir() if p.is_dir()]
    (document,) = read_profiles(run_dir)
    info = inspect_tflite(model)
    assert [o["op"] for o in document["ops"]] == [o.name for o in info.ops]
    assert (document["source"], document["unit"], document["runs"]) == ("simulated", "cycles", 4)
    assert sum(o["share"] for o in document["ops"]) == pytest.approx(1.0)
    # the simulated board splits an inference as its latency model does, jitter apart
    board = find_board("nucleo_l4r5zi")
    modelled = estimate(info, board.core, board.build.kernels, board.clock_hz).cycles_per_op
    for op, cycles in zip(document["ops"], modelled, strict=True):
        assert op["cycles"] == pytest.approx(cycles, rel=10 * JITTER_REL_SIGMA)
    with (run_dir / "profiles" / "l4r5zi__cnn__as-is.csv").open() as fh:
        table = list(csv.DictReader(fh))
    assert [r["op"] for r in table] == ["CONV_2D", "FULLY_CONNECTED"]
    assert list(table[0]) == ["index", "op", "macs", "cycles", "share_pct"]
    with (run_dir / "results.csv").open() as fh:
        rows = {r["metric"]: r for r in csv.DictReader(fh) if r["mode"] == "profile"}
    assert set(rows) == {"profile_overhead", "profiled_cycles", "costliest_op_share"}
    overhead = rows["profile_overhead"]
    assert abs(float(overhead["value"])) < 1.0 and "no profiling overhead is modelled" in \
        overhead["notes"]
    report = (run_dir / "report.md").read_text()
    assert "## Per-layer profiles" in report and "l4r5zi/cnn/as-is: " in report
    assert "the 2 costliest of 2 ops (simulated)" in report
    html = (run_dir / "report.html").read_text()
    assert 'id="profiles"' in html and "Costliest ops per job" in html


def test_profile_alone_is_a_bench_and_mlperf_protocol_cannot_profile(tmp_path: Path) -> None:
    model = small_int8_cnn(tmp_path / "cnn.tflite")
    bench = load_bench(_bench(tmp_path, model, modes={"profile": {}}))
    assert bench.spec.modes.profile is not None and bench.spec.modes.profile.runs == 3
    mlperf = _bench(tmp_path, model, boards=[{"id": "b", "board": "nucleo_l4r5zi", "kind": "sim",
                                              "protocol": "mlperf"}])
    with pytest.raises(ConfigError, match=r"boards\[0\].protocol.*modes.profile"):
        load_bench(mlperf)
