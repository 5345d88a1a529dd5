"""A random-initialised Qwen2.5-VL-7B-shaped model written to disk, for the GPU benchmarks.

No weights are needed: the shape (8.29B parameters, a 152k-row LM head, the 32-layer windowed ViT)
sets the compute. The tokenizer is the tiny model's (its ids are all below 152,064, so every
token embeds); the processor's pixel bounds give 448x252 frames, 144 tokens per temporal patch.
"""

from __future__ import annotations

from pathlib import Path

# Qwen2.5-VL-7B-Instruct's config.json, less what the defaults already say.
TEXT_7B = {"vocab_size": 152064, "hidden_size": 3584, "intermediate_size": 18944,
           "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4,
           "max_position_embeddings": 128000,
           "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0,
                               "mrope_section": [16, 24, 24]}}
VISION_7B = {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
             "out_hidden_size": 3584, "fullatt_block_indexes": [7, 15, 23, 31],
             "window_size": 112, "tokens_per_second": 2, "patch_size": 14,
             "spatial_merge_size": 2, "temporal_patch_size": 2}
MIN_PIXELS, MAX_PIXELS = 16 * 784, 144 * 784  # 12,544 .. 112,896 = 448x252
# Qwen2.5-VL-3B-Instruct's config.json: a 36-layer 2048-wide LM with tied embeddings under the
# same ViT (its merger projects to 2048).
TEXT_3B = {"vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 11008,
           "num_hidden_layers": 36, "num_attention_heads": 16, "num_key_value_heads": 2,
           "max_position_embeddings": 128000, "tie_word_embeddings": True,
           "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0,
                               "mrope_section": [16, 24, 24]}}
VISION_3B = {**VISION_7B, "out_hidden_size": 2048}
SHAPES = {"7b": (TEXT_7B, VISION_7B), "3b": (TEXT_3B, VISION_3B)}


def build_model(tmp: Path, layers: int | None = None, in_tokenizer: bool = False,
                min_pixels: int = MIN_PIXELS, max_pixels: int = MAX_PIXELS,
                name: str = "model7b", size: str = "7b") -> tuple[Path, int]:
    """Write the model (bf16 safetensors), tokenizer and processor to ``tmp/model7b``; return the
    folder and the parameter count. Built on the GPU: random init of 8B parameters on the CPU
    takes minutes. ``in_tokenizer``: LM-head rows of ids the tokenizer lacks are zeroed, so greedy
    decoding (the max over ~1,000 random logits is > 0 almost surely) emits only ids that
    detokenise, which vLLM's detokenizer needs. ``min_pixels``/``max_pixels``: the processor's
    bounds (Qwen2.5-VL's own, 3,136 and 12,845,056, keep full-resolution frames whole)."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor, Qwen2_5_VLConfig

    from camreasoner.dev.tiny_model import build_tiny_model

    tiny = build_tiny_model(tmp / "tiny")
    proc = AutoProcessor.from_pretrained(tiny)
    tok = proc.tokenizer
    ids = {t: tok.convert_tokens_to_ids(t) for t in ("<|image_pad|>", "<|video_pad|>",
                                                      "<|vision_start|>", "<|vision_end|>",
                                                      "<|im_end|>", "<|endoftext|>")}
    text_shape, vision_shape = SHAPES[size]
    text = {**text_shape, "num_hidden_layers": layers or text_shape["num_hidden_layers"],
            "eos_token_id": ids["<|im_end|>"], "pad_token_id": ids["<|endoftext|>"],
            "bos_token_id": ids["<|endoftext|>"]}
    cfg = Qwen2_5_VLConfig(
        text_config=text, vision_config=vision_shape,
        tie_word_embeddings=text_shape.get("tie_word_embeddings", False),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )
    with torch.device("cuda"):
        model = AutoModelForImageTextToText.from_config(cfg, dtype=torch.bfloat16,
                                                        attn_implementation="sdpa")
    if in_tokenizer:
        with torch.no_grad():
            model.lm_head.weight[len(tok):] = 0
    out = tmp / name
    model.save_pretrained(out)
    for p in (proc.video_processor, proc.image_processor):
        p.min_pixels, p.max_pixels = min_pixels, max_pixels
        p.size = {"shortest_edge": min_pixels, "longest_edge": max_pixels}
    proc.save_pretrained(out)
    n = sum(p.numel() for p in model.parameters())
    del model
    torch.cuda.empty_cache()
    return out, n


def write_pan_items(tmp: Path, n_items: int, frames: int) -> Path:
    """``n_items`` clips (448x252, 4 fps, ``frames`` frames, varied drift) under ``tmp/v`` and one
    yes/no item each in ``tmp/items.jsonl`` (returned): the inputs of the GPU eval benchmarks."""
    from camreasoner import prompts
    from camreasoner.data.schema import Item, write_items
    from camreasoner.dev.clips import write_clip

    items = []
    for k in range(n_items):
        write_clip(tmp / "v" / f"{k}.mp4", frames=frames, width=448, height=252, fps=4,
                   shift=(k % 5 - 2, k % 3 - 1), seed=k)
        items.append(Item(id=f"i{k}", video=f"{k}.mp4", question="Does the camera pan left?",
                          options=list(prompts.YES_NO_OPTIONS), answer="B", task="Pan_Left"))
    write_items(tmp / "items.jsonl", items)
    return tmp / "items.jsonl"


def cuda_timed(fn):
    """``(fn(), seconds)`` with the GPU synchronised before and after: its queued work counts."""
    import time

    import torch

    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    sync()
    t = time.perf_counter()
    out = fn()
    sync()
    return out, time.perf_counter() - t
