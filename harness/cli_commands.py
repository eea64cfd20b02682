"""The CLI's commands; each is a thin wrapper over a library call."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from harness.boards.driver import BOARD_DRIVERS
from harness.cli_json import boards_document, check_document, json_option, print_json
from harness.cli_options import boards_dir_option
from harness.cli_progress import RunProgress
from harness.cli_report_commands import junit_option, print_comparisons
from harness.cli_text import labelled
from harness.config.bench import load_bench, with_mlperf_rules
from harness.config.board import all_boards
from harness.errors import ExitCode, HarnessError
from harness.models.mlperf_tiny import mlperf_tiny_dir
from harness.paths import default_cache_dir
from harness.results.history import DEFAULT_NAME, history_target

if TYPE_CHECKING:
    from harness.run_bench import RunSummary

# Paths and log lines stay whole for copying and CI logs, and literal (cli_text.py).
out = Console(soft_wrap=True, markup=False)
err = Console(stderr=True, soft_wrap=True, markup=False)

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
@click.option("--history", "history_path", default=None, metavar="PATH_OR_URL",
              help="Record the run in this history: a SQLite file or a postgresql:// URL "
                   "(default: the bench's history key, $HARNESS_HISTORY, else "
                   "<results-dir>/history.sqlite).")
@click.option("--baseline", type=click.Path(path_type=Path, exists=True), default=None,
              metavar="RUN_OR_FILE", help="Gate the run against this run directory or "
              "results.csv with the bench's thresholds; exit 4 on a regression.")
@click.option("--mlperf", is_flag=True,
              help="Also measure under MLPerf Tiny's run rules (modes.mlperf, its defaults "
                   "unless the bench sets them): input for `harness submission`.")
@junit_option
@click.option("--board", "boards", multiple=True, metavar="ID",
              help="Only this bench board (repeatable).")
@click.option("--model", "models", multiple=True, metavar="ID",
              help="Only this model (repeatable).")
@click.option("--variant", "variants", multiple=True, metavar="NAME",
              help="Only this variant (repeatable).")
@click.option("--mode", "modes", multiple=True,
              type=click.Choice(["performance", "accuracy", "energy", "mlperf", "profile"]),
              help="Only this measurement mode of the bench (repeatable).")
@click.option("--dry-run", is_flag=True,
              help="Print the jobs and their expected board time (latency model x the "
                   "bench's modes); build, start and write nothing.")
@boards_dir_option
@click.option("--jobs", "max_jobs", type=click.IntRange(min=1), default=None, metavar="N",
              help="Run on at most N boards (or farm places) at once (default: all of them; "
                   "1: one job after another).")
@click.option("--farm", is_flag=True,
              help="Spread the jobs over every free labgrid place tagged with their board's "
                   "definition (board=<id>); see docs/farm.md.")
@click.option("--coordinator", default=None, metavar="HOST[:PORT]",
              help="The labgrid coordinator (default: the bench's coordinator key, else "
                   "$LG_COORDINATOR).")
@click.option("--place-wait", type=click.FloatRange(min=0), default=600.0, show_default=True,
              metavar="SECONDS", help="How long to wait for a place someone else holds.")
@click.option("--reclaim-stale-places", is_flag=True,
              help="Release and use a place this host and user still hold for a harness "
                   "process that is gone (SIGKILLed before it released it); without it the "
                   "run stops naming such places. Never takes another user's place.")
def run(bench_file: Path, results_dir: Path | None, mlperf_dir: Path | None, run_id: str | None,
        seed: int, history_path: str | None, baseline: Path | None, mlperf: bool,
        junit: Path | None, boards: tuple[str, ...], models: tuple[str, ...],
        variants: tuple[str, ...], modes: tuple[str, ...], dry_run: bool,
        boards_dir: Path | None, max_jobs: int | None, farm: bool, coordinator: str | None,
        place_wait: float, reclaim_stale_places: bool) -> None:
    """Run every board x model x variant of BENCH_FILE and write results/<run-id>/.

    Exit status 3 when a job failed, 4 on a regression against --baseline."""
    from harness.plan import Selection, plan_jobs, select
    from harness.run_bench import RunOptions, run_bench

    bench = load_bench(bench_file, boards_dir)
    if mlperf:
        bench = with_mlperf_rules(bench)
    bench = select(bench, Selection(boards, models, variants, modes))
    if dry_run:
        from harness.cli_dry_run import print_plan

        print_plan(bench, mlperf_dir or mlperf_tiny_dir(), out)
        return
    results_dir = results_dir or Path(bench.spec.results_dir)
    options = RunOptions(
        results_dir=results_dir, mlperf_dir=mlperf_dir or mlperf_tiny_dir(),
        cache_dir=default_cache_dir(), run_id=run_id, seed=seed,
        history_path=history_target(history_path, bench, results_dir / DEFAULT_NAME),
        jobs=max_jobs, farm=farm, coordinator=coordinator, place_wait_s=place_wait,
        reclaim_stale_places=reclaim_stale_places)
    with RunProgress(err, plan_jobs(bench)) as on_job:
        summary = run_bench(bench, options, on_job)
    for key, reason in summary.skipped.items():
        err.print(labelled("skipped", "yellow", f"{key}: {reason}"))
    for key, message in summary.failed.items():
        err.print(labelled("failed", "red", f"{key}: {message}"))
    out.print(f"results: {summary.run_dir / 'results.csv'}")
    out.print(f"report:  {summary.report}")
    out.print(f"         {summary.run_dir / 'report.html'}")
    regressed = _gate(summary.run_dir, bench_file, baseline, junit, summary,
                      options.history_path)
    if summary.failed or regressed:
        raise SystemExit(ExitCode.JOB_FAILED if summary.failed else ExitCode.REGRESSION)


def _gate(run_dir: Path, bench_file: Path, baseline: Path | None, junit: Path | None,
          summary: RunSummary, history_path: Path | str | None) -> bool:
    """Compare with the baseline and write JUnit, as asked; True when something regressed."""
    if baseline is None and junit is None:
        return False
    from harness.report.build import publish_gate
    from harness.report.gate import bench_thresholds, gate, gate_document, run_identity
    from harness.report.junit import write_junit
    from harness.results.store import RunStore

    thresholds = bench_thresholds(run_dir, bench_file)
    comparisons = gate(run_dir, baseline, thresholds)
    if baseline is not None:
        print_comparisons(comparisons)
        publish_gate(RunStore(run_dir), gate_document(run_dir, baseline, thresholds, comparisons),
                     history_path)
    if junit is not None:
        write_junit(junit, *run_identity(run_dir), comparisons, summary.failed, summary.skipped)
        out.print(f"junit:   {junit}")
    return any(c.failed for c in comparisons)


@click.command()
@click.argument("bench_files", nargs=-1, required=True,
                type=click.Path(path_type=Path, dir_okay=False))
@_mlperf_opt
@click.option("--build", is_flag=True,
              help="Also build every variant (training the built-in model if needed) and "
                   "check those files; otherwise the run checks them before it starts.")
@json_option
@boards_dir_option
def check(bench_files: tuple[Path, ...], mlperf_dir: Path | None, build: bool,
          as_json: bool, boards_dir: Path | None) -> None:
    """Validate bench files without running: schema, boards, monitor params and wiring,
    optional packages, model files (TFLM load, ops, arena and flash per board), datasets."""
    from harness.preflight import check_built, check_setup
    from harness.preflight.locate import locate_models

    if as_json:
        from harness.preflight.bench_check import check_bench_file

        document = check_document([check_bench_file(p, mlperf_dir or mlperf_tiny_dir(),
                                                     default_cache_dir(), build, boards_dir)
                                   for p in bench_files])
        print_json(document)
        if not document["ok"]:
            raise SystemExit(ExitCode.CONFIG)
        return
    failed = False
    for path in bench_files:
        bench = load_bench(path, boards_dir)
        models, located = locate_models(bench, mlperf_dir or mlperf_tiny_dir(),
                                        default_cache_dir(), build)
        findings = [*check_setup(bench), *located, *check_built(bench, models)]
        for level in ("error", "warning", "note"):
            for finding in (f for f in findings if f.level == level):
                err.print(labelled(f"{level}:", _LEVEL_STYLE[level], str(finding)))
        errors = sum(f.level == "error" for f in findings)
        warnings = sum(f.level == "warning" for f in findings)
        spec = bench.spec
        if errors:
            failed = True
            out.print(f"{path}: {errors} error{'s' * (errors > 1)}")
            continue
        out.print(f"{path}: ok — {len(spec.boards)} boards, {len(spec.monitors)} monitors, "
                  f"{len(spec.models)} models, {len(spec.variants)} variants"
                  + (f"; {warnings} warning{'s' * (warnings > 1)}" if warnings else ""))
    if failed:
        raise SystemExit(ExitCode.CONFIG)


_LEVEL_STYLE = {"error": "bold red", "warning": "yellow", "note": "dim"}


@click.command()
@json_option
@boards_dir_option
def boards(as_json: bool, boards_dir: Path | None) -> None:
    """List the board definitions: a lab's own (--boards-dir) and those in boards/; then
    the kinds of board a definition may name (built-in and plugin drivers)."""
    if as_json:
        print_json(boards_document(all_boards(boards_dir)))
        return
    table = Table(box=None)  # compact: ids and envs are what users copy, never cut them
    for name in ("id", "kind", "core", "MHz", "flash KiB", "RAM KiB", "build env"):
        table.add_column(name, no_wrap=True)
    table.add_column("name", min_width=14)
    for b in all_boards(boards_dir):
        table.add_row(b.id, b.kind, b.core, f"{b.clock_hz / 1e6:g}",
                      f"{b.memory.flash_bytes // 1024}", f"{b.memory.ram_bytes // 1024}",
                      b.build.env, b.name)
    out.print(table)
    kinds = Table("kind", "driver", box=None, title="board kinds")
    for kind in BOARD_DRIVERS.names():
        try:
            kinds.add_row(kind, BOARD_DRIVERS.get(kind).label)
        except HarnessError as exc:  # a plugin that does not load: say so, list the rest
            kinds.add_row(kind, f"cannot be loaded: {exc}")
    out.print(kinds)
