"""Accuracy: stream a dataset through the DUT and score its outputs.

Scoring (top-1, or AUC for the anomaly-detection autoencoder) follows
`scoring.py`, the rule the host-side model cards use too. Every
output is also compared with the TFLM host runtime for the same input: a DUT
that disagrees with the reference is a finding even when the accuracy looks fine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from harness.dut.session import DutSession
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


def measure_accuracy(session: DutSession, dataset: Dataset, input_spec: TensorSpec,
                     output_spec: TensorSpec, samples: int,
                     reference: Callable[[np.ndarray], np.ndarray] | None = None,
                     on_sample: Callable[[], None] | None = None) -> AccuracyResult:
    scorer = Scorer(dataset, input_spec, output_spec)
    mismatches = 0
    for i in range(min(samples, len(dataset))):
        raw_in = dataset.to_model_input(i, input_spec)
        session.upload(raw_in.tobytes())
        result = session.infer(0, 1, per_run=False, want_output=True)
        raw_out = output_spec.from_bytes(result.output)
        scorer.add(raw_in, raw_out)
        if reference is not None and not np.array_equal(reference(raw_in), raw_out):
            mismatches += 1
        if on_sample:
            on_sample()
    return AccuracyResult(task=dataset.task, n=scorer.n, top1=scorer.top1(), auc=scorer.auc(),
                          mismatches=None if reference is None else mismatches,
                          labelled=scorer.labelled)
