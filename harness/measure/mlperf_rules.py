"""MLPerf Tiny's run rules as procedures over a DUT session (docs/mlperf.md).

Performance: one timed run per input, on ``inputs`` different inputs of the
dataset; each run lasts at least ``min_duration_s`` and has at least
``min_inferences`` inferences, both on the board's own timer; the figure is the
median of the runs' throughputs (inferences / timed seconds), as MLCommons'
runner computes it. Accuracy: every sample of the dataset, which for MLPerf is
its accuracy set, scored as `scoring.py` scores (top-1; per-file AUC for AD).
Energy: ``energy_trials`` runs of the same length under the power monitor, one
input each; energy per inference is each run's energy over its inferences,
and the figure their median.

Only ``upload`` and ``infer`` are said to the board, so any session with that
surface serves. The number of inferences comes from the board's timer, never
from host wall time (which holds the link's time too): a short pilot run on the
first input, sized from the expected latency, gives the time per inference,
and every run's own time sizes the next. A run that still comes out short is
sent again, longer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

import numpy as np

from harness.config.bench import MlperfMode
from harness.dut.client import DutClient
from harness.dut.messages import InferResult
from harness.errors import MeasurementError, MonitorDisconnected
from harness.measure.accuracy import OutputReader, RawOutputs
from harness.measure.energy_run import energy_from_trace
from harness.measure.scoring import Scorer
from harness.models.datasets import Dataset
from harness.power.energy import EnergyResult
from harness.power.monitor import PowerMonitor
from harness.results.mlperf_record import (
    AccuracyScore,
    EnergyTrial,
    FileScore,
    ThroughputWindow,
)
from harness.tensors import TensorSpec

#: most runs one INFER carries (its run count is a u16); longer runs take several
MAX_RUNS_PER_INFER = 0xFFFF
#: one INFER's share of a run, at most (the session's hang detection waits for a whole one)
MAX_COMMAND_S = 15.0
#: runs are sized this much over the minimum, so timer jitter cannot bring one below it
DURATION_MARGIN = 1.05
#: how long the pilot run that times the first input should take, by the expected latency
PILOT_S = 1.0
#: a run found short is sent again, longer, at most this many times in all
ATTEMPTS = 3


class RuleSession(Protocol):
    """What the rules say to a board: an input, then inferences on it."""

    def upload(self, data: bytes) -> object: ...

    def infer(self, warmups: int = 0, runs: int = 1, per_run: bool = True,
              want_output: bool = True, timeout: float | None = None) -> InferResult: ...


class MonitorSupply(Protocol):
    """The job's power monitor (job_power.JobPower): the open one, and open it again."""

    @property
    def monitor(self) -> PowerMonitor: ...

    def open(self) -> PowerMonitor: ...


@dataclass(frozen=True)
class RuleInput:
    name: str       # the dataset file it came from
    label: int
    data: bytes     # the model input as the board receives it


@dataclass(frozen=True)
class RunPlan:
    """A timed run of ``commands`` INFERs of ``per_command`` inferences each."""

    commands: int
    per_command: int

    @property
    def inferences(self) -> int:
        return self.commands * self.per_command


