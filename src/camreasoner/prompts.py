"""The prompt: one owner for the text every stage shows the model.

SFT data, RL data and evaluation all call :func:`render_prompt`, so the three stages see
byte-identical prompts for one item (tests/test_prompts.py checks this through each converter).

Layout (the seed's, from CamReasoner's EasyR1 dataset and ``camera.jinja``)::

    {question}
    Options:
    A. No
    B. Yes

    {instruction}

The video is not part of this text: SFT and RL put the placeholder :data:`VIDEO_PLACEHOLDER`
before it (LLaMA-Factory and verl expand it to ``<|vision_start|><|video_pad|>…<|vision_end|>``),
and evaluation passes a ``{"type": "video"}`` content part before the text, which the Qwen chat
template renders to the same tokens.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

# The seed's camera instruction (CamReasoner EasyR1 ``examples/format_prompt/camera.jinja``).
CAMERA_OTA_INSTRUCTION = (
    "Please carefully analyze the video by first focusing on the differences between various "
    "frames, especially those that reveal overall movement or changes. Your <observation> should "
    "emphasize these frame-to-frame differences and describe the overall movement observed in the "
    "video. Then, in <think>, reason about the camera motion based on your observations, "
    "explaining how the visual evidence leads to your conclusion about the type of camera "
    "movement. Finally, provide only the single option letter (e.g., A, B, C, D, E, F etc.) "
    "within the <answer> </answer> tags. Follow the format specified in the instructions."
)

INSTRUCTIONS: dict[str, str] = {
    "camera_ota": CAMERA_OTA_INSTRUCTION,
    # For base models asked without the reasoning format (a baseline row).
    "direct": "Answer with the option's letter from the given choices directly.",
}
DEFAULT_INSTRUCTION = "camera_ota"

VIDEO_PLACEHOLDER = "<video>"

# The seed's evaluation appends its multiple-choice tail to the question template with no
# separator (Inference/infer/eval_bench.py: ``QUESTION_TEMPLATE.format(...) + tail``, where the
# tail is ``TYPE_TEMPLATE["multiple choice"]``); its RL prompt has no tail (``format_prompt:``
# empty in config_ema_grpo_64.yaml), nor has its SFT data.
SEED_MC_TAIL = (
    "Please provide only the single option letter (e.g., A, B, C, D, etc.) "
    "within the <answer>...</answer> tags.\n"
    "Example:\n<answer>A</answer>"
)
# CameraBench's official binary protocol (t2v_metrics' ``question_template``): the question alone,
# no options, then this.
OFFICIAL_YES_NO_SUFFIX = " Please only answer Yes or No."

# The alignment stage's request: the video alone, answered by the chain's <observation>. A
# randomly initialised model learns to use the video under this target and not under
# question-conditioned ones (maintainers/experiment-log.md, "SFT through the language model").
CAPTION_INSTRUCTION = "Describe how the view changes across the frames."
IMAGE_PLACEHOLDER = "<image>"
OPTIONS_HEADER = "Options:"

# CamReasoner's binary format: "No" first, so "Yes" is B.
YES_NO_OPTIONS: tuple[str, str] = ("A. No", "B. Yes")
YES_LETTER = "B"
NO_LETTER = "A"

LETTERS = string.ascii_uppercase
_OPTION_RE = re.compile(r"^([A-Z])\.\s+(\S.*)$", re.DOTALL)


def option_letter(index: int) -> str:
    """``0 -> "A"``; options beyond Z are not supported by the answer format."""
    if not 0 <= index < len(LETTERS):
        raise ValueError(f"option index {index} outside A-Z")
    return LETTERS[index]


def make_options(texts: Sequence[str]) -> list[str]:
    """Letter plain option texts: ``["pan left", "tilt up"] -> ["A. pan left", "B. tilt up"]``."""
    return [f"{option_letter(i)}. {t}" for i, t in enumerate(texts)]


def split_option(option: str) -> tuple[str, str]:
    """``"B. Yes" -> ("B", "Yes")``; raises ValueError for anything else."""
    m = _OPTION_RE.match(option)
    if not m:
        raise ValueError(f"option {option!r} is not of the form 'A. text'")
    return m.group(1), m.group(2)


def build_question(question: str, options: Sequence[str]) -> str:
    """The multiple-choice block: the question, then ``Options:`` and one lettered option a line.

    Open-ended items (no options) are the question alone.
    """
    question = question.strip()
    if not options:
        return question
    return f"{question}\n{OPTIONS_HEADER}\n" + "\n".join(options)


def render_prompt(
    question: str, options: Sequence[str], instruction: str = DEFAULT_INSTRUCTION
) -> str:
    """The full user text (without the video placeholder); ``instruction`` names an INSTRUCTIONS key."""
    try:
        text = INSTRUCTIONS[instruction]
    except KeyError:
        raise KeyError(
            f"unknown instruction {instruction!r}; known: {', '.join(INSTRUCTIONS)}"
        ) from None
    return f"{build_question(question, options)}\n\n{text}"


def render_item_prompt(item, instruction: str = DEFAULT_INSTRUCTION) -> str:
    """:func:`render_prompt` for an :class:`camreasoner.data.schema.Item`."""
    return render_prompt(item.question, item.options, instruction)


def _seed_eval_prompt(item) -> str:
    tail = SEED_MC_TAIL if item.options else ""
    return render_item_prompt(item, "camera_ota") + tail


def _official_prompt(item) -> str:
    return item.question.strip() + OFFICIAL_YES_NO_SUFFIX


# Evaluation prompts by name (``eval run --prompt``), each a function of the item:
# - seed: the seed's eval_bench.py, byte for byte (the RL prompt + SEED_MC_TAIL).
# - camreasoner: the training prompt itself (SFT and RL render exactly this), so evaluation
#   cannot drift from training.
# - direct: the question and options with a direct-answer instruction (base-model rows).
# - official: CameraBench's binary protocol (no options, no reasoning).
EVAL_PROMPTS = {
    "seed": _seed_eval_prompt,
    "camreasoner": lambda item: render_item_prompt(item, "camera_ota"),
    "direct": lambda item: render_item_prompt(item, "direct"),
    "official": _official_prompt,
}


def render_eval_prompt(item, name: str) -> str:
    """The user text ``eval run`` sends for ``item`` under evaluation prompt ``name``."""
    try:
        render = EVAL_PROMPTS[name]
    except KeyError:
        raise KeyError(f"unknown evaluation prompt {name!r}; known: "
                       f"{', '.join(EVAL_PROMPTS)}") from None
    return render(item)


def with_video_placeholder(prompt: str) -> str:
    """The user text as LLaMA-Factory and verl read it: the video first, then the prompt."""
    return VIDEO_PLACEHOLDER + prompt


def with_frames_placeholders(prompt: str, n_frames: int) -> str:
    """The ``frames``-mode user text for LLaMA-Factory: one image per sampled frame, then the
    prompt -- what :func:`chat_messages` renders with ``n_frames``."""
    return IMAGE_PLACEHOLDER * n_frames + prompt


def parse_prompt(text: str) -> tuple[str, list[str], str | None]:
    """Inverse of :func:`render_prompt`: ``(question, options, instruction)``.

    ``instruction`` is an :data:`INSTRUCTIONS` key when the text ends with a known instruction,
    the trailing text itself when it ends with another one (prompts made elsewhere), or None.
    Accepts a leading video placeholder. Options are the lines after ``Options:`` up to the first
    blank line.
    """
    text = text.removeprefix(VIDEO_PLACEHOLDER)
    for key, instr in INSTRUCTIONS.items():
        suffix = "\n\n" + instr
        if text.endswith(suffix):
            question, options, _ = parse_prompt(text[: -len(suffix)])
            return question, options, key
    marker = f"\n{OPTIONS_HEADER}\n"
    if marker not in text:
        question, _, trailing = text.strip().partition("\n\n")
        return question.strip(), [], (trailing.strip() or None)
    question, _, block = text.partition(marker)
    options_block, _, trailing = block.partition("\n\n")
    options = [line.strip() for line in options_block.split("\n") if line.strip()]
    return question.strip(), options, (trailing.strip() or None)


def chat_messages(prompt: str, n_frames: int | None = None) -> list[dict]:
    """The chat a runner sends for one item: the video part, then the prompt text. Qwen's chat
    template renders it exactly as LLaMA-Factory and verl render ``<video>`` + prompt.

    With ``n_frames`` (the vision spec's ``frames`` mode) the clip is that many image parts
    instead of one video part."""
    media = [{"type": "video"}] if n_frames is None else [{"type": "image"}] * n_frames
    return [{"role": "user", "content": [*media, {"type": "text", "text": prompt}]}]
