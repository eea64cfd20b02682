"""How a model's outputs over a dataset become an accuracy: one rule for boards and host.

Classifiers are scored by top-1. The anomaly-detection autoencoder is scored by
ROC AUC of the reconstruction error (mean squared, in real units), per source
file (mean over its windows) when the dataset knows the files, as MLPerf Tiny
scores AD. Generated inputs have no labels and get no accuracy.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from harness.models.datasets import Dataset
from harness.tensors import TensorSpec


class Scorer:
    """Collects raw outputs for the dataset's samples 0, 1, 2, … and scores them."""

    def __init__(self, dataset: Dataset, input_spec: TensorSpec,
                 output_spec: TensorSpec) -> None:
        self._dataset = dataset
        self._in, self._out = input_spec, output_spec
        self._outputs: list[np.ndarray] = []
        self._errors: list[float] = []

    def add(self, raw_in: np.ndarray, raw_out: np.ndarray | None,
            error: float | None = None) -> None:
        """One sample's raw output; or, for a board that reports only the reconstruction
        error it computed itself (MLPerf Tiny's ad01 DUT), ``error`` and no output."""
        self._outputs.append(np.empty(0) if raw_out is None else np.asarray(raw_out).reshape(-1))
        if self._dataset.task == "anomaly":
            if error is None:
                if raw_out is None:
                    raise ValueError("an anomaly sample needs its raw output or the error "
                                     "the board computed")
                recon = self._out.dequantize(raw_out).reshape(-1)
                real_in = self._in.dequantize(raw_in).reshape(-1)
                error = float(np.mean((real_in - recon) ** 2))
            self._errors.append(float(error))

    @property
    def n(self) -> int:
        return len(self._outputs)

    @property
    def labelled(self) -> bool:
        return not self._dataset.generated and bool(np.all(self._dataset.y[:self.n] >= 0))

    def top1(self) -> float | None:
        if not self.labelled or self._dataset.task != "classification" or not self.n:
            return None
        predicted = np.argmax(np.stack(self._outputs), axis=1)
        return float(np.mean(predicted == self._dataset.y[:self.n]))

    def auc(self) -> float | None:
        labels = self._dataset.y[:self.n]
        if not self.labelled or self._dataset.task != "anomaly" or len(np.unique(labels)) != 2:
            return None
        groups = None if self._dataset.groups is None else self._dataset.groups[:self.n]
        return anomaly_auc(np.asarray(self._errors), labels, groups)

    def accuracy(self) -> float | None:
        """The task's figure: top-1 for classifiers, AUC for anomaly detection."""
        return self.auc() if self._dataset.task == "anomaly" else self.top1()


def anomaly_auc(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray | None) -> float:
    """ROC AUC of reconstruction errors; per file (mean of its windows) with ``groups``."""
    if groups is None:
        return float(roc_auc_score(labels, scores))
    ids, inverse = np.unique(groups, return_inverse=True)
    file_scores = np.bincount(inverse, weights=scores) / np.bincount(inverse)
    file_labels = np.zeros(len(ids), dtype=labels.dtype)
    file_labels[inverse] = labels
    return float(roc_auc_score(file_labels, file_scores))
