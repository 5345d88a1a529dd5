"""Camera-motion rewards: pure functions in one registry, plus adapters for verl and TRL.

Each reward maps a response (and the item's truth and options) to a float in [0, 1], never
raises, and runs in time linear in the response (the parser is linear; the consistency reader
looks at bounded windows of the blocks).

- ``format``: 1 when the response is exactly ``<observation>…</observation><think>…</think>
  <answer>…</answer>``, each block once, in order, non-empty, nothing but whitespace outside
  (``< /think >``-style spacing and upper case are normalised first).
- ``accuracy``: 1 when the single ``<answer>`` block names the truth letter (``B``, ``B.``,
  ``(B)``, ``B. Yes``); 0 for hedged or several answers (``A or B``, ``A, B``, ``AB``), an empty
  answer, or an answer outside the tags.
- ``consistency``: 1 when the reasoning is grounded: see :mod:`camreasoner.rewards.consistency`.

``combined`` weighs them (default 0.8 accuracy + 0.1 format + 0.1 consistency; the seed used
0.9 accuracy + 0.1 format, available as ``SEED_WEIGHTS``) and returns the parts for logging.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from camreasoner import answers
from camreasoner.rewards.consistency import consistency_reward

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = {"accuracy": 0.8, "format": 0.1, "consistency": 0.1}
SEED_WEIGHTS = {"accuracy": 0.9, "format": 0.1, "consistency": 0.0}


def format_reward(response: str, **_: Any) -> float:
    """1.0 for a well-formed O-T-A response, else 0.0."""
    return 1.0 if answers.parse_response(response).well_formed else 0.0


def accuracy_reward(response: str, truth: str, options: Sequence[str] | None = None,
                    **_: Any) -> float:
    """1.0 when the one answer block names the truth letter. ``truth`` may be ``B`` or
    ``<answer>B</answer>``; an unreadable truth scores 0 (logged, never raised)."""
    try:
        want = answers.parse_solution(truth)
    except ValueError:
        log.warning("unreadable ground truth %r: accuracy 0", truth)
        return 0.0
    return 1.0 if answers.extract_letter(response, options, require_tags=True) == want else 0.0


REWARDS: dict[str, Callable[..., float]] = {
    "format": format_reward,
    "accuracy": accuracy_reward,
    "consistency": consistency_reward,
}


def combined(response: str, truth: str, options: Sequence[str] | None = None,
             question: str | None = None, task: str | None = None,
             weights: dict[str, float] | None = None) -> dict[str, float]:
    """``{"score": weighted sum, "accuracy": …, "format": …, "consistency": …}``.

    Weights must be non-negative; they are used as given (not renormalised), so the score lies in
    [0, sum of weights].
    """
    weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
    unknown = set(weights) - set(REWARDS)
    if unknown:
        raise ValueError(f"unknown reward weights {sorted(unknown)}; rewards: {sorted(REWARDS)}")
    if any(w < 0 for w in weights.values()):
        raise ValueError(f"reward weights must be >= 0, got {weights}")
    if not isinstance(response, str):
        response = "" if response is None else str(response)
    parts = {
        "accuracy": accuracy_reward(response, truth, options),
        "format": format_reward(response),
        "consistency": consistency_reward(response, options=options, question=question,
                                          task=task),
    }
    parts["score"] = sum(weights.get(k, 0.0) * v for k, v in parts.items())
    return parts


def compute_score(data_source: str, solution_str: str, ground_truth: str,
                  extra_info: dict | None = None, **kwargs: Any) -> dict[str, float]:
    """verl's custom reward signature (``reward.custom_reward_function``).

    ``ground_truth`` is the letter (``<answer>B</answer>`` also accepted); ``extra_info`` is the
    row's (from ``camreasoner data convert --to verl``): ``options``, ``question``, ``task`` let a
    yes/no answer be read as a movement. Extra keyword arguments (``reward_kwargs`` in the
    config) may set ``weights`` or ``w_accuracy``/``w_format``/``w_consistency``. Returns
    ``score`` plus ``acc``, ``format`` and ``consistency`` in [0, 1] (``acc`` drives verl's
    group filtering). Never raises.
    """
    info = extra_info or {}
    weights = dict(kwargs.get("weights") or DEFAULT_WEIGHTS)
    for name in REWARDS:
        if f"w_{name}" in kwargs:
            weights[name] = float(kwargs[f"w_{name}"])
    options = info.get("options")
    if options is not None:
        options = [str(o) for o in options]
    try:
        parts = combined(solution_str, str(ground_truth), options, info.get("question"),
                         info.get("task"), weights)
    except ValueError:
        raise  # bad weights are a configuration error, shown at the first call
    return {"score": parts["score"], "acc": parts["accuracy"], "format": parts["format"],
            "consistency": parts["consistency"]}


def trl_reward_funcs(weights: dict[str, float] | None = None) -> list[Callable[..., list[float]]]:
    """Reward functions in TRL's GRPOTrainer form, one per part so TRL logs each; their weights
    go to ``GRPOConfig.reward_weights`` (see :func:`trl_reward_weights`). The dataset's
    ``answer``, ``options``, ``question`` and ``task`` columns arrive as keyword arguments."""

    def _text(completion: Any) -> str:
        if isinstance(completion, list):  # conversational: [{"role": "assistant", "content": …}]
            parts = []
            for m in completion:
                c = m.get("content", "") if isinstance(m, dict) else m
                if isinstance(c, list):
                    c = "".join(p.get("text", "") for p in c if isinstance(p, dict))
                parts.append(str(c))
            return "".join(parts)
        return str(completion)

    def make(name: str):
        def reward(prompts, completions, answer, options=None, question=None, task=None,
                   **_: Any) -> list[float]:
            out = []
            for k, comp in enumerate(completions):
                opts = list(options[k]) if options is not None else None
                parts = combined(_text(comp), answer[k], opts,
                                 question[k] if question is not None else None,
                                 task[k] if task is not None else None,
                                 {"accuracy": 1.0, "format": 1.0, "consistency": 1.0})
                out.append(parts[name])
            return out

        reward.__name__ = f"{name}_reward"
        return reward

    return [make(name) for name in REWARDS]


def trl_reward_weights(weights: dict[str, float] | None = None) -> list[float]:
    weights = DEFAULT_WEIGHTS if weights is None else weights
    return [float(weights.get(name, 0.0)) for name in REWARDS]