class RunLog:
    """Timestamped lines in the style of MLCommons' runner log, kept per phase."""

    def __init__(self) -> None:
        self.phases: dict[str, list[str]] = {}

    def __call__(self, phase: str, text: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%m%d.%H%M%S")
        self.phases.setdefault(phase, []).append(f"{stamp} ulp-mlperf: {text}")


def plan_run(seconds_per_inference: float, rules: MlperfMode) -> RunPlan:
    """The shortest run that meets both rules at this time per inference, in INFERs a
    board can take (a u16 run count, and not longer than MAX_COMMAND_S each)."""
    if not seconds_per_inference > 0:
        raise MeasurementError("the board's timer reported no time for an inference: the "
                               "run length cannot be chosen")
    # (less a hair, so a quotient that should be whole and came out a rounding over it
    # does not add an inference)
    wanted = max(rules.min_inferences, math.ceil(
        rules.min_duration_s * DURATION_MARGIN / seconds_per_inference - 1e-9))
    commands = max(math.ceil(wanted / MAX_RUNS_PER_INFER),
                   math.ceil(wanted * seconds_per_inference / MAX_COMMAND_S))
    return RunPlan(commands, math.ceil(wanted / commands))


def rule_inputs(dataset: Dataset, spec: TensorSpec, names: Mapping[int, str],
                count: int) -> list[RuleInput]:
    """The first input of each of the dataset's first ``count`` files (MLCommons' runner
    sends files in y_labels.csv order; for AD, the first window of each)."""
    inputs: list[RuleInput] = []
    seen: set[int] = set()
    for i in range(len(dataset)):
        file = int(dataset.groups[i]) if dataset.groups is not None else i
        if file in seen:
            continue
        seen.add(file)
        inputs.append(RuleInput(names[file], int(dataset.y[i]),
                                dataset.to_model_input(i, spec).tobytes()))
        if len(inputs) == count:
            return inputs
    raise MeasurementError(f"the run rules need {count} different inputs; dataset "
                           f"{dataset.name!r} has {len(inputs)}")


def measure_throughput(session: RuleSession, inputs: Sequence[RuleInput], clock_hz: int,
                       rules: MlperfMode, expected_s: float, log: RunLog,
                       decode: Callable[[bytes], list[float]]) -> list[ThroughputWindow]:
    """One timed run per input, each meeting the length rules on the board's timer."""
    per_inference: float | None = None
    windows = []
    for number, item in enumerate(inputs, start=1):
        log("performance", f"Loading file {item.name}")
        session.upload(item.data)
        if per_inference is None:
            per_inference = _pilot(session, clock_hz, expected_s, log)
        seconds, output, plan = _timed_run(session, per_inference, rules, clock_hz, log,
                                           "performance")
        per_inference = seconds / plan.inferences
        window = ThroughputWindow(file=item.name, label=item.label,
                                  inferences=plan.inferences, warmups=rules.warmups,
                                  commands=plan.commands, seconds=seconds,
                                  outputs=decode(output))
        log("performance", f"Performance results for window {number}:")
        log("performance", f"  # Inferences : {window.inferences:>13}")
        log("performance", f"  Runtime      : {window.seconds:>10.3f} sec.")
        log("performance", f"  Throughput   : {window.throughput:>10.3f} inf./sec.")
        windows.append(window)
    return windows


def _pilot(session: RuleSession, clock_hz: int, expected_s: float, log: RunLog) -> float:
    """Seconds per inference on the board's timer, from a run of about PILOT_S."""
    n = max(1, min(100, int(PILOT_S / expected_s))) if expected_s > 0 else 1
    result = session.infer(0, n, per_run=False, want_output=False)
    seconds = result.total_cycles / clock_hz
    log("performance", f"Pilot run: {n} inferences in {seconds:.6f} s of the board's timer")
    return seconds / n


def _timed_run(session: RuleSession, per_inference: float, rules: MlperfMode, clock_hz: int,
               log: RunLog, phase: str) -> tuple[float, bytes, RunPlan]:
    """A run that lasts at least the minimum on the board's timer: its seconds, last
    output and plan. A run found short (the board got faster) is sent again, longer."""
    for _ in range(ATTEMPTS):
        plan = plan_run(per_inference, rules)
        seconds, output = 0.0, b""
        for k in range(plan.commands):
            last = k == plan.commands - 1
            result = session.infer(rules.warmups if k == 0 else 0, plan.per_command,
                                   per_run=False, want_output=last)
            seconds += result.total_cycles / clock_hz
            if last:
                output = result.output or b""
        if seconds >= rules.min_duration_s:
            return seconds, output, plan
        log(phase, f"Run of {plan.inferences} inferences took {seconds:.3f} s, below "
                   f"{rules.min_duration_s:g} s: sent again, longer")
        per_inference = seconds / plan.inferences
    raise MeasurementError(f"no run reached {rules.min_duration_s:g} s on the board's timer in "
                           f"{ATTEMPTS} attempts (last: {seconds:.3f} s)")


def score_whole_dataset(session: DutClient, dataset: Dataset, input_spec: TensorSpec,
                        output_spec: TensorSpec, names: Mapping[int, str],
                        reference: Callable[[np.ndarray], np.ndarray] | None,
                        log: RunLog, reader: OutputReader | None = None) -> AccuracyScore:
    """Every sample of the dataset through the board, scored by `scoring.Scorer`; how a
    reply becomes an output (and agrees with the host's) is the protocol's ``reader``."""
    scorer = Scorer(dataset, input_spec, output_spec)
    reader = reader or RawOutputs(output_spec)
    results: dict[int, list[list[float]]] = {}
    mismatches = 0
    for i in range(len(dataset)):
        raw_in = dataset.to_model_input(i, input_spec)
        session.upload(raw_in.tobytes())
        reply = session.infer(0, 1, per_run=False, want_output=True)
        raw_out, error = reader.read(reply)
        scorer.add(raw_in, raw_out, error)
        if reference is not None and not reader.agrees(raw_in, reference(raw_in), reply):
            mismatches += 1
        file = int(dataset.groups[i]) if dataset.groups is not None else i
        results.setdefault(file, []).append(_result_vector(dataset, input_spec, output_spec,
                                                           raw_in, raw_out, error))
    top1, auc = scorer.top1(), scorer.auc()
    files = [FileScore(file=names[f], label=int(dataset.y[_first(dataset, f)]), results=r)
             for f, r in results.items()]
    log("accuracy", f"{len(files)} files, {scorer.n} inferences; {mismatches} outputs differ "
                    "from the TFLM host runtime")
    return AccuracyScore(task=dataset.task, top1_pct=None if top1 is None else top1 * 100,
                         auc=auc, inferences=scorer.n, host_mismatches=mismatches, files=files)


def _result_vector(dataset: Dataset, input_spec: TensorSpec, output_spec: TensorSpec,
                   raw_in: np.ndarray, raw_out: np.ndarray | None,
                   error: float | None) -> list[float]:
    """What the runner records per inference: the output, or for AD the window's score
    (mean squared reconstruction error, the figure the AUC ranks; a board that computes
    it itself, MLPerf's ad01 DUT, gives it as ``error``)."""
    if error is not None:
        return [float(error)]
    if raw_out is None:
        raise MeasurementError("the board returned neither an output nor a score")
    out = output_spec.dequantize(raw_out).reshape(-1)
    if dataset.task != "anomaly":
        return [round(float(v), 6) for v in out]
    real_in = input_spec.dequantize(raw_in).reshape(-1)
    return [float(np.mean((real_in - out) ** 2))]


def _first(dataset: Dataset, file: int) -> int:
    if dataset.groups is None:
        return file
    return int(np.flatnonzero(dataset.groups == file)[0])


def measure_energy_trials(session: RuleSession, power: MonitorSupply,
                          inputs: Sequence[RuleInput], seconds_per_inference: float,
                          rules: MlperfMode, log: RunLog, disruptions: Callable[[], int],
                          trace_path: Path | None = None) -> list[EnergyTrial]:
    """One run per input under the monitor, all of one length (the trace's marker windows
    share one count); a trial's energy is the sum of its windows.

    A pass in which a command ran again (the board was reset, hung or lost, or an
    exchange was resent: ``disruptions()``, a running count, went up) or the monitor
    went away (it is opened again) is measured again (bounded); so is one with a run
    found short on the trace.
    """
    problems: list[str] = []
    per_inference = seconds_per_inference
    for _ in range(ATTEMPTS):
        plan = plan_run(per_inference, rules)
        before = disruptions()
        try:
            result = _energy_pass(session, power.monitor, inputs, plan, per_inference, rules,
                                  trace_path)
        except MonitorDisconnected as exc:
            problems.append(str(exc))
            power.open()
            log("energy", f"Energy runs measured again: {problems[-1]}")
            continue
        if disruptions() > before:
            problems.append(f"{disruptions() - before} command(s) ran again during the runs "
                            "(a board reset, hang, lost port or resend)")
            log("energy", f"Energy runs measured again: {problems[-1]}")
            continue
        trials = _trials(result, inputs, plan)
        short = min(t.elapsed_s for t in trials)
        if short >= rules.min_duration_s:
            for number, trial in enumerate(trials):
                _log_trial(log, number, trial)
            return trials
        problems.append(f"a run lasted {short:.3f} s on the trace, below "
                        f"{rules.min_duration_s:g} s")
        per_inference = short / plan.inferences
        log("energy", f"Energy runs measured again: {problems[-1]}")
    raise MeasurementError(f"no valid MLPerf energy measurement in {ATTEMPTS} attempts: "
                           + "; ".join(problems))


def _energy_pass(session: RuleSession, monitor: PowerMonitor, inputs: Sequence[RuleInput],
                 plan: RunPlan, per_inference: float, rules: MlperfMode,
                 trace_path: Path | None) -> EnergyResult:
    spans: list[tuple[float, float]] = []   # host send/reply times, for marker-less monitors
    monitor.start()
    try:
        time.sleep(rules.idle_s)
        for item in inputs:
            session.upload(item.data)
            for k in range(plan.commands):
                sent = time.monotonic()
                session.infer(rules.warmups if k == 0 else 0, plan.per_command,
                              per_run=False, want_output=False)
                spans.append((sent, time.monotonic()))
            time.sleep(rules.idle_s)
    finally:
        monitor.stop()
    trace = monitor.read()
    if trace_path is not None:
        trace.save(trace_path)  # the raw trace beside the figures, to recompute them
    return energy_from_trace(trace, spans, plan.per_command, per_inference)


def _trials(result: EnergyResult, inputs: Sequence[RuleInput], plan: RunPlan
            ) -> list[EnergyTrial]:
    windows = result.windows
    if len(windows) != len(inputs) * plan.commands:
        raise MeasurementError(f"the trace has {len(windows)} marker windows, expected "
                               f"{len(inputs)} runs x {plan.commands} INFERs")
    trials = []
    for i, item in enumerate(inputs):
        mine = windows[i * plan.commands:(i + 1) * plan.commands]
        trials.append(EnergyTrial(file=item.name, inferences=plan.inferences,
                                  elapsed_s=sum(w.duration_s for w in mine),
                                  energy_j=sum(w.energy_j for w in mine)))
    return trials


def _log_trial(log: RunLog, number: int, trial: EnergyTrial) -> None:
    log("energy", f"Energy data for trial {number} ({trial.file})")
    log("energy", f"  Elapsed time  : {trial.elapsed_s}")
    log("energy", f"  Inferences    : {trial.inferences}")
    log("energy", f"  Power         : {trial.power_w * 1e3:5.4f} mW.")
    log("energy", f"  Total Energy  : {trial.energy_j * 1e6:.3f} uJ")
    log("energy", f"  Energy/Inf    : {trial.per_inference_j * 1e6:.3f} uJ/inf")
