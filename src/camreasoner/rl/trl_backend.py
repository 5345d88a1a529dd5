"""``camreasoner rl --backend trl``: GRPO with TRL's GRPOTrainer on one GPU or the CPU, with the
same rewards and items as the verl path. verl stays the default for clusters.

Each clip goes in as the vision spec says, as in SFT and evaluation: one video part (``video``
mode) or its sampled frames as image parts (``frames``). TRL 0.24 itself trains on images only
and drops a video part; :class:`camreasoner.rl.trl_clip_trainer.ClipGRPOTrainer` feeds it the
clip. A model trained in frames mode is evaluated the same way: ``camreasoner eval run
--vision-mode frames`` (the run's config records it).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camreasoner import prompts
from camreasoner.data.readers import load_items
from camreasoner.data.schema import resolve_video
from camreasoner.media.video import SampledVideo
from camreasoner.vision import VisionSpec

log = logging.getLogger(__name__)


@dataclass
class TrlConfig:
    model: str
    items: str
    video_root: str
    output_dir: str
    vision: VisionSpec = field(default_factory=lambda: VisionSpec(fps=2.0, max_frames=8))
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
    # them: the clips of the items it never draws are not decoded)
    max_items: int = 0
    # the vision tower (and its merger) keeps its weights: the language model alone learns, as in
    # the SFT recipes that freeze it
    freeze_vision_tower: bool = False


@dataclass
class RlData:
    """The rows GRPO samples (prompt text, clip key, what the rewards read) and each row's clip,
    decoded once by the vision spec (the rows hold only its key)."""

    rows: Any  # datasets.Dataset
    clips: dict[str, SampledVideo]


def _read_items(cfg: TrlConfig) -> dict[str, Any]:
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
    return items


def build_dataset(cfg: TrlConfig) -> RlData:
    from datasets import Dataset

    from camreasoner.media.frames import FrameJob, prefetch

    items = _read_items(cfg)
    # One decode a clip, however many items ask about it (a clip has 15 binary items).
    paths = {i.id: str(resolve_video(cfg.video_root, i.video, item_id=i.id)) for i in items.values()}
    first_item = {}
    for item_id, path in paths.items():
        first_item.setdefault(path, item_id)
    jobs = [FrameJob(path, path, cfg.vision, cfg.cache_dir) for path in first_item]
    clips: dict[str, SampledVideo] = {}
    for path, video, error in prefetch(jobs, workers=cfg.workers, ahead=4 * max(1, cfg.workers)):
        if error is not None:
            raise ValueError(f"item {first_item[path]!r}: {error}")
        clips[path] = video
    rows = [{"prompt": prompts.render_item_prompt(item), "clip": paths[item.id],
             "answer": item.answer, "options": list(item.options), "question": item.question,
             "task": item.task} for item in items.values()]
    if not rows:
        raise ValueError(f"{cfg.items} holds no items")
    return RlData(Dataset.from_list(rows), clips)


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


def make_trainer(cfg: TrlConfig):
    """The GRPO trainer of ``cfg``, ready to ``train()``."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from camreasoner.qwen_positions import fix_video_positions
    from camreasoner.qwen_vision_attention import batch_vision_windows
    from camreasoner.rewards import trl_reward_funcs, trl_reward_weights

    fix_trl_availability_flags()  # before TRL's import
    from trl import GRPOConfig

    from camreasoner.rl.trl_clip_trainer import ClipGRPOTrainer

    fix_video_positions()  # as in SFT and evaluation: the installed transformers' are wrong
    batch_vision_windows()
    data = build_dataset(cfg)
    processor = AutoProcessor.from_pretrained(cfg.model)
    processor.tokenizer.padding_side = "left"  # the trainer reads prompts as left-padded
    args = GRPOConfig(
        output_dir=cfg.output_dir, max_steps=cfg.max_steps, learning_rate=cfg.learning_rate,
        num_generations=cfg.num_generations, per_device_train_batch_size=cfg.per_device_batch,
        max_completion_length=cfg.max_completion_length, temperature=cfg.temperature,
        reward_weights=trl_reward_weights(cfg.weights), beta=0.0, logging_steps=1,
        save_strategy="no", report_to=[], use_cpu=cfg.use_cpu, bf16=not cfg.use_cpu,
        seed=cfg.seed, remove_unused_columns=False, **cfg.extra,
    )
    model = AutoModelForImageTextToText.from_pretrained(cfg.model)
    if cfg.freeze_vision_tower:
        model.model.visual.requires_grad_(False)
        log.info("vision tower frozen: %d of %d parameters train", model.num_parameters(
            only_trainable=True), model.num_parameters())
    if not hasattr(model, "warnings_issued"):
        # TRL 0.24 writes to this dict, which transformers 5 models no longer have.
        model.warnings_issued = {}
    return ClipGRPOTrainer(model=model, reward_funcs=trl_reward_funcs(cfg.weights), args=args,
                           train_dataset=data.rows, processing_class=processor,
                           clips=data.clips, frames_mode=cfg.vision.mode == "frames")


def train(cfg: TrlConfig):
    """Run GRPO; returns the trainer (its state holds the per-step logs)."""
    os.makedirs(cfg.output_dir, exist_ok=True)
    trainer = make_trainer(cfg)
    trainer.train()
    final = Path(cfg.output_dir) / "final"
    trainer.save_model(str(final))
    trainer.processing_class.save_pretrained(str(final))
    log.info("GRPO (TRL) done: %s", final)
    return trainer
