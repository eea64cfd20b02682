"""Jobs on several boards at once (issue 11, item 1): real simulated boards, real threads.

The rows equal a serial run's except for their times; jobs.jsonl's commit lines stay
valid with workers writing through one writer; a resumed run skips what is done.
"""

from __future__ import annotations

import csv
import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from tiny_tflite import dense_float_model

from harness.config.bench import load_bench
from harness.results.store import RunStore
from harness.run_bench import RunOptions, RunSummary, run_bench
from harness.run_workers import JobEvent

MODELS = ("m0", "m1")
BOARDS = ("b0", "b1")
IGNORED = {"time", "run_id"}


@pytest.fixture(scope="module")
def bench_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("concurrent")
    for i, name in enumerate(MODELS):
        rng = np.random.default_rng(i)
        dense_float_model(folder / f"{name}.tflite", rng.normal(size=(4, 8)).astype("f4"),
                          rng.normal(size=4).astype("f4"))
    bench = {"name": "concurrent",
             "boards": [{"id": b, "board": "nucleo_l4r5zi", "kind": "sim"} for b in BOARDS],
             "models": [{"id": m, "path": f"{m}.tflite"} for m in MODELS],
             "variants": ["as-is"],
             "modes": {"performance": {"warmups": 1, "runs": 10}, "accuracy": {"samples": 20}}}
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(bench, sort_keys=False))
    return path


class Watch:
    """Records job events and how many jobs ran at the same time."""

    def __init__(self) -> None:
        self.events: list[JobEvent] = []
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()

    def __call__(self, event: JobEvent) -> None:
        with self.lock:
            self.events.append(event)
            self.running += 1 if event.state == "started" else -1
            self.most = max(self.most, self.running)


def _run(bench_file: Path, results: Path, jobs: int | None,
         run_id: str | None = None) -> tuple[RunSummary, Watch]:
    watch = Watch()
    summary = run_bench(load_bench(bench_file),
                        RunOptions(results_dir=results, mlperf_dir=bench_file.parent,
                                   cache_dir=results / "cache", jobs=jobs, run_id=run_id),
                        watch)
    return summary, watch


def _rows(run_dir: Path) -> list[tuple]:
    with (run_dir / "results.csv").open(newline="") as fh:
        return sorted(tuple((k, v) for k, v in row.items() if k not in IGNORED)
                      for row in csv.DictReader(fh))


@pytest.fixture(scope="module")
def runs(bench_file, tmp_path_factory) -> tuple[RunSummary, Watch, RunSummary, Watch]:
    results = tmp_path_factory.mktemp("runs")
    return (*_run(bench_file, results / "serial", jobs=1),
            *_run(bench_file, results / "parallel", jobs=None))


pytestmark = pytest.mark.slow


def test_boards_run_at_once_with_the_rows_of_a_serial_run(runs):
    serial, serial_watch, parallel, watch = runs
    assert serial_watch.most == 1
    assert watch.most == len(BOARDS)       # every board busy at once
    # one board's jobs in order, in both runs
    for w in (serial_watch, watch):
        for board in BOARDS:
            started = [e.job.model.id for e in w.events
                       if e.state == "started" and e.job.board.id == board]
            assert started == list(MODELS)
    assert not serial.failed and not parallel.failed
    assert _rows(parallel.run_dir) == _rows(serial.run_dir)
    assert len(_rows(parallel.run_dir)) == len(set(_rows(parallel.run_dir)))
    # every commit line holds: recover() finds nothing to cut
    store = RunStore(parallel.run_dir)
    assert store.recover() == []
    lengths = [json.loads(line)["csv_bytes"]
               for line in (parallel.run_dir / "jobs.jsonl").read_text().splitlines()]
    assert lengths == sorted(lengths) and lengths[-1] == store.csv_path.stat().st_size


def test_a_resumed_parallel_run_skips_what_is_done(bench_file, runs, tmp_path):
    full = _rows(runs[2].run_dir)
    run_dir = tmp_path / runs[2].run_dir.name
    shutil.copytree(runs[2].run_dir, run_dir)
    # what a kill after the second commit leaves: two done lines, then a torn one and
    # part of the next job's rows
    log = run_dir / "jobs.jsonl"
    lines = log.read_text().splitlines(keepends=True)[:2]
    kept = json.loads(lines[-1])["csv_bytes"]
    log.write_text("".join(lines) + '{"job": "b0/m1/as-is", "sta')
    with (run_dir / "results.csv").open("r+b") as fh:
        fh.truncate(kept + 57)
    done = {json.loads(line)["job"] for line in lines}
    started = time.monotonic()
    resumed, watch = _run(bench_file, tmp_path, jobs=None, run_id=run_dir.name)
    assert time.monotonic() - started < 120
    rerun = {e.job.key for e in watch.events if e.state == "started"}
    assert rerun == {f"{b}/{m}/as-is" for b in BOARDS for m in MODELS} - done
    assert not resumed.failed
    assert _rows(resumed.run_dir) == full
