"""Per-step numbers of a verl GRPO run, from the files it writes: the ``file`` logger's
``metrics.jsonl`` (one ``{"step", "data"}`` line a step: reward mean, timings, memory) and, where
``trainer.rollout_data_dir`` is set, the step's rollouts (``<step>.jsonl``: output, ground truth,
score). verl's v1 trainer logs only the combined score; accuracy and format are recomputed here
from the rollouts with the same reward functions, and consistency follows from the score by the
weights' arithmetic: score = w_acc*acc + w_fmt*fmt + w_cons*cons, so
cons = (score - w_acc*acc - w_fmt*fmt) / w_cons. The dump holds no options, so accuracy here reads
the letter in the answer block; an answer written as option text scores 0 here (the run's reward,
which had the options, may have counted it) and its credit would show under consistency.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from camreasoner.rewards import DEFAULT_WEIGHTS, accuracy_reward, format_reward
from camreasoner.tables import md_table

METRICS_FILE = "metrics.jsonl"
ROLLOUTS_DIR = "rollouts"
SUMMARY_FILE = "steps.json"

# verl metric -> our column; "reward" time is inside "gen" (the reward loop scores each sample
# as it finishes generating).
COLUMNS = {
    "critic/score/mean": "reward",
    "timing_s/gen": "gen_s",
    "timing_s/old_log_prob": "old_log_prob_s",
    "timing_s/update_actor": "update_s",
    "timing_s/update_weights": "sync_weights_s",
    "timing_s/step": "step_s",
    "actor/perf/max_memory_allocated_gb": "actor_peak_gib",
    "response_length/mean": "response_tokens",
    "training/filter_groups/evicted_samples": "filtered_groups",
}


def read_step_metrics(run_dir: str | os.PathLike[str]) -> dict[int, dict[str, Any]]:
    """``{step: verl's metrics}`` from ``run_dir/metrics.jsonl``; a bad line names its number."""
    path = Path(run_dir) / METRICS_FILE
    steps: dict[int, dict[str, Any]] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            steps[int(rec["step"])] = dict(rec["data"])
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}:{n}: not a verl file-logger line ({e})") from e
    return steps


def rollout_parts(run_dir: str | os.PathLike[str],
                  weights: dict[str, float] | None = None) -> dict[int, dict[str, float]]:
    """``{step: mean accuracy, format, consistency and score}`` from ``run_dir/rollouts``."""
    w = {**DEFAULT_WEIGHTS, **(weights or {})}
    out: dict[int, dict[str, float]] = {}
    for path in sorted(Path(run_dir, ROLLOUTS_DIR).glob("*.jsonl")):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if not rows:
            continue
        acc = fmt = cons = score = 0.0
        for k, r in enumerate(rows):
            try:
                a = accuracy_reward(r["output"], str(r["gts"]))
                f = format_reward(r["output"])
                s = float(r["score"])
            except (KeyError, TypeError, ValueError) as e:
                raise ValueError(f"{path}: row {k}: {e}") from e
            acc, fmt, score = acc + a, fmt + f, score + s
            if w["consistency"]:
                cons += (s - w["accuracy"] * a - w["format"] * f) / w["consistency"]
        n = len(rows)
        out[int(path.stem)] = {"samples": n, "accuracy": acc / n, "format": fmt / n,
                               # weight 0: not in the score, so not recoverable from it
                               "consistency": cons / n if w["consistency"] else None,
                               "score": score / n}
    return out


def summarize(run_dir: str | os.PathLike[str],
              weights: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """One row a step (our column names), written to ``run_dir/steps.json``."""
    metrics = read_step_metrics(run_dir)
    parts = rollout_parts(run_dir, weights) if Path(run_dir, ROLLOUTS_DIR).is_dir() else {}
    rows = []
    for step in sorted(metrics):
        row: dict[str, Any] = {"step": step}
        row.update({ours: metrics[step][theirs] for theirs, ours in COLUMNS.items()
                    if theirs in metrics[step]})
        for key in ("accuracy", "format", "consistency"):
            if step in parts:
                row[key] = parts[step][key]
        rows.append(row)
    Path(run_dir, SUMMARY_FILE).write_text(json.dumps(rows, indent=2) + "\n")
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    cols = ["step", "reward", "accuracy", "format", "consistency", "gen_s", "old_log_prob_s",
            "update_s", "step_s", "actor_peak_gib", "response_tokens", "filtered_groups"]
    cols = [c for c in cols if any(c in r for r in rows)]

    def cell(v: Any) -> str:
        return "" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))

    return md_table(cols, [[cell(r.get(c)) for c in cols] for r in rows])
