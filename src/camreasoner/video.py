"""Reading videos: probing and frame sampling with PyAV, following :mod:`camreasoner.vision`.

Frame sampling and resizing follow qwen-vl-utils (``smart_nframes``, ``smart_resize``), which is
how verl reads RL videos, so evaluation sees the frames RL trained on:
``n = floor_even(clamp(total / native_fps * fps, MIN_FRAMES, max_frames, total))``, indices
``round(linspace(0, total - 1, n))``; frames resized (bicubic, antialiased) to the multiple of 28
nearest the source size within ``[min_pixels, max_pixels]``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from camreasoner.vision import VisionSpec


class VideoError(RuntimeError):
    """A video that is missing, empty or cannot be decoded; the message names the file."""


@dataclass(frozen=True)
class VideoInfo:
    path: str
    frames: int  # counted from demuxed packets, not the container's estimate
    duration: float  # seconds
    fps: float
    width: int
    height: int


def probe(path: str | os.PathLike[str], decode_all: bool = False) -> VideoInfo:
    """Count frames and read size and duration; decode the first frame (or all, if asked) to
    prove the stream decodes. Raises :class:`VideoError` with the reason."""
    import av

    path = os.fspath(path)
    if not os.path.exists(path):
        raise VideoError(f"{path}: file not found")
    if os.path.getsize(path) == 0:
        raise VideoError(f"{path}: file is empty")
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise VideoError(f"{path}: no video stream")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            rate = stream.average_rate or stream.guessed_rate
            fps = float(rate) if rate else 0.0
            time_base, stream_duration = stream.time_base, stream.duration
            # Demuxing counts frames without decoding them (the empty packet is the flush).
            frames = sum(1 for packet in container.demux(stream) if packet.size)
        if frames == 0:
            raise VideoError(f"{path}: video stream has no frames")
        with av.open(path) as container:
            decoded = container.decode(video=0)
            n_decoded = sum(1 for _ in decoded) if decode_all else int(next(decoded, None) is not None)
        if n_decoded == 0:
            raise VideoError(f"{path}: no frame decodes")
        if decode_all and n_decoded < frames:
            raise VideoError(f"{path}: only {n_decoded} of {frames} frames decode")
    except VideoError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise VideoError(f"{path}: cannot decode ({type(e).__name__}: {e})") from None
    if stream_duration is not None and time_base:
        duration = float(stream_duration * time_base)
    else:
        duration = frames / fps if fps else 0.0
    if fps == 0.0 and duration > 0:
        fps = frames / duration
    return VideoInfo(path, frames, duration, fps, width, height)


MIN_FRAMES = 4  # qwen-vl-utils' FPS_MIN_FRAMES
FRAME_FACTOR = 2  # Qwen merges frame pairs
SIZE_FACTOR = 28  # 14 px patches merged 2x2


def sample_indices(total_frames: int, native_fps: float, spec: VisionSpec) -> list[int]:
    """Which frames to keep, by qwen-vl-utils' ``smart_nframes`` rule (see module docstring).
    A clip shorter than two frames repeats its frame to make one temporal patch."""
    if total_frames < 1:
        raise ValueError("a clip needs at least one frame")
    if total_frames < FRAME_FACTOR:
        return [0] * FRAME_FACTOR
    fps = native_fps if native_fps > 0 else spec.fps
    n = total_frames / fps * spec.fps
    max_frames = spec.max_frames - spec.max_frames % FRAME_FACTOR
    n = min(max(n, MIN_FRAMES), max_frames, total_frames)
    n = int(n) - int(n) % FRAME_FACTOR
    return [int(x) for x in np.round(np.linspace(0, total_frames - 1, n))]


def model_size(height: int, width: int, spec: VisionSpec) -> tuple[int, int]:
    """qwen-vl-utils' ``smart_resize``: sides divisible by 28, area within the spec's bounds."""
    import math

    f = SIZE_FACTOR
    h_bar = max(f, round(height / f) * f)
    w_bar = max(f, round(width / f) * f)
    if h_bar * w_bar > spec.max_pixels:
        beta = math.sqrt(height * width / spec.max_pixels)
        h_bar = max(f, math.floor(height / beta / f) * f)
        w_bar = max(f, math.floor(width / beta / f) * f)
    elif h_bar * w_bar < spec.min_pixels:
        beta = math.sqrt(spec.min_pixels / (height * width))
        h_bar = math.ceil(height * beta / f) * f
        w_bar = math.ceil(width * beta / f) * f
    return h_bar, w_bar


def resize_for_model(frames: np.ndarray, spec: VisionSpec) -> np.ndarray:
    """Resize ``(T, H, W, 3)`` uint8 frames to :func:`model_size` with Pillow's bicubic filter
    (antialiased when shrinking), as LLaMA-Factory resizes SFT frames; qwen-vl-utils' torchvision
    bicubic (verl) differs from it by rounding only. Frames already at size are returned as they
    are. Pillow, not torch: decode workers then start without importing torch."""
    from PIL import Image

    h, w = frames.shape[1:3]
    th, tw = model_size(h, w, spec)
    if (th, tw) == (h, w):
        return frames
    return np.stack([np.asarray(Image.fromarray(f).resize((tw, th), Image.Resampling.BICUBIC))
                     for f in frames])


@dataclass(frozen=True)
class SampledVideo:
    """Sampled frames plus what a processor needs to time them (Qwen's temporal position ids)."""

    frames: np.ndarray  # uint8 (T, H, W, 3)
    indices: tuple[int, ...]  # which source frames
    total_frames: int
    native_fps: float

    @property
    def sampled_fps(self) -> float:
        return len(self.indices) / self.total_frames * self.native_fps if self.native_fps else 2.0

    def metadata(self) -> dict:
        """Keyword arguments for ``transformers.video_utils.VideoMetadata``."""
        return {"total_num_frames": self.total_frames, "fps": self.native_fps or None,
                "frames_indices": list(self.indices)}


def read_frames(path: str | os.PathLike[str], spec: VisionSpec) -> SampledVideo:
    """Decode the sampled frames as ``uint8 (T, H, W, 3)`` RGB.

    Two passes over one open file: demux (no decoding) to list every frame's timestamp in display
    order, then decode only what the wanted frames need. Packets whose frame is not wanted are
    sent with ``skip_frame = NONREF``, so the decoder drops non-reference frames (typically half of
    an H.264 stream's B-frames) instead of reconstructing them; reference frames still decode,
    so the wanted frames are bit-identical to a full decode. Only wanted frames are converted to
    RGB. Streams without timestamps fall back to decoding every frame.
    """
    import av

    path = os.fspath(path)
    if not os.path.exists(path):
        raise VideoError(f"{path}: file not found")
    if os.path.getsize(path) == 0:
        raise VideoError(f"{path}: file is empty")
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise VideoError(f"{path}: no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            native_fps = float(rate) if rate else 0.0
            pts = [p.pts for p in container.demux(stream) if p.size]
            if not pts:
                raise VideoError(f"{path}: video stream has no frames")
            indices = sample_indices(len(pts), native_fps, spec)
            container.seek(0, stream=stream)
            stream.thread_type = "SLICE"  # frame threading would race the per-packet skip flag
            if any(p is None for p in pts):
                got = _decode_by_count(container, stream, indices)
            else:
                order = sorted(pts)
                want = {order[i] for i in indices}
                frames: dict[int, np.ndarray] = {}
                ctx = stream.codec_context
                for packet in container.demux(stream):
                    ctx.skip_frame = "DEFAULT" if packet.pts in want else "NONREF"
                    for frame in packet.decode():
                        if frame.pts in want and frame.pts not in frames:
                            frames[frame.pts] = frame.to_ndarray(format="rgb24")
                    if len(frames) == len(want):
                        break
                got = [frames.get(order[i]) for i in indices]
    except VideoError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise VideoError(f"{path}: cannot decode ({type(e).__name__}: {e})") from None
    decoded = [g for g in got if g is not None]
    if not decoded:
        raise VideoError(f"{path}: no frame decodes")
    # A damaged tail can leave wanted frames undecoded: repeat the nearest earlier one so the
    # count is still what the spec asked for.
    filled, last = [], decoded[0]
    for g in got:
        last = g if g is not None else last
        filled.append(last)
    return SampledVideo(np.stack(filled), tuple(indices), len(pts), native_fps)


def _decode_by_count(container, stream, indices: list[int]) -> list[np.ndarray | None]:
    wanted: dict[int, list[int]] = {}
    for slot, idx in enumerate(indices):
        wanted.setdefault(idx, []).append(slot)
    out: list[np.ndarray | None] = [None] * len(indices)
    for i, frame in enumerate(container.decode(stream)):
        if i in wanted:
            arr = frame.to_ndarray(format="rgb24")
            for slot in wanted[i]:
                out[slot] = arr
        if i >= max(wanted):
            break
    return out
