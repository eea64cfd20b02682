"""`harness run`: every job of a bench, results written as each one finishes.

Pre-flight (bench, boards, monitors, models, datasets: harness/preflight/) happens
before the run directory exists, so a bad bench leaves nothing half-written. A job
that fails is recorded and the others still run; a resumed run skips the jobs
already in results.csv.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.config.bench import Bench
from harness.errors import HarnessError
from harness.job import JobFailed, JobOutcome, run_job
from harness.models.resolve import ResolvedModel, copy_cards, resolve_model
from harness.plan import Job, plan_jobs
from harness.preflight import Finding, check_built, check_setup, raise_on_errors
from harness.report.build import publish_run
from harness.results.metadata import git_commit, harness_version, new_run_id, utc_now
from harness.results.store import RunStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    results_dir: Path
    mlperf_dir: Path
    cache_dir: Path
    run_id: str | None = None      # set to resume an earlier run
    seed: int = 0
    history_path: Path | None = None   # SQLite history the run is recorded in (None: not)


@dataclass
class RunSummary:
    run_dir: Path
    report: Path
    completed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)   # job key -> reason
    failed: dict[str, str] = field(default_factory=dict)    # job key -> error


def prepare_models(bench: Bench, options: RunOptions) -> dict[tuple[str, str], ResolvedModel]:
    """Resolve (and build where needed) every model x variant before anything is written."""
    return {
        (model.id, variant): resolve_model(model, variant, bench.base_dir, options.mlperf_dir,
                                           options.cache_dir)
        for model in bench.spec.models for variant in bench.spec.variants_for(model)
    }


def _preflight(findings: list[Finding]) -> None:
    """Stop on any error (nothing is written yet); log the warnings and notes."""
    for finding in raise_on_errors(findings):
        log.log(logging.WARNING if finding.level == "warning" else logging.INFO, "%s", finding)


def run_bench(bench: Bench, options: RunOptions,
              on_job: Callable[[Job, JobOutcome | None], None] | None = None) -> RunSummary:
    _preflight(check_setup(bench))  # cheap checks before any variant is built
    models = prepare_models(bench, options)
    _preflight(check_built(bench, models))
    run_id = options.run_id or new_run_id(bench.spec.name)
    store = RunStore(options.results_dir / run_id)
    project = bench.base_dir
    if options.run_id and store.csv_path.parent.exists():
        log.info("resuming run %s", run_id)
        for what in store.recover():
            log.warning("run %s was interrupted mid-write; dropped %s", run_id, what)
    else:
        store.create({"run_id": run_id, "bench": bench.spec.name, "bench_file": str(bench.path),
                      "started": utc_now(), "harness_version": harness_version(),
                      "git_commit": git_commit(project)})
    done = store.completed_jobs()
    partial = {job for job, entry in store.outcomes().items() if entry["status"] == "partial"}
    summary = RunSummary(run_dir=store.run_dir, report=store.run_dir / "report.md")
    copy_cards(models, store.run_dir)  # the card of each variant the run measures
    for job in plan_jobs(bench):
        resolved = models[(job.model.id, job.variant)]
        if job.key in done:
            summary.completed.append(job.key)
            continue
        if resolved.path is None:
            summary.skipped[job.key] = resolved.skip_reason
            store.record_outcome(job.key, "skipped", resolved.skip_reason)
            continue
        if job.key in partial:  # measured again whole: its earlier rows would be twins
            log.info("job %s: dropping %d rows of its partial run", job.key,
                     store.drop_job_rows(job.key))
        if on_job:
            on_job(job, None)
        try:
            outcome = run_job(bench, job, resolved.path, store, run_id, options.seed)
        except HarnessError as exc:
            log.error("job %s failed: %s", job.key, exc)
            summary.failed[job.key] = str(exc)
            if not isinstance(exc, JobFailed):  # a partial job recorded its own outcome
                store.record_outcome(job.key, "failed", str(exc))
            continue
        summary.completed.append(job.key)
        if on_job:
            on_job(job, outcome)
    publish_run(store, options.history_path)
    return summary
