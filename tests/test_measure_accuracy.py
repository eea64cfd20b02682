"""Scoring rules of the accuracy procedure."""

from __future__ import annotations

import numpy as np

from harness.measure.scoring import anomaly_auc


def test_auc_per_file_averages_each_files_windows():
    # Window by window the classes overlap (AUC < 1); file means separate them fully.
    scores = np.array([1.0, 5.0, 2.0, 4.0, 3.0, 6.0, 2.5, 7.0])
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    groups = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    assert anomaly_auc(scores, labels, None) == 0.75  # 12 of 16 pairs ordered
    assert anomaly_auc(scores, labels, groups) == 1.0
