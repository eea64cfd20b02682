"""`harness run` on unkind simulated benches: faults survived, figures kept, nothing twice.

Real CLI, real simulated board processes behind the fault relay (real ptys), and the
simulated monitor misbehaving as instruments do.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import yaml
from click.testing import CliRunner
from tiny_tflite import dense_float_model

from harness.cli import main


def _bench(tmp_path: Path, **extra: object) -> Path:
    rng = np.random.default_rng(0)
    dense_float_model(tmp_path / "m.tflite", rng.normal(size=(4, 8)).astype("f4"),
                      rng.normal(size=4).astype("f4"))
    bench = {"name": "unkind",
             "boards": [{"id": "b1", "board": "esp32dev", "kind": "sim"}],
             "monitors": [{"id": "mon", "backend": "sim", "powers": "b1",
                           "sample_rate": 20000}],
             "models": [{"id": "m", "path": "m.tflite"}],
             "modes": {"performance": {"warmups": 1, "runs": 20},
                       "accuracy": {"samples": 20},
                       "energy": {"windows": 3, "inferences_per_window": 3, "idle_s": 0.05}},
             **extra}
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(bench, sort_keys=False))
    return path


def _run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "results.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_board_that_resets_on_open_and_on_command_still_gives_every_figure(tmp_path):
    bench = _bench(tmp_path, faults={"seed": 5, "reset_on_open": True,
                                     "reenumerate": {"min_s": 0.1, "max_s": 0.3},
                                     "hang_rate": 0.02, "reset_rate": 0.02})
    result = _run("run", str(bench), "--results-dir", str(tmp_path / "results"))
    assert result.exit_code == 0, result.output
    (run_dir,) = [p for p in (tmp_path / "results").iterdir() if p.is_dir()]
    rows = {r["metric"]: r for r in _rows(run_dir)}
    assert {"latency_median", "host_reference_mismatches", "energy_per_inference"} <= set(rows)
    assert rows["host_reference_mismatches"]["value"] == "0.0"
    disruptions = sum(float(rows[m]["value"]) for m in ("board_resets", "board_hangs"))
    assert disruptions >= 1        # the seed makes the board misbehave at least once
    noted = [r for r in rows.values() if "survived" in r["notes"]]
    assert noted, "figures measured across a reset must say so"


def test_energy_lost_every_time_keeps_the_other_figures_and_a_resume_adds_no_twins(tmp_path):
    bench = _bench(tmp_path)
    data = yaml.safe_load(bench.read_text())
    data["monitors"][0]["params"] = {"disconnect_after_s": 0.02}   # never a whole trace
    bench.write_text(yaml.safe_dump(data, sort_keys=False))
    results = tmp_path / "results"
    first = _run("run", str(bench), "--results-dir", str(results))
    assert first.exit_code != 0
    assert "no undisturbed energy measurement in 5 attempts" in first.output
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    metrics = Counter(r["metric"] for r in _rows(run_dir))
    assert metrics["latency_median"] == 1 and metrics["top1"] + metrics[
        "host_reference_mismatches"] >= 1
    assert "energy_per_inference" not in metrics
    outcomes = [json.loads(line) for line in (run_dir / "jobs.jsonl").read_text().splitlines()]
    assert outcomes[-1]["status"] == "partial"

    again = _run("run", str(bench), "--results-dir", str(results), "--resume", run_dir.name)
    assert again.exit_code != 0
    twice = Counter(r["metric"] for r in _rows(run_dir))
    assert twice == metrics        # measured again, the earlier partial rows replaced
