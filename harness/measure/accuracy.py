"""Accuracy: stream a dataset through the DUT and score its outputs.

Scoring (top-1, or AUC for the anomaly-detection autoencoder) follows
`scoring.py`, the rule the host-side model cards use too. Every
output is also compared with the TFLM host runtime for the same input: a DUT
that disagrees with the reference is a finding even when the accuracy looks fine.
How a reply becomes an output and a comparison is the protocol's (`OutputReader`):
the binary protocol returns the output tensor's bytes, compared byte for byte;
MLPerf Tiny's DUTs print values (harness/dut/mlperf_session.py, `MlperfOutputs`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from harness.dut.client import DutClient
from harness.measure.scoring import Scorer
from harness.models.datasets import Dataset
from harness.tensors import TensorSpec


@dataclass(frozen=True)
class AccuracyResult:
    task: str
    n: int
    top1: float | None          # classification with labels
    auc: float | None           # anomaly detection with both classes present
    mismatches: int | None      # outputs differing from the host reference (None: no reference)
    labelled: bool              # False for generated inputs: no accuracy, only agreement


class OutputReader(Protocol):
    """What one INFER reply gives the scorer, and whether it agrees with the host's output."""

    def read(self, reply: Any) -> tuple[np.ndarray | None, float | None]:
        """The raw output (None if the board does not return it), and a reconstruction
        error the board computed itself (None if it does not)."""
        ...

    def agrees(self, raw_in: np.ndarray, reference_out: np.ndarray, reply: Any) -> bool: ...


@dataclass(frozen=True)
class RawOutputs:
    """The binary protocol's reply: the output tensor's bytes, compared byte for byte."""

    spec: TensorSpec

    def read(self, reply: Any) -> tuple[np.ndarray | None, float | None]:
        return self.spec.from_bytes(reply.output), None

    def agrees(self, raw_in: np.ndarray, reference_out: np.ndarray, reply: Any) -> bool:
        return bool(np.array_equal(reference_out, self.spec.from_bytes(reply.output)))


def measure_accuracy(session: DutClient, dataset: Dataset, input_spec: TensorSpec,
                     output_spec: TensorSpec, samples: int,
                     reference: Callable[[np.ndarray], np.ndarray] | None = None,
                     on_sample: Callable[[], None] | None = None,
                     reader: OutputReader | None = None) -> AccuracyResult:
    scorer = Scorer(dataset, input_spec, output_spec)
    reader = reader or RawOutputs(output_spec)
    mismatches = 0
    for i in range(min(samples, len(dataset))):
        raw_in = dataset.to_model_input(i, input_spec)
        session.upload(raw_in.tobytes())
        reply = session.infer(0, 1, per_run=False, want_output=True)
        raw_out, error = reader.read(reply)
        scorer.add(raw_in, raw_out, error)
        if reference is not None and not reader.agrees(raw_in, reference(raw_in), reply):
            mismatches += 1
        if on_sample:
            on_sample()
    return AccuracyResult(task=dataset.task, n=scorer.n, top1=scorer.top1(), auc=scorer.auc(),
                          mismatches=None if reference is None else mismatches,
                          labelled=scorer.labelled)
