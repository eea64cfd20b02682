"""The Python API from a plain script: no ``if __name__ == "__main__":`` guard needed.

A real interpreter runs the script as a file, as a user would; nothing it calls may
import the script again (a multiprocessing worker started by spawn or forkserver
would, and run the script's top level a second time).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

SCRIPT = """
import sys
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, {tests!r})
from tiny_tflite import dense_float_model

from harness.config.bench import load_bench
from harness.models.tflm_host import TflmHostModel
from harness.run_bench import RunOptions, run_bench

here = Path({folder!r})
print("top level ran", flush=True)   # once, or the script was imported again
rng = np.random.default_rng(0)
model = dense_float_model(here / "m.tflite", rng.normal(size=(4, 8)).astype("f4"),
                          np.zeros(4, "f4"))
print("arena", TflmHostModel.load(model).arena_used_bytes, flush=True)
(here / "bench.yaml").write_text(yaml.safe_dump({{
    "name": "plain", "boards": [{{"id": "b", "board": "nucleo_l4r5zi", "kind": "sim"}}],
    "models": [{{"id": "m", "path": "m.tflite"}}],
    "modes": {{"performance": {{"warmups": 0, "runs": 3}}}}}}))
summary = run_bench(load_bench(here / "bench.yaml"),
                    RunOptions(results_dir=here / "results", mlperf_dir=here,
                               cache_dir=here / "cache"))
print("completed", summary.completed, "failed", summary.failed, flush=True)
"""


@pytest.mark.tflm
def test_a_script_without_a_main_guard_runs_a_bench(tmp_path: Path) -> None:
    script = tmp_path / "plain.py"
    script.write_text(SCRIPT.format(tests=str(TESTS), folder=str(tmp_path)))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("top level ran") == 1, done.stdout
    assert "arena " in done.stdout
    assert "completed ['b/m/as-is'] failed {}" in done.stdout, done.stdout + done.stderr
    assert (tmp_path / "results").is_dir()
