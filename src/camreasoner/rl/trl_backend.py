"""``camreasoner rl --backend trl``: GRPO with TRL's GRPOTrainer on one GPU or the CPU, with the
same rewards and items as the verl path. verl stays the default for clusters.

TRL trains on images only (an inline video part is silently ignored, and the vision tower never
learns), so each clip goes in as its sampled frames, one image part per frame, in front of the
shared prompt: the vision spec's ``frames`` mode. A model trained this way must be evaluated the
same way: ``camreasoner eval run --vision-mode frames`` (the run's config records it).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camreasoner import prompts
from camreasoner.vision import VisionSpec

log = logging.getLogger(__name__)


@dataclass
class TrlConfig:
    model: str
    items: str
    video_root: str
    output_dir: str
    vision: VisionSpec = field(default_factory=lambda: VisionSpec(fps=2.0, max_frames=8,
                                                                  mode="frames"))
    max_steps: int = 100
    learning_rate: float = 2e-6
    num_generations: int = 8
    per_device_batch: int = 8
    max_completion_length: int = 1024
    temperature: float = 1.0
    weights: dict[str, float] | None = None
    use_cpu: bool = False
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    workers: int = 0  # processes decoding the clips (0: this one)
    cache_dir: str | None = None  # media.frames' cache of decoded frames (shared with SFT, eval)
    # > 0: train on this many items, a seeded sample (GRPO sees max_steps x prompts a step of
    # them; the demo's 12 x 4 out of 2,400 spent ~85 s on the H100 storing the unused frames)
    max_items: int = 0


def build_dataset(cfg: TrlConfig):
    from datasets import Dataset
    from PIL import Image

    from camreasoner.data.readers import load_items
    from camreasoner.data.schema import resolve_video
    from camreasoner.media.frames import FrameJob, prefetch

    items = {}
    for item in load_items(cfg.items):
        if not item.options:
            raise ValueError(f"item {item.id!r}: RL items must be multiple choice")
        items[item.id] = item
    if 0 < cfg.max_items < len(items):
        import random

        chosen = sorted(random.Random(cfg.seed).sample(sorted(items), cfg.max_items))
        log.info("RL items: a seeded sample of %d of the %d in %s (max_items)", cfg.max_items,
                 len(items), cfg.items)
        items = {i: items[i] for i in chosen}
    jobs = [FrameJob(i.id, str(resolve_video(cfg.video_root, i.video, item_id=i.id)), cfg.vision,
                     cfg.cache_dir) for i in items.values()]
    rows = []
    for item_id, video, error in prefetch(jobs, workers=cfg.workers, ahead=4 * max(1, cfg.workers)):
        if error is not None:
            raise ValueError(f"item {item_id!r}: {error}")
        item = items[item_id]
        rows.append({
            "prompt": prompts.chat_messages(prompts.render_item_prompt(item), len(video.frames)),
            "images": [Image.fromarray(f) for f in video.frames],
            "answer": item.answer, "options": list(item.options), "question": item.question,
            "task": item.task,
        })
    if not rows:
        raise ValueError(f"{cfg.items} holds no items")
    return Dataset.from_list(rows)


def fix_trl_availability_flags() -> list[str]:
    """TRL 0.24 reads optional packages with transformers' ``_is_package_available``, which in
    transformers 5 returns a ``(found, version)`` tuple; a tuple is truthy, so TRL believes
    mergekit, deepspeed, … are installed and fails importing them. Reduce the flags to their
    boolean (TRL's own intent). Returns the flags changed."""
    import trl.import_utils as iu

    changed = []
    for name in dir(iu):
        value = getattr(iu, name)
        if name.startswith("_") and name.endswith("_available") and isinstance(value, tuple):
            setattr(iu, name, bool(value[0]))
            changed.append(name)
    return changed


def train(cfg: TrlConfig):
    """Run GRPO; returns the trainer (its state holds the per-step logs)."""
    from transformers import AutoProcessor

    fix_trl_availability_flags()
    from trl import GRPOConfig, GRPOTrainer

    from camreasoner.rewards import trl_reward_funcs, trl_reward_weights

    os.makedirs(cfg.output_dir, exist_ok=True)
    dataset = build_dataset(cfg)
    processor = AutoProcessor.from_pretrained(cfg.model)
    processor.tokenizer.padding_side = "left"
    args = GRPOConfig(
        output_dir=cfg.output_dir, max_steps=cfg.max_steps, learning_rate=cfg.learning_rate,
        num_generations=cfg.num_generations, per_device_train_batch_size=cfg.per_device_batch,
        max_completion_length=cfg.max_completion_length, temperature=cfg.temperature,
        reward_weights=trl_reward_weights(cfg.weights), beta=0.0, logging_steps=1,
        save_strategy="no", report_to=[], use_cpu=cfg.use_cpu, bf16=not cfg.use_cpu,
        seed=cfg.seed, remove_unused_columns=False, **cfg.extra,
    )
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(cfg.model)
    if not hasattr(model, "warnings_issued"):
        # TRL 0.24 writes to this dict, which transformers 5 models no longer have.
        model.warnings_issued = {}
    trainer = GRPOTrainer(model=model, reward_funcs=trl_reward_funcs(cfg.weights), args=args,
                          train_dataset=dataset, processing_class=processor)
    trainer.train()
    final = Path(cfg.output_dir) / "final"
    trainer.save_model(str(final))
    processor.save_pretrained(str(final))
    log.info("GRPO (TRL) done: %s", final)
    return trainer
