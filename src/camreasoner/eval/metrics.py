"""Ranking metrics: scikit-learn's, with our answers where they are undefined.

Average precision is ``sklearn.metrics.average_precision_score``: thresholds at each distinct
score, from high to low, ``AP = sum_n (R_n - R_{n-1}) * P_n`` — a step function, no interpolation.
ROC-AUC is ``roc_auc_score``: the probability that a random positive outscores a random negative,
ties counting one half.

Where scikit-learn has no good answer we return ``None`` ourselves, before calling it: AP with no
positive item (scikit-learn warns and returns 0, which would read as "always wrong" in a table and
pull down ``avg_ap``; ``eval.score`` skips a None in its averages) and ROC-AUC with one class only
(scikit-learn 1.9 warns and returns nan, older versions raise). scikit-learn is imported when a metric is first computed, so that the
modules which only import ``eval.score`` (the eval runner) need not have it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _binary(y_true: Sequence[int], scores: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape:
        raise ValueError(f"y_true and scores differ in shape: {y.shape} vs {s.shape}")
    return y, s


def _sklearn_metrics():
    try:
        from sklearn import metrics
    except ImportError as e:  # the GPU environment's lock has no scikit-learn (see docs)
        raise ImportError("AP and ROC-AUC need scikit-learn (pip install scikit-learn)") from e
    return metrics


def average_precision(y_true: Sequence[int], scores: Sequence[float]) -> float | None:
    """AP of ``scores`` for binary ``y_true``; None when there is no positive (undefined)."""
    y, s = _binary(y_true, scores)
    if not y.any():
        return None
    return float(_sklearn_metrics().average_precision_score(y, s))


def roc_auc(y_true: Sequence[int], scores: Sequence[float]) -> float | None:
    """ROC-AUC; None when only one class is present (undefined)."""
    y, s = _binary(y_true, scores)
    if y.all() or not y.any():  # also an empty y: no class at all
        return None
    return float(_sklearn_metrics().roc_auc_score(y, s))
