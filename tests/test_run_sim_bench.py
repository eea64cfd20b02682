"""`harness run` end to end on the simulated bench, through the real CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from numpy.lib.stride_tricks import sliding_window_view

from harness.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _bench(tmp_path: Path, **changes) -> Path:
    data = yaml.safe_load((EXAMPLES / "sim-bench.yaml").read_text())
    for model in data["models"]:  # as-is only here; variant runs: test_compress_digits.py
        model.pop("variants", None)
    data.update(changes)
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _run_dirs(results: Path) -> list[Path]:
    """Run folders only: the results folder also holds history.sqlite."""
    return [p for p in results.iterdir() if p.is_dir()]


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "results.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_full_run_on_the_simulated_bench_writes_results_and_report(tmp_path, mlperf_dir):
    bench = _bench(tmp_path, modes={"performance": {"warmups": 1, "runs": 10},
                                    "accuracy": {"samples": 30},
                                    "energy": {"windows": 3, "inferences_per_window": 3,
                                               "idle_s": 0.05}})
    result = _run("run", str(bench), "--results-dir", str(tmp_path / "results"),
                  "--mlperf-dir", str(mlperf_dir))
    assert result.exit_code == 0, result.output
    (run_dir,) = _run_dirs(tmp_path / "results")
    rows = _rows(run_dir)
    assert {r["source"] for r in rows} == {"simulated"}
    jobs = {(r["board"], r["model"]) for r in rows}
    assert jobs == {(b, m) for b in ("l4r5zi", "nano33ble")
                    for m in ("digits-cnn", "ic-resnet8", "kws-dscnn")}
    by = {(r["board"], r["model"], r["metric"]): r for r in rows}
    # digits: a real dataset, so a real accuracy, and the board agrees with the host runtime
    assert float(by["l4r5zi", "digits-cnn", "top1"]["value"]) > 80
    assert float(by["l4r5zi", "digits-cnn", "host_reference_mismatches"]["value"]) == 0
    # IC on the reference board: the latency model's figure, within the published ±25 %
    ic_ms = float(by["l4r5zi", "ic-resnet8", "latency_median"]["value"])
    assert 704.25 * 0.75 < ic_ms < 704.25 * 1.25
    # the slower clock of the Nano makes every model slower
    for model in ("digits-cnn", "ic-resnet8", "kws-dscnn"):
        assert (float(by["nano33ble", model, "latency_median"]["value"])
                > float(by["l4r5zi", model, "latency_median"]["value"]))
    energy = by["l4r5zi", "ic-resnet8", "energy_per_inference"]
    assert float(energy["ci_low"]) <= float(energy["value"]) <= float(energy["ci_high"])
    # energy ≈ active power × latency (what the simulated board drew), within a few %
    expected_uj = 0.0126 * 3.3 * ic_ms * 1e3
    assert float(energy["value"]) == pytest.approx(expected_uj, rel=0.05)
    assert "generated inputs" in by["l4r5zi", "ic-resnet8", "latency_median"]["notes"]
    report = (run_dir / "report.md").read_text()
    assert "**simulated**" in report and "ic-resnet8" in report
    assert len(list((run_dir / "traces").glob("*.npz"))) == 6
    assert str(run_dir / "report.md") in result.output


@pytest.mark.slow
def test_run_without_mlperf_models_skips_them_and_says_where_to_get_them(tmp_path):
    bench = _bench(tmp_path, boards=[{"id": "l4r5zi", "board": "nucleo_l4r5zi", "kind": "sim"}],
                   monitors=[], modes={"performance": {"warmups": 0, "runs": 3}})
    result = _run("run", str(bench), "--results-dir", str(tmp_path / "results"),
                  "--mlperf-dir", str(tmp_path / "nowhere"))
    assert result.exit_code == 0, result.output
    assert "github.com/mlcommons/tiny" in result.output
    (run_dir,) = _run_dirs(tmp_path / "results")
    assert {r["model"] for r in _rows(run_dir)} == {"digits-cnn"}
    assert "Skipped jobs" in (run_dir / "report.md").read_text()


@pytest.mark.slow
def test_resume_skips_finished_jobs(tmp_path):
    bench = _bench(tmp_path, boards=[{"id": "l4r5zi", "board": "nucleo_l4r5zi", "kind": "sim"}],
                   monitors=[], models=[{"id": "digits-cnn", "path": "builtin:digits",
                                         "dataset": "digits"}],
                   modes={"performance": {"warmups": 0, "runs": 3}})
    assert _run("run", str(bench), "--results-dir", str(tmp_path / "r")).exit_code == 0
    (run_dir,) = _run_dirs(tmp_path / "r")
    before = (run_dir / "results.csv").read_text()
    again = _run("run", str(bench), "--results-dir", str(tmp_path / "r"), "--resume",
                 run_dir.name)
    assert again.exit_code == 0
    assert (run_dir / "results.csv").read_text() == before
    outcomes = [json.loads(x) for x in (run_dir / "jobs.jsonl").read_text().splitlines()]
    assert [o["status"] for o in outcomes] == ["done"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"boards": [{"id": "x", "board": "nucleo_h7", "kind": "sim"}], "monitors": []},
         "unknown board"),
        ({"models": [{"id": "m", "path": "missing.tflite"}]}, "missing.tflite not found"),
        ({"modes": {"performance": {"runs": -1}}}, "modes.performance.runs"),
    ],
)
def test_bad_bench_exits_non_zero_and_writes_nothing(tmp_path, changes, expected):
    bench = _bench(tmp_path, **changes)
    result = _run("run", str(bench), "--results-dir", str(tmp_path / "results"))
    assert result.exit_code != 0
    assert expected in result.output
    assert not (tmp_path / "results").exists()


def test_check_validates_the_lab_bench_without_hardware(mlperf_dir):
    result = _run("check", str(EXAMPLES / "lab-bench.yaml"), "--mlperf-dir", str(mlperf_dir))
    assert result.exit_code == 0
    assert "3 boards, 2 monitors" in result.output


def _ad_dataset(mlperf_dir: Path, path: Path) -> None:
    """Real normal windows from the MLPerf Tiny AD sample; anomalies add a 15 dB tone band."""
    frames = np.frombuffer((mlperf_dir / "ad01_sample_normal_id01.bin").read_bytes(), "<f4")
    windows = sliding_window_view(frames.reshape(-1, 128), (5, 128))[:, 0].reshape(-1, 640)
    normal = windows[:160]
    tone = np.zeros(640, np.float32)
    for frame in range(5):
        tone[frame * 128 + 40: frame * 128 + 48] = 15.0
    np.savez(path, x=np.concatenate([normal, normal + tone]),
             y=np.repeat([0, 1], 160), groups=np.arange(320) // 10)  # files of 10 windows


@pytest.mark.slow
def test_anomaly_detection_is_scored_by_auc_per_file(tmp_path, mlperf_dir):
    _ad_dataset(mlperf_dir, tmp_path / "ad.npz")
    bench = _bench(tmp_path, boards=[{"id": "l4r5zi", "board": "nucleo_l4r5zi", "kind": "sim"}],
                   monitors=[], modes={"accuracy": {"samples": 80}},
                   models=[{"id": "ad", "path": "mlperf:ad01_int8.tflite",
                            "dataset": "npz:ad.npz", "task": "anomaly"}])
    result = _run("run", str(bench), "--results-dir", str(tmp_path / "results"),
                  "--mlperf-dir", str(mlperf_dir))
    assert result.exit_code == 0, result.output
    (run_dir,) = _run_dirs(tmp_path / "results")
    by = {r["metric"]: r for r in _rows(run_dir)}
    assert "top1" not in by
    assert float(by["auc"]["value"]) > 0.95
    assert by["auc"]["n"] == "80"  # 8 held-out files of 10 windows
    assert float(by["host_reference_mismatches"]["value"]) == 0
