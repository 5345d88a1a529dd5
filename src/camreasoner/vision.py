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


@dataclass(frozen=True)
class VisionSpec:
    """How videos are sampled and sized for the model.

    fps: frames sampled per second of video.
    max_frames: cap on sampled frames (longer clips are sampled uniformly down to it).
    min_pixels / max_pixels: per-frame area bounds; frames are resized into them, keeping aspect.
    mode: ``video`` feeds a video tensor (Qwen's temporal patches); ``frames`` feeds the sampled
        frames as separate images (for trainers without video support, e.g. TRL).
    """

    fps: float = 2.0
    max_frames: int = 32
    min_pixels: int = 16 * PIXELS_PER_TOKEN
    max_pixels: int = 144 * PIXELS_PER_TOKEN
    mode: VideoMode = "video"

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

    def with_overrides(self, **kw: Any) -> VisionSpec:
        return replace(self, **kw)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def max_video_tokens(self) -> int:
        """Upper bound on video tokens per clip (2 frames per temporal patch)."""
        return (self.max_frames // 2) * (self.max_pixels // PIXELS_PER_TOKEN)

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
TINY_VISION = VisionSpec(fps=4.0, max_frames=8, min_pixels=4 * PIXELS_PER_TOKEN,
                         max_pixels=16 * PIXELS_PER_TOKEN)

PRESETS: dict[str, VisionSpec] = {"default": DEFAULT_VISION, "tiny": TINY_VISION}


def vision_preset(name: str) -> VisionSpec:
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown vision preset {name!r}; known: {', '.join(PRESETS)}") from None
