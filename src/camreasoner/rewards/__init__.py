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

Reward protocols: :data:`PROTOCOLS` names each reward set the adapters can score with:
``camreasoner`` (the rewards above, the default) and ``seed`` (the seed's own reward, 0.9
accuracy + 0.1 format with its parsing and ``mathruler``'s grader: :mod:`camreasoner.rewards.seed`).
verl picks one with ``reward.custom_reward_function.reward_kwargs.protocol``; TRL with
``trl_reward_funcs(protocol=...)`` and ``trl_reward_weights(protocol=...)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from camreasoner import answers
from camreasoner.rewards.consistency import consistency_reward
from camreasoner.rewards.seed import seed_accuracy_reward, seed_format_reward, seed_score

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = {"accuracy": 0.8, "format": 0.1, "consistency": 0.1}
SEED_WEIGHTS = {"accuracy": 0.9, "format": 0.1, "consistency": 0.0}
# The seed protocol's own parts (camreasoner.rewards.seed), weighted as the seed's compute_score.
SEED_PROTOCOL_WEIGHTS = {"accuracy": 0.9, "format": 0.1}


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


def _seed_parts(response: Any, truth: Any, options: Sequence[str] | None = None,
                question: str | None = None, task: str | None = None,
                weights: dict[str, float] | None = None) -> dict[str, float]:
    """:func:`combined`'s contract for the seed's reward (options, question and task unused)."""
    weights = dict(SEED_PROTOCOL_WEIGHTS if weights is None else weights)
    unknown = set(weights) - set(SEED_PROTOCOL_WEIGHTS)
    if unknown:
        raise ValueError(f"unknown reward weights {sorted(unknown)} for the seed protocol; "
                         f"rewards: {sorted(SEED_PROTOCOL_WEIGHTS)}")
    if any(w < 0 for w in weights.values()):
        raise ValueError(f"reward weights must be >= 0, got {weights}")
    parts = seed_score(response, truth)
    parts["score"] = (weights.get("accuracy", 0.0) * parts["accuracy"]
                      + weights.get("format", 0.0) * parts["format"])
    return parts


@dataclass(frozen=True)
class RewardProtocol:
    """A named reward set.

    rewards: part name -> its pure reward function, in the order the TRL adapters list them
        (TRL logs each under the function's name).
    weights: each part's default weight.
    score: ``(response, truth, options, question, task, weights) -> {"score", part: value…}``.
    """

    name: str
    rewards: Mapping[str, Callable[..., float]]
    weights: Mapping[str, float]
    score: Callable[..., dict[str, float]]
    description: str


DEFAULT_PROTOCOL = "camreasoner"
PROTOCOLS: dict[str, RewardProtocol] = {
    "camreasoner": RewardProtocol(
        "camreasoner", REWARDS, DEFAULT_WEIGHTS, combined,
        "0.8 accuracy + 0.1 format + 0.1 consistency, our parser (camreasoner.answers)"),
    "seed": RewardProtocol(
        "seed", {"accuracy": seed_accuracy_reward, "format": seed_format_reward},
        SEED_PROTOCOL_WEIGHTS, _seed_parts,
        "0.9 accuracy + 0.1 format, the seed's parsing and mathruler's grade_answer "
        "(camreasoner.rewards.seed)"),
}


def get_protocol(name: str) -> RewardProtocol:
    """The :data:`PROTOCOLS` entry; ValueError naming the known ones for any other name."""
    try:
        return PROTOCOLS[name]
    except (KeyError, TypeError):  # TypeError: an unhashable value from a config
        raise ValueError(f"unknown reward protocol {name!r}; known: "
                         f"{', '.join(sorted(PROTOCOLS))}") from None


def compute_score(data_source: str, solution_str: str, ground_truth: str,
                  extra_info: dict | None = None, **kwargs: Any) -> dict[str, float]:
    """verl's custom reward signature (``reward.custom_reward_function``).

    ``ground_truth`` is the letter (``<answer>B</answer>`` also accepted); ``extra_info`` is the
    row's (from ``camreasoner data convert --to verl``): ``options``, ``question``, ``task`` let a
    yes/no answer be read as a movement. Extra keyword arguments (``reward_kwargs`` in the
    config) may set ``protocol`` (a :data:`PROTOCOLS` name, default ``camreasoner``) and
    ``weights`` or ``w_accuracy``/``w_format``/``w_consistency`` (the protocol's parts only).
    Returns ``score`` plus ``acc`` and the other parts in [0, 1] (``acc`` drives verl's group
    filtering): ``format`` and ``consistency`` for ``camreasoner``, ``format`` for ``seed``.
    Never raises on a response; a bad protocol or bad weights are configuration errors, raised
    at the first call.
    """
    protocol = get_protocol(kwargs.get("protocol", DEFAULT_PROTOCOL))
    info = extra_info or {}
    weights = dict(kwargs.get("weights") or protocol.weights)
    for name in REWARDS:
        if f"w_{name}" in kwargs:
            weights[name] = float(kwargs[f"w_{name}"])
    options = info.get("options")
    if options is not None:
        options = [str(o) for o in options]
    parts = protocol.score(solution_str, str(ground_truth), options, info.get("question"),
                           info.get("task"), weights)
    out = {"score": parts["score"], "acc": parts["accuracy"]}
    out.update((name, parts[name]) for name in protocol.rewards if name != "accuracy")
    return out


def trl_reward_funcs(weights: dict[str, float] | None = None, protocol: str = DEFAULT_PROTOCOL,
                     ) -> list[Callable[..., list[float]]]:
    """Reward functions in TRL's GRPOTrainer form, one per part of the protocol so TRL logs each;
    their weights go to ``GRPOConfig.reward_weights`` (see :func:`trl_reward_weights`). The
    dataset's ``answer``, ``options``, ``question`` and ``task`` columns arrive as keyword
    arguments."""
    proto = get_protocol(protocol)
    unit = {name: 1.0 for name in proto.rewards}

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

    def make(name: str, fn: Callable[..., float]):
        def reward(prompts, completions, answer, options=None, question=None, task=None,
                   **_: Any) -> list[float]:
            out = []
            for k, comp in enumerate(completions):
                opts = list(options[k]) if options is not None else None
                parts = proto.score(_text(comp), answer[k], opts,
                                    question[k] if question is not None else None,
                                    task[k] if task is not None else None, unit)
                out.append(parts[name])
            return out

        reward.__name__ = fn.__name__
        return reward

    return [make(name, fn) for name, fn in proto.rewards.items()]


def trl_reward_weights(weights: dict[str, float] | None = None,
                       protocol: str = DEFAULT_PROTOCOL) -> list[float]:
    """The weights of :func:`trl_reward_funcs`'s functions, in their order."""
    proto = get_protocol(protocol)
    weights = proto.weights if weights is None else weights
    unknown = set(weights) - set(proto.rewards)
    if unknown:  # they would be dropped without a word
        raise ValueError(f"unknown reward weights {sorted(unknown)} for the {proto.name} "
                         f"protocol; rewards: {sorted(proto.rewards)}")
    return [float(weights.get(name, 0.0)) for name in proto.rewards]
