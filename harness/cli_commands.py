"""The CLI's commands; each is a thin wrapper over a library call."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from harness.config.bench import load_bench
from harness.config.board import all_boards
from harness.models.mlperf_tiny import mlperf_tiny_dir
from harness.paths import default_cache_dir

out = Console(soft_wrap=True)  # paths and log lines stay whole for copying and CI logs
err = Console(stderr=True, soft_wrap=True)

_bench_arg = click.argument("bench_file", type=click.Path(path_type=Path, dir_okay=False))
_mlperf_opt = click.option(
    "--mlperf-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
    help="Folder with the MLPerf Tiny reference models (default: $HARNESS_MLPERF_TINY_DIR "
         "or ../shared/mlperf_tiny).")


@click.command()
@_bench_arg
@click.option("--results-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where run folders go (default: the bench file's results_dir).")
@_mlperf_opt
@click.option("--resume", "run_id", default=None, metavar="RUN_ID",
              help="Continue an interrupted run: jobs already in its results.csv are skipped.")
@click.option("--seed", default=0, show_default=True, help="Seed for generated inputs and noise.")
def run(bench_file: Path, results_dir: Path | None, mlperf_dir: Path | None, run_id: str | None,
        seed: int) -> None:
    """Run every board x model x variant of BENCH_FILE and write results/<run-id>/."""
    from harness.plan import plan_jobs
    from harness.run_bench import RunOptions, run_bench

    bench = load_bench(bench_file)
    options = RunOptions(
        results_dir=results_dir or Path(bench.spec.results_dir),
        mlperf_dir=mlperf_dir or mlperf_tiny_dir(), cache_dir=default_cache_dir(),
        run_id=run_id, seed=seed)
    jobs = plan_jobs(bench)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
                  "{task.total} jobs"), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=err, disable=not err.is_terminal) as progress:
        task = progress.add_task("preparing models", total=len(jobs))

        def on_job(job, outcome) -> None:
            if outcome is None:
                progress.update(task, description=f"running {job.key}")
                if not err.is_terminal:
                    err.print(f"job {job.key}: started", highlight=False)
            else:
                progress.advance(task)
                if not err.is_terminal:
                    err.print(f"job {job.key}: {len(outcome.rows)} figures", highlight=False)

        summary = run_bench(bench, options, on_job)
    for key, reason in summary.skipped.items():
        err.print(f"[yellow]skipped[/] {key}: {reason}", highlight=False)
    for key, message in summary.failed.items():
        err.print(f"[red]failed[/] {key}: {message}", highlight=False)
    out.print(f"results: {summary.run_dir / 'results.csv'}")
    out.print(f"report:  {summary.report}")
    if summary.failed:
        raise SystemExit(1)


@click.command()
@click.argument("bench_files", nargs=-1, required=True,
                type=click.Path(path_type=Path, dir_okay=False))
def check(bench_files: tuple[Path, ...]) -> None:
    """Validate bench files (schema, board definitions, cross references) without running."""
    for path in bench_files:
        bench = load_bench(path)
        spec = bench.spec
        out.print(f"{path}: ok — {len(spec.boards)} boards, {len(spec.monitors)} monitors, "
                  f"{len(spec.models)} models, {len(spec.variants)} variants")


@click.command()
def boards() -> None:
    """List the board definitions in boards/."""
    table = Table(box=None)  # compact: ids and envs are what users copy, never cut them
    for name in ("id", "kind", "core", "MHz", "flash KiB", "RAM KiB", "build env"):
        table.add_column(name, no_wrap=True)
    table.add_column("name", min_width=14)
    for b in all_boards():
        table.add_row(b.id, b.kind, b.core, f"{b.clock_hz / 1e6:g}",
                      f"{b.memory.flash_bytes // 1024}", f"{b.memory.ram_bytes // 1024}",
                      b.build.env, b.name)
    out.print(table)


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False, exists=True))
def report(run_dir: Path) -> None:
    """Rebuild RUN_DIR/report.md from the saved results."""
    from harness.report.markdown import write_markdown_report
    from harness.results.store import RunStore

    write_markdown_report(RunStore(run_dir))
    out.print(f"report: {run_dir / 'report.md'}")

