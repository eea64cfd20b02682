"""One job on a board running MLPerf Tiny firmware (``boards[].protocol: mlperf``).

The same modes, rows and reports as a harness-protocol board (job.py), over
MLPerf Tiny's text protocol (harness/dut/mlperf_session.py):

- the DUT is identified by ``name%`` and ``profile%``: its ``m-model-[…]`` must
  be the MLPerf benchmark the bench's model is (its tensors say which), and its
  timestamp mode the one each mode needs;
- performance: MLPerf's DUT times a whole ``infer N W%`` (two ``m-lap-us``
  lines), so the latency rows come from several INFER commands, each giving its
  mean per inference (measure/performance.py, `measure_lap_performance`);
- accuracy: outputs re-quantised from ``m-results-[…]`` (ad01: the DUT's own
  score); agreement with the host runtime at the printed precision;
- energy: the DUT's energy-mode firmware pulls its timestamp pin low before and
  after the inferences, at the board's energy-mode baud rate; windows run between
  falling edges (power/energy.py, ``marker_windows="falls"``);
- MLPerf's run rules (``modes.mlperf``, measure/mlperf_job.py): throughput on the
  DUT's m-lap-us and whole-dataset accuracy, in the performance-mode phase
  (bench.py refuses a monitor on such a board with the rules: their energy runs
  are not measured here).

An MLPerf firmware build has one timestamp mode. A board the harness starts
(simulated) is started in performance mode for performance and accuracy, then
again in energy mode for energy; a preflashed DUT runs every mode in the one
it has (bench.py refuses performance and energy together on it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import numpy as np
import serial

from harness.boards.bring_up import board_link
from harness.boards.driver import BoardDriver
from harness.boards.latency_model import estimate
from harness.config.bench import Bench
from harness.config.board import BoardSpec
from harness.dut.mlperf_codec import MlperfCodec
from harness.dut.mlperf_device import TimestampMode
from harness.dut.mlperf_rule_session import LapTimedSession
from harness.dut.mlperf_session import MlperfIdentity, MlperfOutputs, MlperfSession
from harness.dut.recovery import Recovery
from harness.dut.transport import open_link
from harness.errors import BoardError, HarnessError
from harness.job_power import JobPower, power_cycler
from harness.measure.accuracy import measure_accuracy
from harness.measure.mlperf_job import RuleBoard, run_mlperf_rules
from harness.measure.performance import measure_lap_performance
from harness.measure.recoveries import RecoveryWatch
from harness.models.datasets import Dataset
from harness.models.tflite_inspect import inspect_tflite
from harness.models.tflm_host import TflmHostModel
from harness.partial import ModesFailed
from harness.plan import Job
from harness.results.metadata import utc_now
from harness.results.rows import GENERATED_INPUTS, ResultRow, RowContext, caveat, join_notes
from harness.results.store import RunStore

log = logging.getLogger(__name__)
READY_TIMEOUT_S = 3.0

#: (bench, job, session, power, input, ctx, store, watch, latency_s, marker_windows) -> rows
EnergyRows = Callable[..., list[ResultRow]]


def run_mlperf_job(bench: Bench, job: Job, board: BoardSpec, model_path: Path,
                   host: TflmHostModel, dataset: Dataset, ctx: RowContext, store: RunStore, *,
                   make_driver: Callable[[TimestampMode], BoardDriver],
                   make_power: Callable[[BoardDriver], JobPower | None],
                   energy_rows: EnergyRows,
                   seed: int = 0) -> tuple[list[ResultRow], MlperfIdentity]:
    """Every mode of ``job`` on an MLPerf DUT; its rows and the DUT's identity.

    ``make_driver(timestamp_mode)`` and ``make_power(driver)`` come from job.py, as
    does ``energy_rows`` (the energy procedure with its repeats), so that the
    drivers, the monitor's power sequence and the energy rows are those of every job.
    """
    modes = bench.spec.modes
    codec = MlperfCodec.for_model(host.input_spec, host.output_spec)
    monitored = modes.energy is not None and bench.spec.monitor_for(job.board.id) is not None
    phases = _phases(job, modes.performance is not None or modes.mlperf is not None,
                     modes.accuracy is not None, monitored)
    enabled = {name for name, on in (("performance", modes.performance is not None),
                                     ("accuracy", modes.accuracy is not None),
                                     ("energy", monitored),
                                     ("mlperf", modes.mlperf is not None)) if on}
    input_data = dataset.to_model_input(0, host.input_spec).tobytes()
    rows = [ctx.row("info", "model_bytes", model_path.stat().st_size, "B", time=utc_now())]
    totals: dict[str, float] = {}
    # what one inference takes: the latency model's estimate until performance measures it
    latency_s = estimate(inspect_tflite(model_path), board.core, board.build.kernels,
                         board.clock_hz).total_cycles / board.clock_hz
    identity: MlperfIdentity | None = None
    try:
        for timestamp_mode, phase_modes in phases:
            run = enabled.intersection(phase_modes)
            driver = make_driver(timestamp_mode)
            with ExitStack() as stack:
                stack.callback(driver.stop)
                power = make_power(driver)
                if power is not None:    # the monitor supplies the board: on before it boots
                    stack.callback(power.close)
                    power.open()
                url = board_link(driver, job.board, model_path)
                session = stack.enter_context(_session(job, board, driver, url, codec, latency_s,
                                                       timestamp_mode, power_cycler(power)))
                session.wait_ready(READY_TIMEOUT_S)     # no banner: it booted before we listened
                identity = session.identify()
                _check_identity(identity, codec, job, model_path, timestamp_mode)
                watch = RecoveryWatch(session)
                if "performance" in run:
                    perf_rows, latency_s = _performance(bench, job, board, session, identity,
                                                        input_data, dataset, ctx, store)
                    rows += watch.annotate(perf_rows, "performance")
                if "accuracy" in run:
                    rows += watch.annotate(_accuracy(bench, session, codec, host, dataset, ctx),
                                           "accuracy")
                if "energy" in run and power is not None:
                    rows += watch.annotate(energy_rows(
                        bench, job, session, power, input_data, ctx, store, watch, latency_s,
                        marker_windows="falls"), "energy")
                if "mlperf" in run:     # the run rules on m-lap-us (bench.py: no monitor)
                    timed = LapTimedSession(session)
                    rows += watch.annotate(run_mlperf_rules(
                        bench, job, RuleBoard(timed, timed.clock_hz, timed.counter, session,
                                              MlperfOutputs(codec)),
                        host, ctx, store, seed=seed, power=None,
                        counter_note=_icount_caveat(board)), "mlperf")
                for row in watch.totals(ctx, utc_now()):
                    totals[row.metric] = totals.get(row.metric, 0.0) + row.value
    except HarnessError as exc:
        if len(rows) == 1:  # nothing measured yet: an ordinary failure
            raise
        raise ModesFailed(exc, rows + _totals(ctx, totals)) from exc
    assert identity is not None
    rows[0] = replace(rows[0], notes=f"MLPerf Tiny DUT {identity.name}: {identity.profile}; "
                                     f"model {identity.model}")
    firmware = driver.firmware_size()
    if firmware is not None:
        rows += [ctx.row("info", "firmware_flash_bytes", firmware[0], "B", time=utc_now(),
                         notes="text + data of the firmware ELF"),
                 ctx.row("info", "firmware_ram_bytes", firmware[1], "B", time=utc_now(),
                         notes="data + bss (arena and stack included)")]
    return rows + _totals(ctx, totals), identity


def _totals(ctx: RowContext, totals: dict[str, float]) -> list[ResultRow]:
    return [ctx.row("info", metric, value, "events", time=utc_now())
            for metric, value in totals.items()]


def _phases(job: Job, performance: bool, accuracy: bool,
            monitored: bool) -> list[tuple[TimestampMode, tuple[str, ...]]]:
    """(timestamp mode, the modes run in it), in order; ``performance``: a mode timed on
    m-lap-us (the bench's performance or the run rules) is on."""
    if job.board.firmware == "preflashed":   # the firmware it has: energy if energy is asked
        return [("energy" if monitored else "performance",
                 ("performance", "accuracy", "energy", "mlperf"))]
    phases: list[tuple[TimestampMode, tuple[str, ...]]] = []
    if performance or accuracy or not monitored:
        phases.append(("performance", ("performance", "accuracy", "mlperf")))
    if monitored:
        phases.append(("energy", ("energy",)))
    return phases


def _session(job: Job, board: BoardSpec, driver: BoardDriver, url: str, codec: MlperfCodec,
             expected_s: float, timestamp_mode: str,
             power_cycle: Callable[[], None] | None = None) -> MlperfSession:
    """The session at the baud rate the DUT uses in this timestamp mode, with waits from
    the latency model and a recovery through the board's driver, or by ``power_cycle``
    through the monitor that sources it."""
    energy = timestamp_mode == "energy"
    baud = (board.energy_link.baudrate or board.serial.baudrate) if energy else \
        board.serial.baudrate
    rate = baud / 10 if energy else board.serial.bytes_per_s

    def relink(timeout: float) -> serial.SerialBase:
        return open_link(driver.relink(timeout), baudrate=baud)

    # a simulated or emulated board the harness did not start is not its to reset
    ours = job.board.firmware == "build" or board.kind == "hardware"
    recovery = Recovery(board=job.board.id, reset=driver.reset if ours else None,
                        relink=relink if ours else None,
                        power_cycle=power_cycle if ours else None)
    return MlperfSession(open_link(url, baudrate=baud), codec, bytes_per_s=rate,
                         recovery=recovery, expected_s_per_inference=expected_s)


def _check_identity(identity: MlperfIdentity, codec: MlperfCodec, job: Job, model_path: Path,
                    timestamp_mode: str) -> None:
    """The DUT must run the bench's benchmark in the timestamp mode this phase needs."""
    board = job.board.id
    if identity.model != codec.benchmark:
        raise BoardError(f"board {board}: `profile%` reports model {identity.model!r}; the "
                         f"bench's model {job.model.id} ({model_path.name}) is "
                         f"{codec.benchmark!r} by its tensors")
    if identity.timestamp_mode != timestamp_mode:
        needs = "energy" if timestamp_mode == "energy" else "performance and accuracy"
        raise BoardError(f"board {board}: the DUT runs MLPerf's {identity.timestamp_mode}-mode "
                         f"firmware (its boot banner or `timestamp%`); {needs} here need its "
                         f"{timestamp_mode}-mode firmware")


def _performance(bench: Bench, job: Job, board: BoardSpec, session: MlperfSession,
                 identity: MlperfIdentity, input_data: bytes, dataset: Dataset,
                 ctx: RowContext, store: RunStore) -> tuple[list[ResultRow], float]:
    mode = bench.spec.modes.performance
    assert mode is not None
    perf = measure_lap_performance(session, input_data, mode.warmups, mode.runs)
    # per INFER, the mean per inference in board-clock cycles: the latency figure and the
    # regression gate read raw/<job>.cycles.npy against the board's clock
    np.save(store.job_file("raw", job.key, ".cycles.npy"),
            np.rint(perf.cycles / perf.clock_hz * board.clock_hz).astype(np.int64))
    n = len(perf.cycles)
    note = join_notes(
        f"m-lap-us of {n} infer commands ({', '.join(map(str, perf.runs_per_sample))} "
        f"inferences, {mode.warmups} warm-ups each): median and p90 of their means per "
        f"inference; DUT {identity.name}",
        _icount_caveat(board), caveat(GENERATED_INPUTS) if dataset.generated else "")
    return [ctx.row("performance", "latency_median", perf.median_ms, "ms", time=utc_now(),
                    n=n, notes=note),
            ctx.row("performance", "latency_p90", perf.p90_ms, "ms", time=utc_now(), n=n,
                    notes=note)], perf.median_ms / 1e3


def _icount_caveat(board: BoardSpec) -> str:
    if board.cycle_counter.kind != "systick-icount":
        return ""
    return caveat(f"the emulated board's m-lap-us counts instructions, assuming 1 instruction "
                  f"per cycle at {board.clock_hz / 1e6:g} MHz (QEMU has no cycle timing)")


def _accuracy(bench: Bench, session: MlperfSession, codec: MlperfCodec, host: TflmHostModel,
              dataset: Dataset, ctx: RowContext) -> list[ResultRow]:
    mode = bench.spec.modes.accuracy
    assert mode is not None
    acc = measure_accuracy(session, dataset, host.input_spec, host.output_spec, mode.samples,
                           reference=host.run, reader=MlperfOutputs(codec))
    rows = []
    if acc.top1 is not None:
        rows.append(ctx.row("accuracy", "top1", acc.top1 * 100, "%", time=utc_now(), n=acc.n,
                            notes=dataset.description))
    if acc.auc is not None:
        rows.append(ctx.row("accuracy", "auc", acc.auc, "", time=utc_now(), n=acc.n,
                            notes=dataset.description))
    rows.append(ctx.row("accuracy", "host_reference_mismatches", acc.mismatches or 0, "outputs",
                        time=utc_now(), n=acc.n,
                        notes=caveat(GENERATED_INPUTS) if dataset.generated else
                        "m-results differing from the TFLM host runtime by more than the "
                        "printed precision (%0.3f)"))
    return rows
