"""A job's MLPerf rule mode (``modes.mlperf``): the rules' procedures, rows and record.

The figures get their own metrics (``mlperf_throughput``, ``mlperf_top1`` or
``mlperf_auc``, ``mlperf_energy_per_inference``), each noting the rules it
follows, beside the harness's own latency, accuracy and energy: those use the
bench's settings and a held-out split, these MLPerf Tiny's run rules and the
whole dataset. Everything the figures rest on goes to ``mlperf/<job>.json``
(results/mlperf_record.py), from which `harness submission` writes the files
MLCommons' runner would have written.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from harness.config.bench import Bench, MlperfMode
from harness.dut.client import DutClient
from harness.dut.transport import LinkStats
from harness.dut.waits import InferWaits
from harness.errors import MeasurementError
from harness.measure.accuracy import OutputReader
from harness.measure.mlperf_rules import (
    MonitorSupply,
    RuleSession,
    RunLog,
    measure_energy_trials,
    measure_throughput,
    rule_inputs,
    score_whole_dataset,
)
from harness.measure.recoveries import DISRUPTIONS
from harness.models.datasets import Dataset, load_dataset
from harness.models.mlperf_benchmarks import mlperf_benchmark
from harness.models.tflm_host import TflmHostModel
from harness.plan import Job
from harness.results.metadata import utc_now
from harness.results.mlperf_record import MlperfRecord, record_path, save_record
from harness.results.rows import (
    GENERATED_INPUTS,
    ResultRow,
    RowContext,
    caveat,
    caveats_in,
    join_notes,
)
from harness.results.store import RunStore

log = logging.getLogger(__name__)

MODE = "mlperf"
#: session counters that mean a command ran again: an energy pass with one is measured again
RERUNS = (*DISRUPTIONS, "resends")
RULES_NOTE = "MLPerf Tiny run rules"


class TimedSession(RuleSession, Protocol):
    """A rule session with the waits it learnt and the counters of what it went through."""

    @property
    def stats(self) -> LinkStats: ...

    @property
    def waits(self) -> InferWaits: ...


@dataclass(frozen=True)
class RuleBoard:
    """What the rules measure a board through, whatever its protocol: ``timed`` runs
    inferences on the board's timer (``clock_hz``, named ``counter``); accuracy is
    scored through ``scored``, whose replies ``reader`` reads (None: the output bytes)."""

    timed: TimedSession
    clock_hz: int
    counter: str
    scored: DutClient
    reader: OutputReader | None = None


def run_mlperf_rules(bench: Bench, job: Job, board: RuleBoard, host: TflmHostModel,
                     ctx: RowContext, store: RunStore, *, seed: int,
                     power: MonitorSupply | None, counter_note: str = "") -> list[ResultRow]:
    """Performance, accuracy (whole dataset) and, with a monitor, energy under the rules."""
    session = board.timed
    rules = bench.spec.modes.mlperf
    assert rules is not None
    benchmark = mlperf_benchmark(job.model.path, job.model.dataset)
    if benchmark == "sww":
        raise MeasurementError(f"job {job.key}: the streaming wake-word benchmark streams audio "
                               "over I2S from an interface board; the rule mode does not "
                               "drive one")
    # MLPerf scores its accuracy set whole: no held-out split here
    dataset = load_dataset(job.model.dataset, base_dir=bench.base_dir,
                           input_spec=host.input_spec, task=job.model.task, seed=seed)
    names = file_names(job.model.dataset, bench.base_dir, dataset)
    run_log = RunLog()
    inputs = rule_inputs(dataset, host.input_spec, names, max(rules.inputs,
                                                               rules.energy_trials))
    spec = host.output_spec

    def decode(raw: bytes) -> list[float]:
        return [round(float(v), 6) for v in spec.dequantize(spec.from_bytes(raw)).reshape(-1)]

    windows = measure_throughput(session, inputs[:rules.inputs], board.clock_hz, rules,
                                 session.waits.seconds_per_inference, run_log, decode)
    accuracy = None
    if rules.accuracy and not dataset.generated:
        accuracy = score_whole_dataset(board.scored, dataset, host.input_spec, spec, names,
                                       host.run, run_log, board.reader)
    trials, monitor_note = None, ""
    monitor_spec = bench.spec.monitor_for(job.board.id)
    if power is not None and monitor_spec is not None:
        monitor_note = (f"monitor {monitor_spec.id} ({monitor_spec.backend}) at "
                        f"{monitor_spec.sample_rate:g} S/s")
        per_inference = float(np.median([w.seconds / w.inferences for w in windows]))
        trials = measure_energy_trials(
            session, power, inputs[:rules.energy_trials], per_inference, rules, run_log,
            lambda: sum(getattr(session.stats, name) for name in RERUNS),
            store.job_file("traces", job.key, ".mlperf.npz"))
    else:
        log.info("job %s: no MLPerf energy runs, no power monitor powers %s", job.key,
                 job.board.id)
    gen_note = caveat(GENERATED_INPUTS) if dataset.generated else ""
    record = MlperfRecord(
        job=job.key, benchmark=benchmark, run_id=ctx.run_id,
        harness_version=ctx.harness_version, git_commit=ctx.git_commit, board=ctx.board,
        board_def=ctx.board_def, board_kind=ctx.board_kind, source=ctx.source,
        model=ctx.model, variant=ctx.variant, protocol=ctx.protocol, clock_hz=board.clock_hz,
        counter=board.counter,
        rules=rules.model_dump(), dataset=job.model.dataset,
        dataset_description=dataset.description, performance=windows, accuracy=accuracy,
        energy=trials, energy_monitor=monitor_note,
        caveats=caveats_in(join_notes(gen_note, counter_note)), log=run_log.phases)
    save_record(record_path(store.run_dir, job.key), record)
    return _rows(record, rules, ctx, dataset, join_notes(gen_note, counter_note))


def _timer(record: MlperfRecord) -> str:
    return "the DUT's m-lap-us timer" if record.protocol == "mlperf" else "the board's timer"


def _rows(record: MlperfRecord, rules: MlperfMode, ctx: RowContext, dataset: Dataset,
          notes: str) -> list[ResultRow]:
    runs = (f"{RULES_NOTE}: median of {len(record.performance)} inputs, each run ≥ "
            f"{rules.min_duration_s:g} s and ≥ {rules.min_inferences} inferences on "
            f"{_timer(record)}")
    rows = [ctx.row(MODE, "mlperf_throughput", record.median_throughput, "inf/s",
                    time=utc_now(), n=len(record.performance), notes=join_notes(runs, notes))]
    acc = record.accuracy
    if acc is not None:
        whole = (f"{RULES_NOTE}: the whole dataset ({len(acc.files)} files, no held-out "
                 f"split); {dataset.description}")
        if acc.top1_pct is not None:
            rows.append(ctx.row(MODE, "mlperf_top1", acc.top1_pct, "%", time=utc_now(),
                                n=len(acc.files), notes=whole))
        if acc.auc is not None:
            rows.append(ctx.row(MODE, "mlperf_auc", acc.auc, "", time=utc_now(),
                                n=len(acc.files), notes=f"{whole}; AUC per file"))
    energy = record.median_energy_j
    if energy is not None and record.energy:
        note = (f"{RULES_NOTE}: median of {len(record.energy)} runs of ≥ "
                f"{rules.min_duration_s:g} s, one input each; {record.energy_monitor}")
        rows.append(ctx.row(MODE, "mlperf_energy_per_inference", energy * 1e6, "uJ",
                            time=utc_now(), n=len(record.energy), notes=join_notes(note, notes)))
    return rows


def file_names(ref: str, base_dir: Path, dataset: Dataset) -> dict[int, str]:
    """The name of each of the dataset's files by its index (its group, when samples are
    windows of files): y_labels.csv's for an ``mlperf:`` folder, whose order the dataset
    keeps, else ``<dataset>[<index>]``."""
    scheme, _, arg = ref.partition(":")
    if scheme == "mlperf":
        folder = Path(arg.partition("#")[0]).expanduser()
        folder = folder if folder.is_absolute() else base_dir / folder
        with (folder / "y_labels.csv").open(newline="") as fh:
            rows = [row for row in csv.reader(fh) if row and "".join(row).strip()]
        return {i: row[0].strip() for i, row in enumerate(rows)}
    ids = np.unique(dataset.groups) if dataset.groups is not None else range(len(dataset))
    return {int(i): f"{dataset.name}[{int(i)}]" for i in ids}
