"""`harness run --dry-run`: the jobs a run would do and how long they keep the boards busy."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.config.bench import Bench
from harness.paths import default_cache_dir
from harness.plan import plan_jobs
from harness.preflight.locate import locate_models
from harness.run_estimate import estimate_jobs

WIDE = 160  # CI logs are not 80 columns: keep rows whole there


def print_plan(bench: Bench, mlperf_dir: Path, out: Console) -> None:
    """One row per job with its modes and the latency model's figures, then the total."""
    models, _ = locate_models(bench, mlperf_dir, default_cache_dir(), build=False)
    estimates = estimate_jobs(bench, plan_jobs(bench), models)
    table = Table(box=None, title=f"{bench.path}: {len(estimates)} jobs (dry run, nothing "
                  "is built or started)")
    for name in ("job", "kind", "modes", "latency ms", "inferences", "expected s"):
        table.add_column(name, no_wrap=True)  # job keys are what users copy: never cut
    table.add_column("note", min_width=20)
    for e in estimates:
        table.add_row(e.job.key, bench.boards[e.job.board.id].kind, ", ".join(e.modes),
                      "–" if e.latency_s is None else f"{e.latency_s * 1e3:.3g}",
                      f"{e.inferences:,}", "–" if e.seconds is None else f"{e.seconds:.3g}",
                      e.note)
    (out if out.is_terminal else Console(width=WIDE, soft_wrap=True, markup=False)).print(table)
    known = [e.seconds for e in estimates if e.seconds is not None]
    unknown = len(estimates) - len(known)
    out.print(f"expected: {sum(known):.3g} s of board time for {len(known)} jobs"
              + (f"; {unknown} not estimated (see note)" if unknown else "")
              + " — latency model (docs/boards.md) x the bench's modes; building, flashing, "
                "board start, model upload and link time not included")
