"""`harness run` SIGKILLed mid-run leaves no process behind; `--resume` completes the run
with every job's rows exactly once. The same for SIGTERM sent to its whole process group,
as a CI cancelling a job does (the harness then exits 143 itself). The real CLI, real
simulated boards, real signals."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from tiny_tflite import dense_float_model

from harness.procs import GRACE_S
from tests.process_tree import new_tag, tagged, wait_until_gone

HARNESS = [str(Path(sys.executable).parent / "harness")]
MODELS = ("m0", "m1", "m2")


def _bench(tmp_path: Path) -> Path:
    for i, name in enumerate(MODELS):
        rng = np.random.default_rng(i)
        dense_float_model(tmp_path / f"{name}.tflite", rng.normal(size=(4, 8)).astype("f4"),
                          rng.normal(size=4).astype("f4"))
    bench = {"name": "kill-resume",
             "boards": [{"id": "b1", "board": "nucleo_l4r5zi", "kind": "sim"}],
             "models": [{"id": m, "path": f"{m}.tflite"} for m in MODELS],
             "variants": ["as-is"],
             "modes": {"performance": {"warmups": 1, "runs": 20}, "accuracy": {"samples": 40}}}
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(bench, sort_keys=False))
    return path


def _done(run_dir: Path) -> list[str]:
    log = run_dir / "jobs.jsonl"
    if not log.exists():
        return []
    return [json.loads(line)["job"] for line in log.read_text().splitlines()
            if line.endswith("}") and '"done"' in line]


def _kill_during_second_job(harness: subprocess.Popen, results: Path, env: dict[str, str],
                            kill=lambda pid: os.kill(pid, signal.SIGKILL),
                            ) -> tuple[Path, dict[int, str]]:
    """Wait until job 1 is in results.csv and job 2's board is up, then ``kill`` it."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and harness.poll() is None:
        runs = [p for p in results.glob("*") if p.is_dir()]
        procs = tagged(env)
        boards = [c for c in procs.values() if c.startswith(sys.executable)
                  and "harness.boards.sim_board" in c and "procs.py" not in c]
        if runs and len(_done(runs[0])) == 1 and boards:
            kill(harness.pid)
            harness.wait(60)
            return runs[0], procs
        time.sleep(0.05)
    harness.kill()
    pytest.fail(f"the run never reached its second job (exit {harness.poll()})")


@pytest.mark.slow
def test_sigkill_mid_run_then_resume(tmp_path: Path) -> None:
    bench, results = _bench(tmp_path), tmp_path / "results"
    env = new_tag()
    with (tmp_path / "first.log").open("w") as log:
        harness = subprocess.Popen([*HARNESS, "run", str(bench), "--results-dir", str(results)],
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
        run_dir, before = _kill_during_second_job(harness, results, env)
    running = " | ".join(before.values())
    # what was alive at the kill: the board (under its supervisor) and the harness's TFLM
    # probe helper (the board's own starts when it loads the model)
    assert "procs.py" in running and "-m harness.models.tflm_probe" in running, running
    left = wait_until_gone(env, GRACE_S + 5)
    assert left == {}, f"outlived the SIGKILLed harness: {left}"

    resumed = subprocess.run([*HARNESS, "run", str(bench), "--results-dir", str(results),
                              "--resume", run_dir.name], env=env, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    with (run_dir / "results.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    per_job = Counter((r["model"], r["metric"]) for r in rows)
    assert {m for m, _ in per_job} == set(MODELS)
    assert set(per_job.values()) == {1}, per_job  # no row twice
    metrics = {m: {k for (mm, k) in per_job if mm == m} for m in MODELS}
    assert metrics["m0"] == metrics["m1"] == metrics["m2"]  # no row lost
    assert {"latency_median", "host_reference_mismatches"} <= metrics["m0"]
    assert sorted(_done(run_dir)) == sorted(f"b1/{m}/as-is" for m in MODELS)
    assert wait_until_gone(env, GRACE_S + 5) == {}


@pytest.mark.slow
def test_sigterm_to_the_process_group_mid_run_then_resume(tmp_path: Path) -> None:
    # a CI cancelling the job signals its process group: the harness, its boards' supervisors
    # and the boards all get SIGTERM at once
    bench, results = _bench(tmp_path), tmp_path / "results"
    env = new_tag()
    with (tmp_path / "first.log").open("w") as log:
        harness = subprocess.Popen([*HARNESS, "run", str(bench), "--results-dir", str(results)],
                                   env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        run_dir, _ = _kill_during_second_job(harness, results, env,
                                             lambda pid: os.killpg(pid, signal.SIGTERM))
    output = (tmp_path / "first.log").read_text()
    assert harness.returncode == 143, output
    assert "stopped: SIGTERM (exit 143)" in output
    assert _done(run_dir) == ["b1/m0/as-is"], output     # job 1 kept
    assert wait_until_gone(env, GRACE_S + 5) == {}

    resumed = subprocess.run([*HARNESS, "run", str(bench), "--results-dir", str(results),
                              "--resume", run_dir.name], env=env, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    with (run_dir / "results.csv").open(newline="") as fh:
        per_job = Counter((r["model"], r["metric"]) for r in csv.DictReader(fh))
    assert set(per_job.values()) == {1}, per_job  # no row twice
    metrics = {m: {k for (mm, k) in per_job if mm == m} for m in MODELS}
    assert metrics["m0"] == metrics["m1"] == metrics["m2"]  # no row lost
    assert sorted(_done(run_dir)) == sorted(f"b1/{m}/as-is" for m in MODELS)
