"""`harness study BENCH`: the technique study (harness/study.py), printed and written."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from harness.cli_options import boards_dir_option
from harness.models.mlperf_tiny import mlperf_tiny_dir
from harness.paths import default_cache_dir

out = Console(soft_wrap=True, markup=False)
err = Console(stderr=True, soft_wrap=True, markup=False)


@click.command()
@click.argument("bench_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--seeds", type=click.IntRange(min=1), default=5, show_default=True,
              help="Training seeds per technique (0..K-1).")
@click.option("--model", "models", multiple=True, metavar="ID",
              help="Only this bench model (repeatable).")
@click.option("--results-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where the study's run folder goes (default: the bench's results_dir).")
@click.option("--mlperf-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder with the MLPerf Tiny reference models (default: "
                   "$HARNESS_MLPERF_TINY_DIR or ../shared/mlperf_tiny).")
@boards_dir_option
def study(bench_file: Path, seeds: int, models: tuple[str, ...], results_dir: Path | None,
          mlperf_dir: Path | None, boards_dir: Path | None) -> None:
    """Build baseline fp32, structured pruning, int8, distillation and hybrid over SEEDS
    training seeds, measure each on BENCH_FILE's boards, and write study.csv/.md/.json
    (mean, 95 % CI, one-way ANOVA, Tukey HSD) and a section of the run's report.html."""
    from harness.config.bench import load_bench
    from harness.report.build import write_reports
    from harness.results.store import RunStore
    from harness.study import StudyOptions, run_study
    from harness.study_output import write_study

    bench = load_bench(bench_file, boards_dir)
    options = StudyOptions(out_dir=results_dir or Path(bench.spec.results_dir),
                           mlperf_dir=mlperf_dir or mlperf_tiny_dir(),
                           cache_dir=default_cache_dir(), seeds=seeds, models=models)
    result = run_study(bench, options, lambda what: err.print(what, highlight=False))
    paths = write_study(result)
    write_reports(RunStore(result.run_dir))   # its report.html gains the study section
    out.print(paths["md"].read_text(encoding="utf-8"))
    for name in ("md", "csv", "json"):
        out.print(f"study.{name}: {paths[name]}")
    out.print(f"report:   {result.run_dir / 'report.html'}")
