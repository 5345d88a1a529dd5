"""Does a model read the clip? A permutation test on its predictions.

Chance rows say what a constant answer scores; they do not say whether a score above them comes
from the video. Here each task's predictions are shuffled among that task's items (clip a's
question gets the answer the model gave for clip b) and rescored, ``rounds`` times. A model that
ignores the video scores the same on the shuffled sets as on the real one; one that reads it
scores lower there. ``p = (1 + rounds scoring >= observed) / (1 + rounds)``.

For binary tasks every clip is asked the same question, so the test is exactly "does the answer
depend on the video". Multiple-choice items may list their options in a different order a clip,
so there it tests video and option order together. Small test sets give wide nulls: read
``null_p95`` beside ``observed``.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterable
from typing import Any

import numpy as np

from camreasoner.data.schema import Item
from camreasoner.eval.score import score

log = logging.getLogger(__name__)


def _statistics(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    b = metrics.get("binary", {})
    for key in ("avg_ap", "avg_ap_prob"):
        if b.get(key) is not None:
            out[f"binary.{key}"] = b[key]
    for task, v in metrics.get("mc", {}).get("per_task", {}).items():
        if v.get("acc") is not None:
            out[f"mc.{task}.acc"] = v["acc"]
    if metrics.get("vqa", {}).get("avg_overall") is not None:
        out["vqa.avg_overall"] = metrics["vqa"]["avg_overall"]
    return out


def clip_permutation_test(items: Iterable[Item], predictions: dict[str, dict[str, Any]],
                          rounds: int = 1000, seed: int = 0, progress: bool = False
                          ) -> dict[str, dict[str, float]]:
    """Per statistic (``binary.avg_ap``, ``binary.avg_ap_prob``, ``mc.<task>.acc``,
    ``vqa.avg_overall``; VQA answers are shuffled among the items of one task file): observed,
    null_mean, null_p95 and p. Items without a prediction stay without one (they move with the
    shuffle: a missing answer counts against whichever item it lands on, as in ``score``)."""
    if rounds < 1:
        raise ValueError(f"rounds={rounds}: needs at least 1")
    items = list(items)
    open_ended = sum(1 for i in items if not i.options)
    if open_ended:  # score() skips them too, with a warning that would repeat every round
        log.warning("%d open-ended items have no score; left out of the test", open_ended)
        items = [i for i in items if i.options]
    observed = _statistics(score(items, predictions, auc=False))
    if not observed:
        raise ValueError("no binary, multiple-choice or VQA statistic to test in these items")
    by_task: dict[str, list[str]] = {}
    for item in items:
        by_task.setdefault(item.task, []).append(item.id)
    rng = random.Random(seed)
    null: dict[str, list[float]] = {k: [] for k in observed}
    from tqdm.auto import tqdm

    # each round rescored from scratch (scikit-learn's AP: ~1.5 ms a primitive and statistic)
    for _ in tqdm(range(rounds), desc="permutation rounds", disable=not progress):
        shuffled: dict[str, dict[str, Any]] = {}
        for ids in by_task.values():
            answers = [predictions.get(i) for i in ids]
            rng.shuffle(answers)
            shuffled.update({i: a for i, a in zip(ids, answers, strict=True) if a is not None})
        stats = _statistics(score(items, shuffled, auc=False))
        for k in observed:
            null[k].append(stats.get(k, float("nan")))
    result = {}
    for k, obs in observed.items():
        xs = np.asarray(null[k], dtype=float)
        result[k] = {"observed": round(obs, 2), "null_mean": round(float(np.nanmean(xs)), 2),
                     "null_p95": round(float(np.nanpercentile(xs, 95)), 2),
                     "p": round((1 + int(np.sum(xs >= obs - 1e-9))) / (1 + rounds), 4)}
    return result


def permutation_files(items_path: str | os.PathLike[str], predictions_path: str | os.PathLike[str],
                      rounds: int = 1000, seed: int = 0, progress: bool = False
                      ) -> dict[str, Any]:
    """:func:`clip_permutation_test` on an item file and a predictions file, as the record that
    ``eval permute --out`` and the demo write (``permutation.json``; the report shows it)."""
    from camreasoner.data.readers import load_items
    from camreasoner.eval.score import read_predictions

    tests = clip_permutation_test(load_items(items_path), read_predictions(predictions_path),
                                  rounds=rounds, seed=seed, progress=progress)
    return {"items": str(items_path), "predictions": str(predictions_path), "rounds": rounds,
            "seed": seed, "tests": tests}
