"""What `harness run --dry-run` prints: each job's modes and how long they keep the board busy.

The time per inference is the latency model's (`boards/latency_model.py`) for the
job's model file on its board's core, kernels and clock; the number of inferences
and the idle time are the bench's mode settings. Building, flashing, starting a
board, uploading the model and the link's round trips are not in the figure.
A variant that is not built yet has no file to estimate from, and says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from harness.config.bench import Bench, MlperfMode
from harness.errors import HarnessError
from harness.estimate import board_latency
from harness.models.resolve import ResolvedModel
from harness.models.tflite_inspect import inspect_tflite
from harness.plan import Job, job_board

ModelKey = tuple[str, str]


@dataclass(frozen=True)
class JobEstimate:
    job: Job
    modes: tuple[str, ...]
    latency_s: float | None   # one inference on the board, latency model (None: unknown)
    inferences: int
    idle_s: float             # waited between energy windows, whatever the latency
    note: str = ""            # why the latency is unknown, or what the figure leaves out

    @property
    def seconds(self) -> float | None:
        """The board's time for the job's modes (None when the latency is unknown)."""
        if self.latency_s is None:
            return None
        return self.inferences * self.latency_s + self.idle_s


def estimate_jobs(bench: Bench, jobs: list[Job],
                  models: Mapping[ModelKey, ResolvedModel]) -> list[JobEstimate]:
    """One estimate per job; ``models`` holds the files located so far (`locate_models`)."""
    return [_estimate(bench, job, models.get((job.model.id, job.variant))) for job in jobs]


def _estimate(bench: Bench, job: Job, model: ResolvedModel | None) -> JobEstimate:
    modes = bench.spec.modes
    monitored = bench.spec.monitor_for(job.board.id) is not None
    names = tuple(name for name, on in (
        ("performance", modes.performance), ("accuracy", modes.accuracy),
        ("energy", modes.energy and monitored), ("mlperf", modes.mlperf),
        ("profile", modes.profile)) if on)
    board = job_board(bench, job)
    note = ""
    latency: float | None = None
    if model is None:
        note = "not built yet: no file to estimate from"
    elif model.path is None:
        note = f"skipped: {model.skip_reason}"
    else:
        try:
            latency = board_latency(inspect_tflite(model.path), board).seconds
        except HarnessError as exc:
            note = str(exc)
    inferences, idle = 0, 0.0
    if modes.performance:
        inferences += modes.performance.warmups + modes.performance.runs
    if modes.accuracy:
        inferences += modes.accuracy.samples
    if modes.profile:       # unprofiled reference runs, then the profiled ones
        inferences += modes.profile.warmups + 2 * modes.profile.runs
    if modes.energy and monitored:
        inferences += modes.energy.windows * modes.energy.inferences_per_window
        idle += modes.energy.idle_s * (modes.energy.windows + 1)
    if modes.mlperf and latency is not None:
        runs, mlperf_idle = _mlperf_inferences(modes.mlperf, latency, monitored)
        inferences += runs
        idle += mlperf_idle
        note = "MLPerf accuracy over the whole dataset not included"
    if latency is not None and board.kind == "sim" and job.board.pace == "instant":
        note = "; ".join(filter(None, [note, "simulated board at instant pace: the board's "
                                       "time is modelled, not waited"]))
    return JobEstimate(job, names, latency, inferences, idle, note)


def _mlperf_inferences(rules: MlperfMode, latency_s: float, monitored: bool) -> tuple[int, float]:
    """Inferences of the rule mode's timed runs (each at least min_duration_s and
    min_inferences long) and its energy trials, and the idle time between trials."""
    per_run = max(rules.min_inferences, int(rules.min_duration_s / latency_s) + 1)
    inferences = rules.inputs * (per_run + rules.warmups)
    idle = 0.0
    if monitored:
        inferences += rules.energy_trials * per_run
        idle = rules.idle_s * rules.energy_trials
    return inferences, idle
