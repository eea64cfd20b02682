"""One job: bring a board up with a model, open a session, run the bench's modes.

The code path is the same for every board kind; only the driver (how the board
comes up) and the power-monitor backend differ.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NoReturn

import numpy as np
import serial

from harness.boards.bring_up import board_link
from harness.boards.driver import BoardDriver, LinkHint, create_driver
from harness.boards.latency_model import estimate
from harness.config.bench import Bench
from harness.config.board import BoardSpec
from harness.dut.client import DutClient
from harness.dut.messages import HelloInfo
from harness.dut.mlperf_session import MlperfIdentity
from harness.dut.recovery import Recovery
from harness.dut.session import DutSession
from harness.dut.transport import open_link
from harness.errors import BoardError, HarnessError, MeasurementError, MonitorDisconnected
from harness.farm.place_driver import PlaceAccess
from harness.job_power import JobPower, power_cycler
from harness.measure.accuracy import measure_accuracy
from harness.measure.energy_run import measure_energy_per_inference
from harness.measure.mlperf_job import RuleBoard, run_mlperf_rules
from harness.measure.performance import measure_performance
from harness.measure.profile import profile_job
from harness.measure.recoveries import RecoveryWatch
from harness.models.datasets import Dataset, load_dataset
from harness.models.tflite_inspect import inspect_tflite
from harness.models.tflm_host import TflmHostModel
from harness.partial import JobFailed, ModesFailed
from harness.plan import Job, job_board
from harness.power.energy import MarkerWindows
from harness.results.metadata import git_commit, harness_version, utc_now
from harness.results.rows import (
    GENERATED_INPUTS,
    ResultRow,
    RowContext,
    caveat,
    join_notes,
)
from harness.results.store import RunStore

log = logging.getLogger(__name__)
READY_TIMEOUT_S = 3.0
ENERGY_ATTEMPTS = 5


@dataclass(frozen=True)
class JobOutcome:
    rows: list[ResultRow]
    hello: HelloInfo | MlperfIdentity   # what the board said it is


def run_job(bench: Bench, job: Job, model_path: Path, store: RunStore, run_id: str,
            seed: int = 0, place: PlaceAccess | None = None) -> JobOutcome:
    """``place``: the labgrid place the job's board is in (docs/farm.md), if it is in one."""
    board = job_board(bench, job)       # built with the job's kernel library
    workdir = store.run_dir / "work" / job.board.id  # boards of one kind run side by side
    driver = _driver_for(bench, job, board, workdir, place=place)
    ctx = RowContext(run_id=run_id, harness_version=harness_version(),
                     git_commit=git_commit(bench.base_dir), bench=bench.spec.name,
                     board=job.board_label, board_def=board.id, board_kind=board.kind,
                     source=driver.source, model=job.model.id, variant=job.variant,
                     protocol=job.board.protocol)
    host = TflmHostModel.load(model_path)
    dataset = _dataset_for(bench, job, host, seed)
    if job.board.protocol == "mlperf":     # MLPerf Tiny's text protocol: job_mlperf.py
        from harness.job_mlperf import run_mlperf_job
        try:
            rows, identity = run_mlperf_job(
                bench, job, board, model_path, host, dataset, ctx, store,
                make_driver=lambda mode: _driver_for(bench, job, board, workdir, mode, place),
                make_power=lambda phase_driver: _job_power(bench, job, board, phase_driver),
                energy_rows=_energy_rows, seed=seed)
        except ModesFailed as failed:
            _keep_partial(store, job, failed)
        store.append_job(job.key, rows)
        return JobOutcome(rows, identity)
    power = _job_power(bench, job, board, driver)
    with ExitStack() as stack:
        stack.callback(driver.stop)
        if power is not None:    # the monitor supplies the board: on before it boots
            stack.callback(power.close)
            power.open()
        url = board_link(driver, job.board, model_path)     # preflashed: found, not flashed
        session = stack.enter_context(_session(job, board, driver, url, model_path,
                                               power_cycler(power)))
        session.connect(READY_TIMEOUT_S)     # no READY: it booted before we listened
        hello = session.hello()
        _check_model(hello, model_path, job)
        rows = [ctx.row("info", "arena_bytes", hello.arena_used, "B", time=utc_now()),
                ctx.row("info", "model_bytes", model_path.stat().st_size, "B", time=utc_now())]
        firmware = driver.firmware_size()
        if firmware is not None:
            rows += [ctx.row("info", "firmware_flash_bytes", firmware[0], "B", time=utc_now(),
                             notes="text + data of the firmware ELF"),
                     ctx.row("info", "firmware_ram_bytes", firmware[1], "B", time=utc_now(),
                             notes="data + bss (arena and stack included)")]
        try:
            rows += _run_modes(bench, job, session, hello, host, dataset, ctx, store, power,
                               seed)
        except ModesFailed as failed:
            _keep_partial(store, job, ModesFailed(failed.error, rows + failed.rows))
    store.append_job(job.key, rows)
    return JobOutcome(rows, hello)


