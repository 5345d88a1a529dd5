"""Ranking metrics in plain numpy, with scikit-learn's definitions (tests compare against it).

Average precision (``sklearn.metrics.average_precision_score``): with thresholds at each distinct
score, from high to low, ``AP = sum_n (R_n - R_{n-1}) * P_n`` — a step function, no interpolation.
ROC-AUC: the probability that a random positive outscores a random negative, ties counting one
half (the Mann-Whitney U statistic over n_pos * n_neg).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def average_precision(y_true: Sequence[int], scores: Sequence[float]) -> float | None:
    """AP of ``scores`` for binary ``y_true``; None when there is no positive (undefined)."""
    y = np.asarray(y_true, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape:
        raise ValueError(f"y_true and scores differ in shape: {y.shape} vs {s.shape}")
    n_pos = int(y.sum())
    if n_pos == 0:
        return None
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    # Last index of each run of equal scores: one threshold per distinct score.
    distinct = np.r_[np.nonzero(np.diff(s))[0], y.size - 1]
    tp = np.cumsum(y)[distinct]
    fp = (distinct + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / n_pos
    recall_prev = np.r_[0.0, recall[:-1]]
    return float(np.sum((recall - recall_prev) * precision))


def roc_auc(y_true: Sequence[int], scores: Sequence[float]) -> float | None:
    """ROC-AUC; None when only one class is present (undefined)."""
    y = np.asarray(y_true, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    # Average ranks (1-based) handle ties as one half each.
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(y.size, dtype=np.float64)
    sorted_s = s[order]
    i = 0
    while i < y.size:
        j = i
        while j + 1 < y.size and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))
