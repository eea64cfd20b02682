"""`harness submission`: a run's MLPerf rule-mode figures as a submission folder."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from harness.cli_options import boards_dir_option
from harness.cli_text import labelled
from harness.submission.writer import DIVISIONS, STATUSES, SubmissionOptions, write_submission

# Paths stay whole for copying, and literal (cli_text.py).
out = Console(soft_wrap=True, markup=False)
err = Console(stderr=True, soft_wrap=True, markup=False)


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Where the submission tree goes (<out>/<division>/<submitter>/…).")
@click.option("--submitter", required=True, help="The submitting organisation (a folder name).")
@click.option("--division", type=click.Choice(DIVISIONS), default="closed", show_default=True)
@click.option("--status", type=click.Choice(STATUSES), default="available", show_default=True,
              help="The systems' availability.")
@click.option("--benchmark", "benchmarks", multiple=True, metavar="MODEL=BENCHMARK",
              help="Which MLPerf Tiny benchmark (ic, kws, vww, ad) a bench model is, when its "
                   "mlperf: model or dataset name does not say. Repeatable.")
@click.option("--allow-unmeasured", is_flag=True,
              help="Also write simulated and emulated figures, marked as such in every file "
                   "(to rehearse a submission; never valid as one).")
@boards_dir_option
def submission(run_dir: Path, out_dir: Path, submitter: str, division: str, status: str,
               benchmarks: tuple[str, ...], allow_unmeasured: bool,
               boards_dir: Path | None) -> None:
    """Write RUN_DIR's MLPerf rule-mode figures as an MLPerf Tiny submission: per system
    and benchmark the runner's results.txt, results.json and log.txt, and a system
    description per board from the run's copy of its definition (RUN_DIR/boards/), else
    --boards-dir's, else the project's (docs/mlperf.md)."""
    options = SubmissionOptions(out=out_dir, submitter=submitter, division=division,
                                status=status, benchmarks=_pairs(benchmarks),
                                allow_unmeasured=allow_unmeasured, boards_dir=boards_dir)
    summary = write_submission(run_dir, options)
    for job, reason in summary.skipped.items():
        err.print(labelled("skipped", "yellow", f"{job}: {reason}"))
    for warning in summary.warnings:
        err.print(labelled("warning:", "yellow", warning))
    for written in summary.written:
        out.print(f"{written.job} -> {written.folder} ({', '.join(written.tests)})")
    out.print(f"submission: {summary.root}")


def _pairs(values: tuple[str, ...]) -> dict[str, str]:
    pairs = {}
    for value in values:
        model, sep, benchmark = value.partition("=")
        if not sep or not model or not benchmark:
            raise click.BadParameter(f"{value!r}: expected MODEL=BENCHMARK, e.g. my-ic=ic",
                                     param_hint="--benchmark")
        pairs[model] = benchmark
    return pairs
