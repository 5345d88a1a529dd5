"""``camreasoner eval score``: CameraBench's numbers from an item file and a predictions file.

Sections (each present only when the items hold some of it), all numbers in percent (0-100):

- ``binary`` (the seed's Table 1): per primitive, AP and ROC-AUC of the hard answer (Yes=1, No=0)
  and, when every answered item carries ``p_yes``, AP of ``p_yes`` (``ap_prob``). ``avg_ap`` is the
  unweighted mean of the primitives' APs. Predicting "No" everywhere gives each primitive's
  positive rate: the chance row.
- ``vqa`` (Table 2): per skill, per-question binary accuracy ``acc`` and CameraBench's pair
  metrics: ``q_acc`` (a question is right when answered right on both videos of its pair),
  ``img_acc`` (a video is right when both questions on it are), ``group_acc`` (all four).
  ``avg_overall`` weights each skill's ``acc`` by its number of questions, i.e. it is the accuracy
  over all VQA items.
- ``mc``: other multiple-choice items (e.g. synthetic "which movement" questions): accuracy per task.

An item whose response cannot be read, whose prediction recorded an error, or that has no
prediction at all counts as answered wrong (for AP: scored opposite to its truth) and is counted
per task as ``parse_failures``, ``errors`` or ``missing``; no item leaves a denominator.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np

from camreasoner import taxonomy
from camreasoner.answers import read_answer
from camreasoner.data.schema import VQA_ROLES, DataError, Item
from camreasoner.eval.metrics import average_precision, roc_auc
from camreasoner.prompts import split_option

log = logging.getLogger(__name__)


def read_predictions(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """``id -> prediction``; a later line for the same id replaces an earlier one (a retried
    error). A truncated last line (a run killed mid-write) is ignored with a warning."""
    preds: dict[str, dict[str, Any]] = {}
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            if lineno == len(lines):  # no newline after it: the write was cut off
                log.warning("%s:%d: ignoring a truncated last line", path, lineno)
                continue
            raise DataError("invalid JSON", where=f"{path}:{lineno}") from None
        if not isinstance(obj, dict) or "id" not in obj:
            raise DataError("a prediction needs an 'id'", where=f"{path}:{lineno}")
        if "response" not in obj and "error" not in obj:
            raise DataError("missing", item_id=obj["id"], field="response",
                            where=f"{path}:{lineno}")
        p = obj.get("p_yes")
        if p is not None and not (isinstance(p, (int, float)) and 0.0 <= p <= 1.0):
            raise DataError(f"must be a probability in [0, 1], got {p!r}", item_id=obj["id"],
                            field="p_yes", where=f"{path}:{lineno}")
        preds[str(obj["id"])] = obj
    return preds


def yes_letter(item: Item) -> str | None:
    """The letter of the "Yes" option of a yes/no item, else None."""
    texts = {}
    for opt in item.options:
        letter, text = split_option(opt)
        texts[text.strip().rstrip(".").lower()] = letter
    if set(texts) == {"yes", "no"}:
        return texts["yes"]
    return None


def yes_no_letters(item: Item) -> tuple[str, str] | None:
    """``(no letter, yes letter)`` of a yes/no item, else None."""
    yes = yes_letter(item) if item.options else None
    if yes is None:
        return None
    no = next(letter for letter in (split_option(o)[0] for o in item.options) if letter != yes)
    return no, yes


def judge(item: Item, pred: dict | None, strict_format: bool = False,
          reading: str = "strict") -> tuple[str | None, str]:
    """(letter or None, status) with status in ok / missing / error / parse_failure; the letter
    as ``reading`` reads it (:func:`camreasoner.answers.read_answer`)."""
    if pred is None:
        return None, "missing"
    if pred.get("error"):
        return None, "error"
    letter = read_answer(pred.get("response") or "", item.options, reading,
                         require_tags=strict_format)
    return letter, ("ok" if letter is not None else "parse_failure")


def _pct(x: float | None) -> float | None:
    return None if x is None else round(100.0 * x, 4)


def _new_counts() -> dict[str, int]:
    return {"n": 0, "parse_failures": 0, "missing": 0, "errors": 0}


def _count(counts: dict[str, int], status: str) -> None:
    counts["n"] += 1
    if status == "parse_failure":
        counts["parse_failures"] += 1
    elif status == "missing":
        counts["missing"] += 1
    elif status == "error":
        counts["errors"] += 1


def score(items: Iterable[Item], predictions: dict[str, dict[str, Any]],
          strict_format: bool = False, reading: str = "strict",
          auc: bool = True) -> dict[str, Any]:
    """The metrics of the module docstring. ``auc=False`` leaves the ROC-AUCs out (None): the
    permutation test rescores a thousand times and reads only APs and accuracies."""
    items = list(items)
    primitive_names = set(taxonomy.PRIMITIVE_NAMES)
    binary: dict[str, list[tuple[int, float, float | None]]] = defaultdict(list)
    binary_counts: dict[str, dict[str, int]] = defaultdict(_new_counts)
    vqa_correct: dict[str, dict[str, bool]] = defaultdict(dict)
    vqa_pairs: dict[str, dict[str, dict[str, bool]]] = defaultdict(lambda: defaultdict(dict))
    vqa_counts: dict[str, dict[str, int]] = defaultdict(_new_counts)
    mc_correct: dict[str, list[bool]] = defaultdict(list)
    mc_counts: dict[str, dict[str, int]] = defaultdict(_new_counts)
    known_ids = {i.id for i in items}
    extra_predictions = sum(1 for pid in predictions if pid not in known_ids)

    for item in items:
        pred = predictions.get(item.id)
        letter, status = judge(item, pred, strict_format, reading)
        correct = letter == item.answer
        yl = yes_letter(item) if item.options else None
        if item.skill is None and item.task in primitive_names and yl is not None:
            truth = int(item.answer == yl)
            hard = float(letter == yl) if letter is not None else float(1 - truth)
            p_yes = pred.get("p_yes") if (pred and status != "error") else None
            if status in ("missing", "error"):
                p_yes = float(1 - truth)
            binary[item.task].append((truth, hard, p_yes))
            _count(binary_counts[item.task], status)
        elif item.skill is not None and item.pair_id is not None:
            vqa_correct[item.skill][item.id] = correct
            vqa_pairs[item.skill][item.pair_id][item.role] = correct
            _count(vqa_counts[item.skill], status)
        elif item.options:
            mc_correct[item.task].append(correct)
            _count(mc_counts[item.task], status)

    metrics: dict[str, Any] = {}
    if binary:
        per_task = {}
        for task in sorted(binary):
            rows = binary[task]
            y = [r[0] for r in rows]
            hard = [r[1] for r in rows]
            probs = [r[2] for r in rows]
            ap_prob = (average_precision(y, probs) if all(p is not None for p in probs) else None)
            per_task[task] = {
                "ap": _pct(average_precision(y, hard)),
                "ap_prob": _pct(ap_prob),
                "auc": _pct(roc_auc(y, hard)) if auc else None,
                "auc_prob": _pct(roc_auc(y, probs)) if auc and ap_prob is not None else None,
                "acc": _pct(float(np.mean([h == t for h, t in zip(hard, y)]))),
                "positives": int(sum(y)),
                **binary_counts[task],
            }
        # A primitive with no positive item has no AP; the averages skip it (counted in n).
        defined = [v for v in per_task.values() if v["ap"] is not None]
        aps = [v["ap"] for v in defined]
        aps_prob = [v["ap_prob"] for v in defined]
        metrics["binary"] = {
            "per_task": per_task,
            # the paper's CamReasoner row: accuracy per primitive, unweighted mean
            "avg_acc": round(float(np.mean([v["acc"] for v in per_task.values()])), 4),
            "avg_ap": round(float(np.mean(aps)), 4) if aps else None,
            "avg_ap_prob": (round(float(np.mean(aps_prob)), 4)
                            if aps_prob and all(a is not None for a in aps_prob) else None),
        }
    if vqa_correct:
        per_skill = {}
        total_n = total_right = 0
        for skill in sorted(vqa_correct):
            answers = vqa_correct[skill]
            pairs = vqa_pairs[skill]
            q_right = q_n = i_right = i_n = g_right = 0
            for pair_id, roles in pairs.items():
                if set(roles) != set(VQA_ROLES):
                    raise DataError(f"pair has roles {sorted(roles)}, needs all four",
                                    item_id=pair_id, field="role")
                pos_q = roles["pos_video.pos_question"] and roles["neg_video.pos_question"]
                neg_q = roles["pos_video.neg_question"] and roles["neg_video.neg_question"]
                pos_v = roles["pos_video.pos_question"] and roles["pos_video.neg_question"]
                neg_v = roles["neg_video.pos_question"] and roles["neg_video.neg_question"]
                q_right += pos_q + neg_q
                i_right += pos_v + neg_v
                g_right += pos_q and neg_q
                q_n += 2
                i_n += 2
            n = len(answers)
            right = sum(answers.values())
            total_n += n
            total_right += right
            per_skill[skill] = {
                "acc": _pct(right / n), "q_acc": _pct(q_right / q_n), "img_acc": _pct(i_right / i_n),
                "group_acc": _pct(g_right / len(pairs)), "pairs": len(pairs), **vqa_counts[skill],
            }
        metrics["vqa"] = {"per_skill": per_skill, "avg_overall": _pct(total_right / total_n)}
    if mc_correct:
        metrics["mc"] = {
            "per_task": {t: {"acc": _pct(float(np.mean(v))), **mc_counts[t]}
                         for t, v in sorted(mc_correct.items())},
        }
    metrics["counts"] = {
        "items": len(items), "predictions": len(predictions),
        "predictions_without_item": extra_predictions,
        "open_ended_items_skipped": sum(1 for i in items if not i.options),
    }
    if extra_predictions:
        log.warning("%d predictions name ids that are not in the item file", extra_predictions)
    if metrics["counts"]["open_ended_items_skipped"]:
        log.warning("%d open-ended items have no score here",
                    metrics["counts"]["open_ended_items_skipped"])
    return metrics


def weighted_overall(acc_by_skill: dict[str, float], n_by_skill: dict[str, int]) -> float:
    """Table 2's "Avg Overall" from its columns: each skill's accuracy weighted by its question
    count (the same number :func:`score` reports as ``vqa.avg_overall``)."""
    total = sum(n_by_skill[s] for s in acc_by_skill)
    return sum(acc_by_skill[s] * n_by_skill[s] for s in acc_by_skill) / total


def chance_predictions(items: Iterable[Item]) -> dict[str, dict[str, Any]]:
    """Answer "No" everywhere (with p_yes = 0): the seed's Random Chance row for binary AP."""
    preds = {}
    for item in items:
        letters = yes_no_letters(item)
        if letters is not None:
            preds[item.id] = {"id": item.id, "response": f"<answer>{letters[0]}</answer>",
                              "p_yes": 0.0}
    return preds


def score_files(items_path: str | os.PathLike[str], predictions_path: str | os.PathLike[str],
                strict_format: bool = False, config: dict | None = None,
                reading: str = "strict") -> dict[str, Any]:
    from camreasoner.data.readers import load_items

    items = load_items(items_path)
    metrics = score(items, read_predictions(predictions_path), strict_format, reading)
    metrics["items_file"] = str(items_path)
    metrics["items_sha256"] = file_sha256(items_path)
    metrics["config"] = {"strict_format": strict_format, "answer_reading": reading,
                         **(config or {})}
    return metrics


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file (items files are pinned by it in run configs and metrics)."""
    import hashlib

    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
