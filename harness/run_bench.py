"""`harness run`: every job of a bench, results written as each one finishes.

Pre-flight (bench, boards, monitors, models, datasets: harness/preflight/) happens
before the run directory exists, so a bad bench leaves nothing half-written. A job
that fails is recorded and the others still run; a resumed run skips the jobs
already in results.csv.
"""

from __future__ import annotations

import logging
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path

from harness.config.bench import Bench
from harness.farm.coordinator import FarmClient, coordinator_address
from harness.farm.places import check_left_behind, check_place_tags, plan_on_farm
from harness.interrupts import signal_of
from harness.models.resolve import ResolvedModel, copy_cards, resolve_model
from harness.plan import Job, plan_jobs
from harness.preflight import Finding, check_built, check_setup, raise_on_errors
from harness.report.build import publish_run
from harness.results.metadata import git_commit, harness_version, new_run_id, utc_now
from harness.results.run_boards import copy_board_files
from harness.results.store import RunStore
from harness.results.writer import StoreWriter
from harness.run_workers import Attempts, FarmSettings, OnJob, Results, run_workers

log = logging.getLogger(__name__)
PLACE_WAIT_S = 600.0


@dataclass(frozen=True)
class RunOptions:
    results_dir: Path
    mlperf_dir: Path
    cache_dir: Path
    run_id: str | None = None      # set to resume an earlier run
    seed: int = 0
    #: the history the run is recorded in: a SQLite path or a postgresql:// URL (None: not)
    history_path: Path | str | None = None
    jobs: int | None = None        # at most this many boards (or places) at once; None: all
    farm: bool = False             # spread jobs over every free place of their board's kind
    coordinator: str | None = None     # labgrid coordinator (else the bench's, LG_COORDINATOR)
    place_wait_s: float = PLACE_WAIT_S  # how long a place someone else holds is waited for
    #: take back places this host and user still hold for a harness process that is gone
    reclaim_stale_places: bool = False


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


def run_bench(bench: Bench, options: RunOptions, on_job: OnJob | None = None) -> RunSummary:
    _preflight(check_setup(bench))  # cheap checks before any variant is built
    models = prepare_models(bench, options)
    _preflight(check_built(bench, models))
    run_id = options.run_id or new_run_id(bench.spec.name)
    farm = _connect_farm(bench, options, run_id)    # places checked before anything is written
    try:
        return _run(bench, options, run_id, models, farm, on_job)
    finally:
        if farm is not None:    # also on Ctrl-C and on failure: every place we hold goes back
            farm.client.close()


def _run(bench: Bench, options: RunOptions, run_id: str,
         models: dict[tuple[str, str], ResolvedModel], farm: FarmSettings | None,
         on_job: OnJob | None) -> RunSummary:
    store = RunStore(options.results_dir / run_id)
    project = bench.base_dir
    if options.run_id and store.csv_path.parent.exists():
        log.info("resuming run %s", run_id)
        for what in store.recover():
            log.warning("run %s was interrupted mid-write; dropped %s", run_id, what)
    else:
        store.create({"run_id": run_id, "bench": bench.spec.name, "bench_file": str(bench.path),
                      "started": utc_now(), "harness_version": harness_version(),
                      "git_commit": git_commit(project), "host": socket.gethostname()})
    done = store.completed_jobs()
    partial = {job for job, entry in store.outcomes().items() if entry["status"] == "partial"}
    summary = RunSummary(run_dir=store.run_dir, report=store.run_dir / "report.md")
    copy_cards(models, store.run_dir)  # the card of each variant the run measures
    copy_board_files(bench, store.run_dir)  # and each board's definition, as it is now
    pending: list[Job] = []
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
        pending.append(job)
    writer = StoreWriter(store)
    results = Results()
    attempts = Attempts(bench, {key: m.path for key, m in models.items() if m.path is not None},
                        writer, run_id, options.seed, results, on_job)
    try:
        run_workers(pending, attempts, options.jobs, farm, spread=options.farm)
    except KeyboardInterrupt as exc:    # Ctrl-C or SIGTERM (harness/interrupts.py)
        log.warning("run %s stopped by %s: the jobs done are kept in %s; --resume %s runs "
                    "the rest", run_id, signal.Signals(signal_of(exc)).name, store.csv_path,
                    run_id)
        raise
    finally:
        writer.close()
    summary.completed += results.completed
    summary.failed.update(results.failed)
    publish_run(store, options.history_path)
    return summary


def _connect_farm(bench: Bench, options: RunOptions, run_id: str) -> FarmSettings | None:
    """The coordinator, when the bench has places or the run spreads over the farm; each
    named place must exist and be tagged with its board's definition, and none may be
    left acquired by a harness process of this host that is gone (unless reclaimed)."""
    placed = [(i, b) for i, b in enumerate(bench.spec.boards) if b.place is not None]
    if not placed and not options.farm:
        return None
    client = FarmClient(coordinator_address(options.coordinator, bench.spec.coordinator),
                        run=run_id)
    try:
        if not options.farm:
            for i, board in placed:
                assert board.place is not None
                check_place_tags(client.place(board.place), bench.boards[board.id].id,
                                 f"{bench.path}: boards[{i}].place")
        used = {n for a in plan_on_farm(bench, client.places(), options.farm) for n in a.places}
        check_left_behind(client, sorted(used), options.reclaim_stale_places)
    except BaseException:
        client.close()
        raise
    return FarmSettings(client, options.place_wait_s)
