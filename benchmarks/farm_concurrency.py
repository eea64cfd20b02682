"""Boards at once, and the farm's cost per job (issue 11): wall times and per-job times.

1. A bench of four realtime simulated NUCLEO-L4R5ZI boards running MLPerf Tiny's IC
   model (704 ms per inference, latency model) on generated inputs, performance
   mode: `harness run` with ``--jobs 1`` and with ``--jobs 4``. Each job starts its
   simulated board (TFLM load) and spends its modelled time in wall time.
2. The same four boards already running (preflashed), once through their local ptys
   and once as labgrid places on a loopback farm (coordinator, two exporters,
   ser2net, RFC 2217): the per-job time (job started -> done) through the farm minus
   through the local port is the farm's overhead per job (reserve, acquire, RFC 2217
   link, release).

Run: ``.venv/bin/python benchmarks/farm_concurrency.py [--runs 10] [--folder DIR]``;
needs the MLPerf Tiny models (HARNESS_MLPERF_TINY_DIR or ../shared/mlperf_tiny),
ser2net and the farm extra. Every figure is simulated board time plus measured
harness time on this machine.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from harness.config.bench import load_bench
from harness.farm.loopback import LoopbackBoard, LoopbackFarm
from harness.models.mlperf_tiny import mlperf_tiny_dir
from harness.run_bench import RunOptions, run_bench
from harness.run_workers import JobEvent

BOARDS = 4
DEFINITION = "nucleo_l4r5zi"


def _bench(folder: Path, boards: list[dict], runs: int, coordinator: str | None = None) -> Path:
    spec: dict = {"name": "farm-bench",
                  "boards": [{"board": DEFINITION, "kind": "sim", "pace": "realtime", **b}
                             for b in boards],
                  "models": [{"id": "ic", "path": "mlperf:ic01_int8.tflite"}],
                  "modes": {"performance": {"warmups": 1, "runs": runs}}}
    if coordinator:
        spec["coordinator"] = coordinator
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _run(bench: Path, jobs: int | None) -> tuple[float, list[float]]:
    """Wall time of the run, and each job's started -> done time."""
    started: dict[str, float] = {}
    took: list[float] = []

    def on_job(event: JobEvent) -> None:
        if event.state == "started":
            started[event.job.key] = time.monotonic()
        elif event.state == "done":
            took.append(time.monotonic() - started[event.job.key])
        else:
            raise SystemExit(f"job {event.job.key} {event.state}: {event.message}")

    t0 = time.monotonic()
    run_bench(load_bench(bench), RunOptions(results_dir=bench.parent / "results",
                                            mlperf_dir=mlperf_tiny_dir(),
                                            cache_dir=bench.parent / "cache", jobs=jobs),
              on_job)
    return time.monotonic() - t0, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed inferences per job")
    parser.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="farm-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    boards = [{"id": f"l4-{i}"} for i in range(BOARDS)]
    print(f"{BOARDS} realtime simulated {DEFINITION}, IC 704 ms/inference, 1 warm-up + "
          f"{args.runs} runs per job; folder {folder}")
    for jobs in (1, BOARDS):
        sub = folder / f"local-jobs{jobs}"
        sub.mkdir(exist_ok=True)
        wall, took = _run(_bench(sub, boards, args.runs), jobs)
        print(f"local boards, --jobs {jobs}: wall {wall:.1f} s, "
              f"mean job {statistics.mean(took):.2f} s")
    model = mlperf_tiny_dir() / "ic01_int8.tflite"
    lab = LoopbackFarm(folder / "lab", [LoopbackBoard(f"p{i}", DEFINITION, f"ex{i % 2}", model,
                                                      "realtime") for i in range(BOARDS)])
    lab.start()
    try:
        sub = folder / "preflashed-local"
        sub.mkdir(exist_ok=True)
        ports = [{"id": f"l4-{i}", "firmware": "preflashed",
                  "port": lab.sims[f"p{i}"].relink(0.0)} for i in range(BOARDS)]
        local_wall, local = _run(_bench(sub, ports, args.runs), BOARDS)
        sub = folder / "preflashed-farm"
        sub.mkdir(exist_ok=True)
        places = [{"id": f"l4-{i}", "firmware": "preflashed", "place": f"p{i}"}
                  for i in range(BOARDS)]
        farm_wall, farmed = _run(_bench(sub, places, args.runs, lab.address), BOARDS)
    finally:
        lab.close()
    print(f"preflashed, local ptys:  wall {local_wall:.1f} s, job {statistics.mean(local):.2f} s "
          f"(min {min(local):.2f}, max {max(local):.2f})")
    print(f"preflashed, farm places: wall {farm_wall:.1f} s, job {statistics.mean(farmed):.2f} s "
          f"(min {min(farmed):.2f}, max {max(farmed):.2f})")
    print(f"farm overhead per job: {statistics.mean(farmed) - statistics.mean(local):+.2f} s "
          "(job time; acquiring and releasing the place is outside it: see the wall times)")
    if args.folder is None:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
