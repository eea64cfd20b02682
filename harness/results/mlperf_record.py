"""What a job measured under MLPerf Tiny's run rules, saved as ``mlperf/<job>.json``.

The rule mode (harness/measure/mlperf_job.py) writes one record per job beside
results.csv; `harness submission` (harness/submission/) reads them back to write
the files MLCommons' runner would have written. A record holds every window,
file and trial the figures come from, and the run's log lines, so the
submission files are made from saved data only.
"""

from __future__ import annotations

import json
from pathlib import Path
from statistics import median

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import HarnessError
from harness.results.store import write_atomic

RECORD_FOLDER = "mlperf"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ThroughputWindow(_Frozen):
    """One timed run on one input: ``inferences`` in ``seconds`` of the board's timer."""

    file: str
    label: int
    inferences: int
    warmups: int
    commands: int = Field(description="INFER commands the run was sent as")
    seconds: float
    outputs: list[float] = Field(description="the run's last output, in real units")

    @property
    def throughput(self) -> float:
        return self.inferences / self.seconds


class FileScore(_Frozen):
    """One file of the accuracy set: per inference, the output (or the AD score)."""

    file: str
    label: int
    results: list[list[float]]


class AccuracyScore(_Frozen):
    task: str
    top1_pct: float | None
    auc: float | None
    inferences: int
    host_mismatches: int = Field(description="outputs differing from the TFLM host runtime")
    files: list[FileScore]


class EnergyTrial(_Frozen):
    """One energy run on one input: ``inferences`` inside ``elapsed_s`` of marker windows."""

    file: str
    inferences: int
    elapsed_s: float
    energy_j: float

    @property
    def per_inference_j(self) -> float:
        return self.energy_j / self.inferences

    @property
    def power_w(self) -> float:
        return self.energy_j / self.elapsed_s


class MlperfRecord(_Frozen):
    job: str
    benchmark: str | None = Field(description="ic, kws, vww, ad, or None when the model "
                                  "names no MLPerf Tiny benchmark")
    run_id: str
    harness_version: str
    git_commit: str
    board: str
    board_def: str
    board_kind: str
    source: str
    model: str
    variant: str
    protocol: str = Field(default="harness", description="what the board speaks: harness "
                          "(docs/protocol.md) or mlperf (MLPerf Tiny's text protocol)")
    clock_hz: int = Field(description="the rate of the timer the runs are timed on: the "
                          "board's counter, or 1 MHz for an MLPerf DUT's m-lap-us")
    counter: str = Field(description="that timer")
    rules: dict[str, float | int | bool]
    dataset: str
    dataset_description: str
    performance: list[ThroughputWindow]
    accuracy: AccuracyScore | None
    energy: list[EnergyTrial] | None
    energy_monitor: str = ""
    caveats: list[str] = Field(default_factory=list)
    log: dict[str, list[str]] = Field(default_factory=dict, description="phase -> log lines")

    @property
    def median_throughput(self) -> float:
        return median(w.throughput for w in self.performance)

    @property
    def median_energy_j(self) -> float | None:
        return median(t.per_inference_j for t in self.energy) if self.energy else None


def record_path(run_dir: Path, job_key: str) -> Path:
    return run_dir / RECORD_FOLDER / (job_key.replace("/", "__") + ".json")


def save_record(path: Path, record: MlperfRecord) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, record.model_dump_json(indent=1) + "\n")


def load_records(run_dir: Path) -> list[MlperfRecord]:
    """Every record of a run, in job order; a damaged one is an error naming the file."""
    records = []
    for path in sorted((run_dir / RECORD_FOLDER).glob("*.json")):
        try:
            records.append(MlperfRecord.model_validate(json.loads(path.read_text("utf-8"))))
        except (ValueError, ValidationError) as exc:
            raise HarnessError(f"{path}: not an MLPerf rule-mode record: {exc}") from exc
    return records
