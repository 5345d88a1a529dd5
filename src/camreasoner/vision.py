"""The video-input spec: one owner for how a clip becomes model input, in every stage.

SFT (LLaMA-Factory keys), RL (verl's ``videos`` column, read by qwen-vl-utils) and evaluation
(our runners) all derive their settings from one :class:`VisionSpec`, so a model is evaluated on
exactly the frames and resolution it was trained on.

Defaults, with the arithmetic: Qwen2.5-VL merges 2x2 patches of 14 px, so one visual token covers
28x28 = 784 px of a frame, and it merges 2 consecutive frames into one temporal patch. At
``max_pixels = 144 * 784 = 112,896`` (448x252) a frame pair is 144 tokens; 32 frames make
16 pairs, 16 * 144 = 2,304 video tokens: the "~2.3k video tokens" budget of the 7B recipes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

PIXELS_PER_TOKEN = 28 * 28  # one merged 2x2 patch of 14 px

VideoMode = Literal["video", "frames"]
# Which frames of a clip are kept:
# - "uniform": qwen-vl-utils' ``smart_nframes`` (``fps`` frames a second spread over the whole
#   clip, at least 4, at most ``max_frames``, an even count): what verl's video path and our
#   default read.
# - "ffmpeg_fps_filter": what ``ffmpeg -i clip -vf fps=<fps> frame_%05d.png`` writes, then the
#   first ``max_frames`` of them: the seed's RL frames (EasyR1 ``verl/utils/dataset.py``).
# - "ffmpeg_output_rate": what ``ffmpeg -i clip -r <fps> frame_%05d.png`` writes, then the first
#   ``max_frames``: the seed's evaluation frames (``Inference/infer/eval_bench.py``).
Sampling = Literal["uniform", "ffmpeg_fps_filter", "ffmpeg_output_rate"]
# How a kept frame is sized:
# - "smart": qwen-vl-utils' ``smart_resize`` into [min_pixels, max_pixels] (sides multiples of 28).
# - "easyr1": EasyR1's ``process_image`` (scaled by int() arithmetic to at most max_pixels, or up
#   to min_pixels), then the Qwen2.5-VL processor's own ``smart_resize`` at its bounds
#   (:data:`PROCESSOR_MIN_PIXELS`, :data:`PROCESSOR_MAX_PIXELS`): the seed's RL frames.
Resize = Literal["smart", "easyr1"]
SAMPLINGS: tuple[str, ...] = ("uniform", "ffmpeg_fps_filter", "ffmpeg_output_rate")
RESIZES: tuple[str, ...] = ("smart", "easyr1")

# Qwen2.5-VL's preprocessor_config.json (min_pixels 56*56, max_pixels 28*28*16384): the bounds of
# the processor's own resize, which the seed's RL frames go through after EasyR1's.
PROCESSOR_MIN_PIXELS = 3136
PROCESSOR_MAX_PIXELS = 12_845_056


@dataclass(frozen=True)
class VisionSpec:
    """How videos are sampled and sized for the model.

    fps: frames sampled per second of video.
    max_frames: cap on sampled frames (longer clips are sampled uniformly down to it).
    min_pixels / max_pixels: per-frame area bounds; frames are resized into them, keeping aspect.
    mode: ``video`` feeds a video tensor (Qwen's temporal patches); ``frames`` feeds the sampled
        frames as separate images (the seed's RL and evaluation input).
    sampling: which frames are kept (see :data:`Sampling`).
    resize: how each kept frame is sized (see :data:`Resize`).
    """

    fps: float = 2.0
    max_frames: int = 32
    min_pixels: int = 16 * PIXELS_PER_TOKEN
    max_pixels: int = 144 * PIXELS_PER_TOKEN
    mode: VideoMode = "video"
    sampling: Sampling = "uniform"
    resize: Resize = "smart"

    def __post_init__(self) -> None:
        if self.fps <= 0:
            raise ValueError(f"vision.fps must be > 0, got {self.fps}")
        if self.max_frames < 2:
            raise ValueError(f"vision.max_frames must be >= 2 (one temporal patch), got {self.max_frames}")
        if not 0 < self.min_pixels <= self.max_pixels:
            raise ValueError(
                f"vision needs 0 < min_pixels <= max_pixels, got {self.min_pixels}, {self.max_pixels}"
            )
        if self.mode not in ("video", "frames"):
            raise ValueError(f"vision.mode must be 'video' or 'frames', got {self.mode!r}")
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"vision.sampling must be one of {', '.join(SAMPLINGS)}, got "
                             f"{self.sampling!r}")
        if self.resize not in RESIZES:
            raise ValueError(f"vision.resize must be one of {', '.join(RESIZES)}, got "
                             f"{self.resize!r}")
        if self.mode == "video" and self.sampling != "uniform":
            # a video tensor needs evenly spaced frames in pairs; ffmpeg's 1 fps frames are images
            raise ValueError(f"vision.sampling={self.sampling!r} needs mode='frames'")

    def with_overrides(self, **kw: Any) -> VisionSpec:
        return replace(self, **kw)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def max_video_tokens(self) -> int:
        """Upper bound on video tokens per clip (2 frames per temporal patch)."""
        return (self.max_frames // 2) * (self.max_pixels // PIXELS_PER_TOKEN)

    def fetch_bounds(self) -> tuple[int, int]:
        """The (min_pixels, max_pixels) to give qwen-vl-utils' ``fetch_image`` for a stored frame
        so that it reaches this spec's size: the spec's own bounds for ``smart`` resizing; for
        ``easyr1``, the processor's (the frame is stored at EasyR1's process_image size, which
        the seed's processor then resized with its own bounds)."""
        if self.resize == "easyr1":
            return PROCESSOR_MIN_PIXELS, PROCESSOR_MAX_PIXELS
        return self.min_pixels, self.max_pixels

    # --- per-framework forms -------------------------------------------------------------
    def qwen_vl_video(self, uri: str) -> dict[str, Any]:
        """The dict qwen-vl-utils and verl's ``videos`` column take for one clip."""
        return {
            "video": uri,
            "fps": self.fps,
            "max_frames": self.max_frames,
            "min_pixels": self.min_pixels,
            "max_pixels": self.max_pixels,
        }

    def llamafactory_args(self) -> dict[str, Any]:
        """LLaMA-Factory's data arguments for the same sampling (in ``frames`` mode also the
        image bounds, which the pre-sampled, pre-sized frames already meet)."""
        args = {
            "video_fps": self.fps,
            "video_maxlen": self.max_frames,
            "video_min_pixels": self.min_pixels,
            "video_max_pixels": self.max_pixels,
        }
        if self.mode == "frames":
            args.update(image_min_pixels=self.min_pixels, image_max_pixels=self.max_pixels)
        return args


DEFAULT_VISION = VisionSpec()

# The tiny CPU model and the synthetic clips: small frames so tests and the demo are fast.
# 2 fps, not more: a temporal patch (2 frames) must span a whole second. transformers 5.5's
# Qwen2.5-VL get_rope_index takes int(second_per_grid_ts), so at 4 fps (0.5 s) every temporal
# patch got the same M-RoPE position and the language model could not tell the frames' order
# (transformers PR #48669; maintainers/experiment-log.md, "The frames' order").
TINY_VISION = VisionSpec(fps=2.0, max_frames=8, min_pixels=4 * PIXELS_PER_TOKEN,
                         max_pixels=16 * PIXELS_PER_TOKEN)

# The seed's three stages (../shared/docs/SEED_PROTOCOL.md, "Visual input"):
# SFT: LLaMA-Factory's video path with the seed recipe's video_max_pixels 16,384 and LLaMA-Factory
# 0.9.5's defaults for the rest (video_fps 2.0, video_maxlen 128, video_min_pixels 256).
SEED_SFT_VISION = VisionSpec(fps=2.0, max_frames=128, min_pixels=256, max_pixels=16_384)
# RL: ffmpeg's fps=1 filter, the first 64 frames, each a separate image sized by EasyR1's
# process_image with min_pixels 3,136 and max_pixels 1,048,576 (the prompt budget of 16,384
# tokens then drops frames: camreasoner.protocols).
SEED_RL_VISION = VisionSpec(fps=1.0, max_frames=64, min_pixels=3136, max_pixels=1_048_576,
                            mode="frames", sampling="ffmpeg_fps_filter", resize="easyr1")
# Evaluation: ffmpeg -r 1, the first 64 frames, each an image through qwen-vl-utils' fetch_image
# with max_pixels 1024*32*32 = 1,048,576 (its default min_pixels, 4 * 28 * 28 = 3,136).
SEED_EVAL_VISION = VisionSpec(fps=1.0, max_frames=64, min_pixels=3136, max_pixels=1_048_576,
                              mode="frames", sampling="ffmpeg_output_rate")
# CameraBench's official binary protocol (t2v_metrics' Qwen2.5-VL scorer): the video at 8 fps,
# max_pixels 360 * 420 = 151,200, qwen-vl-utils' video defaults for the rest (min 128 tokens a
# frame, at most 768 frames).
OFFICIAL_VISION = VisionSpec(fps=8.0, max_frames=768, min_pixels=128 * PIXELS_PER_TOKEN,
                             max_pixels=151_200)

PRESETS: dict[str, VisionSpec] = {"default": DEFAULT_VISION, "tiny": TINY_VISION,
                                  "seed_sft": SEED_SFT_VISION, "seed_rl": SEED_RL_VISION,
                                  "seed_eval": SEED_EVAL_VISION, "official": OFFICIAL_VISION}


def vision_preset(name: str) -> VisionSpec:
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown vision preset {name!r}; known: {', '.join(PRESETS)}") from None
