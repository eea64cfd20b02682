"""Accuracy: stream a dataset through the DUT and score its outputs.

Classifiers get top-1; the anomaly-detection autoencoder gets ROC AUC of the
reconstruction error (per source file when the dataset knows the files). Every
output is also compared with the TFLM host runtime for the same input: a DUT
that disagrees with the reference is a finding even when the accuracy looks fine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

from harness.dut.session import DutSession
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
    n = min(samples, len(dataset))
    outputs: list[np.ndarray] = []
    scores: list[float] = []
    mismatches = 0
    for i in range(n):
        raw_in = dataset.to_model_input(i, input_spec)
        session.upload(raw_in.tobytes())
        result = session.infer(0, 1, per_run=False, want_output=True)
        raw_out = output_spec.from_bytes(result.output)
        outputs.append(raw_out.reshape(-1))
        if dataset.task == "anomaly":
            recon = output_spec.dequantize(raw_out).reshape(-1)
            real_in = input_spec.dequantize(raw_in).reshape(-1)
            scores.append(float(np.mean((real_in - recon) ** 2)))
        if reference is not None and not np.array_equal(reference(raw_in), raw_out):
            mismatches += 1
        if on_sample:
            on_sample()
    labels = np.asarray(dataset.y[:n])
    labelled = not dataset.generated and bool(np.all(labels >= 0))
    top1 = auc = None
    if labelled and dataset.task == "classification":
        predicted = np.argmax(np.stack(outputs), axis=1)
        top1 = float(np.mean(predicted == labels))
    elif labelled and dataset.task == "anomaly" and len(np.unique(labels)) == 2:
        auc = anomaly_auc(np.asarray(scores), labels,
                          None if dataset.groups is None else dataset.groups[:n])
    return AccuracyResult(task=dataset.task, n=n, top1=top1, auc=auc,
                          mismatches=None if reference is None else mismatches,
                          labelled=labelled)


def anomaly_auc(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray | None) -> float:
    """ROC AUC of reconstruction error; per source file (mean over its windows) when
    windows come from files, as MLPerf Tiny scores the anomaly-detection benchmark."""
    if groups is None:
        return float(roc_auc_score(labels, scores))
    ids, inverse = np.unique(groups, return_inverse=True)
    file_scores = np.bincount(inverse, weights=scores) / np.bincount(inverse)
    file_labels = np.zeros(len(ids), dtype=labels.dtype)
    file_labels[inverse] = labels
    return float(roc_auc_score(file_labels, file_scores))