def _driver_for(bench: Bench, job: Job, board: BoardSpec, workdir: Path,
                timestamp_mode: Literal["performance", "energy"] = "performance",
                place: PlaceAccess | None = None) -> BoardDriver:
    link = LinkHint(job.board.port, job.board.serial_number, job.board.pace, job.board.protocol,
                    timestamp_mode, job.board.params)
    if place is not None:
        return place.driver(board, workdir, link)
    driver = create_driver(board, workdir, link)
    faults = bench.spec.faults
    # faults sit between a board the harness starts and the host; a preflashed one is not
    if faults is not None and faults.afflicts(job.board.id) and job.board.firmware == "build":
        from harness.faults import wrap_with_faults
        return wrap_with_faults(driver, board, faults, job.board.id, workdir)
    return driver


def _session(job: Job, board: BoardSpec, driver: BoardDriver, url: str, model_path: Path,
             power_cycle: Callable[[], None] | None = None) -> DutSession:
    """A session that waits as long as this board needs and recovers it through its driver,
    or, hung with no reset line the host drives, by ``power_cycle`` (harness/job_power.py)."""
    def relink(timeout: float) -> serial.SerialBase:
        return open_link(driver.relink(timeout), baudrate=board.serial.baudrate)

    expected = estimate(inspect_tflite(model_path), board.core, board.build.kernels,
                        board.clock_hz).total_cycles / board.clock_hz
    recovery = Recovery(board=job.board.id, reset=driver.reset, relink=relink,
                        power_cycle=power_cycle)
    return DutSession(open_link(url, baudrate=board.serial.baudrate),
                      bytes_per_s=board.serial.bytes_per_s, recovery=recovery,
                      expected_s_per_inference=expected)


def _check_model(hello: HelloInfo, model_path: Path, job: Job) -> None:
    """The board must run the model we think it runs; a stale flash is a silent lie."""
    expected = hashlib.sha256(model_path.read_bytes()).digest()
    if hello.model_hash != expected:
        raise BoardError(f"job {job.key}: board reports model hash {hello.model_hash.hex()[:16]}…"
                         f", expected {expected.hex()[:16]}… for {model_path}")


def _dataset_for(bench: Bench, job: Job, host: TflmHostModel, seed: int) -> Dataset:
    dataset = load_dataset(job.model.dataset, base_dir=bench.base_dir,
                           input_spec=host.input_spec, task=job.model.task, seed=seed)
    return dataset if dataset.generated else dataset.held_out()


def _keep_partial(store: RunStore, job: Job, failed: ModesFailed) -> NoReturn:
    store.append_job(job.key, failed.rows, "partial", str(failed.error))
    raise JobFailed(f"{failed.error} (the rows of its completed modes are kept)") \
        from failed.error


def _job_power(bench: Bench, job: Job, board: BoardSpec, driver: BoardDriver) -> JobPower | None:
    """The monitor that supplies this board, if the bench has one: in every job, not only
    energy ones, since a lab's monitor is the board's supply (on before it boots) and
    what power-cycles it out of a hang."""
    spec = bench.spec.monitor_for(job.board.id)
    if spec is None:
        if bench.spec.modes.energy or bench.spec.modes.mlperf:
            log.warning("job %s: energy mode skipped, no power monitor powers %s", job.key,
                        job.board.id)
        return None
    faults = bench.spec.faults
    return JobPower(spec, board, driver,
                    faults if faults is not None and faults.afflicts(job.board.id) else None)


