"""A tiny random Qwen2.5-VL built locally, for tests and the CPU demo (no hub access).

``build_tiny_model(out)`` writes a folder that ``AutoProcessor`` and
``AutoModelForImageTextToText`` load: a random Qwen2.5-VL (text hidden 64, 2 layers; vision depth
2), a byte-level BPE tokenizer trained here with the ``tokenizers`` library on our own prompt and
taxonomy text, Qwen's special tokens, the Qwen2-VL chat template, and image/video processors with
small pixel bounds (the video processor's default minimum of 100,352 px would upscale small
frames to ~316x316 and make every test slow).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# Qwen2's pre-tokeniser split pattern (from its tokenizer.json).
QWEN2_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Order matters: the model config stores the ids these get.
SPECIAL_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
)

# The Qwen2-VL chat template (as shipped with Qwen2-VL / Qwen2.5-VL instruct models).
QWEN2_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture "
    "{{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video "
    "{{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True)
class TinyModelSpec:
    vocab_size: int = 1024  # BPE merges trained up to this size, specials appended after
    hidden_size: int = 64
    intermediate_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    vision_depth: int = 2
    vision_hidden: int = 32
    vision_heads: int = 2
    min_pixels: int = 4 * 28 * 28  # 3,136
    max_pixels: int = 16 * 28 * 28  # 12,544
    seed: int = 0

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def mrope_section(self) -> list[int]:
        # Sections (temporal, height, width) must sum to head_dim / 2: for head_dim 16, 2+3+3 = 8.
        half = self.head_dim // 2
        t = half // 4
        h = (half - t) // 2
        return [t, h, half - t - h]


def _training_corpus() -> list[str]:
    """Text the tokenizer learns merges from: our prompts, taxonomy and O-T-A phrasing."""
    from camreasoner import prompts, taxonomy

    lines = [prompts.CAMERA_OTA_INSTRUCTION, *prompts.INSTRUCTIONS.values(), "Options:",
             *prompts.YES_NO_OPTIONS, "You are a helpful assistant."]
    for p in taxonomy.PRIMITIVES:
        lines += [p.question, p.yes_means, p.display]
    for term in taxonomy.MOTION_VOCABULARY.values():
        lines += [term.meaning, *term.phrases]
    for words in taxonomy.DIRECTION_WORDS.values():
        lines += list(words)
    for letter in "ABCDEF":
        lines.append(f"<observation>The scene slides to the left and near objects move faster "
                     f"than far ones.</observation><think>Parallax means translation, not a pan."
                     f"</think><answer>{letter}</answer>")
    lines += [str(i) for i in range(100)]
    return lines


def build_tokenizer(spec: TinyModelSpec):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2TokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=spec.vocab_size, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[],
    )
    tok.train_from_iterator(_training_corpus(), trainer=trainer)
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    return Qwen2TokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        unk_token=None, bos_token=None, errors="replace", clean_up_tokenization_spaces=False,
        model_max_length=32768,
    )


def build_tiny_model(out: str | os.PathLike[str], spec: TinyModelSpec = TinyModelSpec()) -> Path:
    """Write the tiny model, tokenizer and processor to ``out``; return the folder."""
    import torch
    from transformers import (
        AutoModelForImageTextToText,
        GenerationConfig,
        Qwen2_5_VLConfig,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(spec)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    vocab_size = len(tokenizer)
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": vocab_size, "hidden_size": spec.hidden_size,
            "intermediate_size": spec.intermediate_size, "num_hidden_layers": spec.num_layers,
            "num_attention_heads": spec.num_heads, "num_key_value_heads": spec.num_kv_heads,
            "max_position_embeddings": 32768, "max_window_layers": spec.num_layers,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0,
                                "mrope_section": spec.mrope_section},
            "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": spec.vision_depth, "hidden_size": spec.vision_hidden,
            "intermediate_size": 2 * spec.vision_hidden, "num_heads": spec.vision_heads,
            "out_hidden_size": spec.hidden_size, "fullatt_block_indexes": [spec.vision_depth - 1],
            "window_size": 112, "tokens_per_second": 2,
        },
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(spec.seed)
    model = AutoModelForImageTextToText.from_config(config)
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"], do_sample=False,
    )
    model.save_pretrained(out)
    pixel_kw = {"min_pixels": spec.min_pixels, "max_pixels": spec.max_pixels}
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(**pixel_kw),
        video_processor=Qwen2VLVideoProcessor(**pixel_kw),
        tokenizer=tokenizer, chat_template=QWEN2_VL_CHAT_TEMPLATE,
    )
    processor.save_pretrained(out)
    n_params = sum(p.numel() for p in model.parameters())
    (out / "camreasoner_tiny.json").write_text(
        json.dumps({"spec": spec.__dict__, "parameters": n_params, "vocab_size": vocab_size},
                   indent=2) + "\n")
    log.info("tiny Qwen2.5-VL with %s parameters written to %s", f"{n_params:,}", out)
    return out
