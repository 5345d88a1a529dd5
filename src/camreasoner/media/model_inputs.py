"""Sampled clips -> a Qwen2.5-VL processor's inputs: the one place where a prompt and its clip
become token ids and pixel tensors outside the frameworks, so the transformers evaluation and the
TRL trainer feed the model alike (LLaMA-Factory and verl build theirs from the same
:class:`camreasoner.vision.VisionSpec`).

In ``video`` mode a clip is one video part (temporal patches of two frames, timed by the clip's
metadata); in ``frames`` mode each sampled frame is a separate image part (the seed's RL and
evaluation input).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from camreasoner.media.video import SampledVideo


def chat_text(processor: Any, prompt: str, n_frames: int | None = None) -> str:
    """The chat-formatted text of one item, ending where the assistant starts.
    ``n_frames``: the clip as that many image parts (``frames`` mode); None: one video part."""
    from camreasoner.prompts import chat_messages

    return processor.apply_chat_template(chat_messages(prompt, n_frames), tokenize=False,
                                         add_generation_prompt=True)


def text_token_types(types: Any, length: int) -> Any:
    """A batch's ``mm_token_type_ids`` (rows x prompt tokens) widened to ``length`` tokens, the
    added ones text (0): the types of prompt + completion, which transformers needs to give the
    vision tokens their positions in a forward pass over both."""
    import torch

    return torch.cat([types, types.new_zeros(types.size(0), length - types.size(1))], dim=1)


def processor_inputs(processor: Any, texts: Sequence[str], videos: Sequence[SampledVideo],
                     frames_mode: bool, padding_side: str | None = None):
    """A padded batch of ``texts`` with their clips, as tensors; ``padding_side`` "left" or
    "right", None: the tokenizer's own. Video mode passes each clip's frame indices and rate,
    so the temporal positions follow the clip's time, and ``do_sample_frames=False``: the frames
    are already the vision spec's."""
    side = {} if padding_side is None else {"padding_side": padding_side}
    if frames_mode:
        return processor(text=list(texts), images=[list(v.frames) for v in videos], padding=True,
                         return_tensors="pt", **side)
    from transformers.video_utils import VideoMetadata

    return processor(text=list(texts), videos=[v.frames for v in videos], padding=True,
                     return_tensors="pt",
                     video_metadata=[VideoMetadata(**v.metadata()) for v in videos],
                     do_sample_frames=False, **side)