def _run_modes(bench: Bench, job: Job, session: DutSession, hello: HelloInfo,
               host: TflmHostModel, dataset: Dataset, ctx: RowContext, store: RunStore,
               power: JobPower | None, seed: int = 0) -> list[ResultRow]:
    modes = bench.spec.modes
    input_data = dataset.to_model_input(0, host.input_spec).tobytes()
    gen_note = caveat(GENERATED_INPUTS) if dataset.generated else ""
    rows: list[ResultRow] = []
    watch = RecoveryWatch(session)
    try:
        latency_s: float | None = None      # the board's, for sizing energy windows
        if modes.performance:
            perf = measure_performance(session, input_data, hello.clock_hz,
                                       modes.performance.warmups, modes.performance.runs)
            n = len(perf.cycles)
            latency_s = perf.median_ms / 1e3
            np.save(store.job_file("raw", job.key, ".cycles.npy"), perf.cycles)  # distributions
            counted, assumption = _counter_meaning(hello)
            ms_note = join_notes(caveat(assumption) if assumption else "", gen_note)
            rows += [ctx.row("performance", "latency_median", perf.median_ms, "ms", time=utc_now(),
                             n=n, notes=ms_note),
                     ctx.row("performance", "latency_p90", perf.p90_ms, "ms", time=utc_now(), n=n,
                             notes=ms_note),
                     ctx.row("performance", f"{counted}_mean", perf.mean_cycles, counted,
                             time=utc_now(), n=n, notes=f"counter: {hello.counter}")]
            rows = watch.annotate(rows, "performance")
        if modes.accuracy:
            acc = measure_accuracy(session, dataset, host.input_spec, host.output_spec,
                                   modes.accuracy.samples, reference=host.run)
            if acc.top1 is not None:
                rows.append(ctx.row("accuracy", "top1", acc.top1 * 100, "%", time=utc_now(),
                                    n=acc.n, notes=dataset.description))
            if acc.auc is not None:
                rows.append(ctx.row("accuracy", "auc", acc.auc, "", time=utc_now(), n=acc.n,
                                    notes=dataset.description))
            rows.append(ctx.row("accuracy", "host_reference_mismatches", acc.mismatches or 0,
                                "outputs", time=utc_now(), n=acc.n,
                                notes=gen_note or "outputs differing from the TFLM host runtime"))
            rows = watch.annotate(rows, "accuracy")
        if modes.energy and power is not None:
            rows += watch.annotate(_energy_rows(bench, job, session, power, input_data, ctx, store,
                                                watch, latency_s), "energy")
        if modes.profile:   # per-layer profile: profiles/<job>.json and .csv (measure/profile.py)
            rows += watch.annotate(profile_job(
                session, hello, host.path, input_data, modes.profile,
                job_board(bench, job), job.key, ctx, store), "profile")
        if modes.mlperf:    # MLPerf Tiny's run rules, on the whole dataset (measure/mlperf_job.py)
            assumption = _counter_meaning(hello)[1]
            rows += watch.annotate(run_mlperf_rules(
                bench, job, RuleBoard(session, hello.clock_hz, hello.counter, session),
                host, ctx, store, seed=seed, power=power,
                counter_note=caveat(assumption) if assumption else ""), "mlperf")
    except HarnessError as exc:
        if not rows:
            raise
        raise ModesFailed(exc, rows + watch.totals(ctx, utc_now())) from exc
    return rows + watch.totals(ctx, utc_now())


def _counter_meaning(hello: HelloInfo) -> tuple[str, str]:
    """What the board's counter counts, and what a latency derived from it assumes."""
    if hello.counter == "systick-icount":  # QEMU: instructions, one per ns of virtual time
        return "instructions", ("latency derived from instruction counts, assuming 1 "
                                f"instruction per cycle at {hello.clock_hz / 1e6:g} MHz (QEMU "
                                "has no cycle timing)")
    return "cycles", ""


def _energy_rows(bench: Bench, job: Job, session: DutClient, power: JobPower,
                 input_data: bytes, ctx: RowContext, store: RunStore, watch: RecoveryWatch,
                 latency_s: float | None,
                 marker_windows: MarkerWindows = "high") -> list[ResultRow]:
    energy_mode = bench.spec.modes.energy
    assert energy_mode is not None
    trace_path = store.job_file("traces", job.key, ".npz")
    problems: list[str] = []
    # A window the board reset in, or the monitor lost, is no energy window: measure again.
    while True:
        watch.annotate([], "energy")    # marks the start of this attempt
        try:
            result = measure_energy_per_inference(
                session, power.monitor, input_data, energy_mode.windows,
                energy_mode.inferences_per_window, energy_mode.idle_s, trace_path, latency_s,
                marker_windows)
            disturbed = watch.disturbed()
            if not disturbed:
                break
            problem = "the link was disturbed during the windows (" + ", ".join(
                f"{v} {k}" for k, v in disturbed.items()) + ")"
        except MonitorDisconnected as exc:
            problem = str(exc)
            power.open()    # a lost instrument is found again for the next attempt
        problems.append(problem)
        if len(problems) >= ENERGY_ATTEMPTS:
            raise MeasurementError(f"job {job.key}: no undisturbed energy measurement in "
                                   f"{ENERGY_ATTEMPTS} attempts: {'; '.join(problems)}")
        log.warning("job %s: energy measurement repeated: %s", job.key, problem)
    # what weakens the figure travels with it into every table
    repeated = [f"measured again after: {'; '.join(problems)}"] if problems else []
    spec = power.spec
    note = join_notes(f"monitor {spec.id} ({spec.backend}) at {spec.sample_rate:g} S/s",
                      *repeated, *map(caveat, result.flags))
    n = result.n_windows
    return [
        ctx.row("energy", "energy_per_inference", result.mean_j * 1e6, "uJ", time=utc_now(),
                ci=(result.ci_low_j * 1e6, result.ci_high_j * 1e6), n=n, notes=note),
        ctx.row("energy", "energy_above_idle", result.above_idle_mean_j * 1e6, "uJ",
                time=utc_now(), ci=(result.above_idle_ci_low_j * 1e6,
                                   result.above_idle_ci_high_j * 1e6), n=n, notes=note),
        ctx.row("energy", "idle_power", result.idle_power_w * 1e3, "mW", time=utc_now(),
                notes=note),
        ctx.row("energy", "active_power", result.mean_active_power_w * 1e3, "mW",
                time=utc_now(), n=n, notes=note),
    ]
