"""Named protocols: how each stage trains and evaluates, in one place.

The entry points (``run_sft.sh``, ``run_rl.sh``, ``Evaluation/eval.sh``) default to ``seed``, the
protocol of CamReasoner's released code (``../shared/docs/SEED_PROTOCOL.md``, read from commit
8b71188 of github.com/wuhang03/CamReasoner); ``camreasoner`` names our own choices, kept beside it
so every difference is a named alternative, and ``official`` is CameraBench's binary protocol
(t2v_metrics), for a base model's row beside the leaderboard. The README's "Reproducing the
paper" lists the differences and the reasons.

| | seed | camreasoner |
|---|---|---|
| SFT video | LLaMA-Factory video path, 16,384 px a frame, 2 fps, <= 128 frames | 112,896 px, 2 fps, <= 32 |
| RL / eval frames | 1 fps frames as separate images, <= 64, 3,136-1,048,576 px each | a video, 2 fps, <= 32 |
| RL prompt budget | frames dropped until the prompt fits 16,384 tokens | 4,096 tokens |
| eval prompt | the O-T-A instruction + the seed's multiple-choice tail | the O-T-A instruction (the training prompt) |
| eval generation | greedy, 8,192 new tokens, model length 81,920 | greedy, 512 new tokens |
| reward | 0.9 accuracy + 0.1 format (the seed's parsing) | 0.8 accuracy + 0.1 format + 0.1 consistency |
| answer reading | first <answer> (else the whole text), its first character | exactly one unhedged letter |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from camreasoner.vision import (
    DEFAULT_VISION,
    OFFICIAL_VISION,
    SEED_EVAL_VISION,
    SEED_RL_VISION,
    SEED_SFT_VISION,
    VisionSpec,
)

AnswerReading = Literal["seed", "strict"]
PYesMethod = Literal["letters", "yes_token"]


@dataclass(frozen=True)
class EvalProtocol:
    """How ``camreasoner eval run`` asks and how ``eval score`` reads the answers.

    prompt: a :data:`camreasoner.prompts.EVAL_PROMPTS` name.
    p_yes: ``letters``: P(Yes letter) against P(No letter) at the answer position (a 2-way
        softmax after the model's own response); ``yes_token``: P("Yes") over the whole
        vocabulary at the first generated token (t2v_metrics' VQAScore).
    answer_reading: ``seed``: the seed's ``eval_bench.py`` (first ``<answer>`` block, else the
        whole response, its first character upper-cased); ``strict``: exactly one unhedged letter
        (:func:`camreasoner.answers.extract_letter`).
    """

    vision: VisionSpec
    prompt: str
    max_new_tokens: int
    max_model_len: int
    p_yes: PYesMethod
    answer_reading: AnswerReading


@dataclass(frozen=True)
class RLProtocol:
    """How ``run_rl.sh`` turns records into verl rows and rewards them.

    max_prompt_tokens: in frames mode, frames are dropped (EasyR1's 20% steps) until the prompt
        fits; ``None`` leaves the prompt as it is (verl's own length limit applies).
    recipe: the default recipe in ``EasyR1/`` for the 7B model.
    """

    vision: VisionSpec
    max_prompt_tokens: int | None
    reward: str  # a camreasoner.rewards protocol name
    recipe: str


@dataclass(frozen=True)
class Protocol:
    name: str
    sft_vision: VisionSpec
    sft_recipe: str  # the default recipe in LLaMA-Factory/recipes/
    rl: RLProtocol
    eval: EvalProtocol


SEED = Protocol(
    name="seed",
    sft_vision=SEED_SFT_VISION,
    sft_recipe="qwen2_5_vl_7b_full_sft",
    rl=RLProtocol(vision=SEED_RL_VISION, max_prompt_tokens=16_384, reward="seed",
                  recipe="qwen2_5_vl_7b_grpo"),
    eval=EvalProtocol(vision=SEED_EVAL_VISION, prompt="seed", max_new_tokens=8192,
                      max_model_len=81_920, p_yes="letters", answer_reading="seed"),
)

CAMREASONER = Protocol(
    name="camreasoner",
    sft_vision=DEFAULT_VISION,
    sft_recipe="qwen2_5_vl_7b_full_sft_camreasoner",
    rl=RLProtocol(vision=DEFAULT_VISION, max_prompt_tokens=None, reward="camreasoner",
                  recipe="qwen2_5_vl_7b_grpo_camreasoner"),
    eval=EvalProtocol(vision=DEFAULT_VISION, prompt="camreasoner", max_new_tokens=512,
                      max_model_len=16_384, p_yes="letters", answer_reading="strict"),
)

# CameraBench's binary protocol (t2v_metrics camerabench/binary_classification_vlm_scores.py with
# its Qwen2.5-VL scorer): no options and no reasoning, the score is P("Yes"). Evaluation only.
OFFICIAL_EVAL = EvalProtocol(vision=OFFICIAL_VISION, prompt="official", max_new_tokens=1,
                             max_model_len=32_768, p_yes="yes_token", answer_reading="strict")

PROTOCOLS: dict[str, Protocol] = {"seed": SEED, "camreasoner": CAMREASONER}
EVAL_PROTOCOLS: dict[str, EvalProtocol] = {
    "seed": SEED.eval, "camreasoner": CAMREASONER.eval, "official": OFFICIAL_EVAL}
DEFAULT_PROTOCOL = "seed"


def protocol(name: str) -> Protocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise KeyError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}") from None


def eval_protocol(name: str) -> EvalProtocol:
    try:
        return EVAL_PROTOCOLS[name]
    except KeyError:
        raise KeyError(f"unknown evaluation protocol {name!r}; known: "
                       f"{', '.join(EVAL_PROTOCOLS)}") from None

