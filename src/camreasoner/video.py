"""Reading videos: probing and frame sampling with PyAV, following :mod:`camreasoner.vision`.

Frame sampling mirrors qwen-vl-utils' rule so our runners and verl (which reads through
qwen-vl-utils) pick the same frames: ``n = clamp(round(duration * fps), 2, max_frames)``, rounded
down to an even number (Qwen merges frame pairs), indices spread uniformly over the clip.
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


def sample_indices(total_frames: int, native_fps: float, spec: VisionSpec) -> list[int]:
    """Which frames to keep, by the qwen-vl-utils rule (see module docstring)."""
    if total_frames < 1:
        raise ValueError("a clip needs at least one frame")
    duration = total_frames / native_fps if native_fps > 0 else total_frames
    n = round(duration * spec.fps)
    n = max(2, min(n, spec.max_frames, total_frames if total_frames >= 2 else 2))
    n -= n % 2
    return [int(round(x)) for x in np.linspace(0, total_frames - 1, n)]


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

    Decodes the stream once, keeping only the needed frames, so memory stays at T frames.
    """
    import av

    path = os.fspath(path)
    info = probe(path)
    indices = sample_indices(info.frames, info.fps, spec)
    wanted: dict[int, int] = {}
    for idx in indices:
        wanted[idx] = wanted.get(idx, 0) + 1
    out: list[np.ndarray] = []
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            last = max(wanted)
            for i, frame in enumerate(container.decode(stream)):
                if i in wanted:
                    arr = frame.to_ndarray(format="rgb24")
                    out.extend([arr] * wanted[i])
                if i >= last:
                    break
    except (av.error.FFmpegError, OSError) as e:
        raise VideoError(f"{path}: cannot decode ({type(e).__name__}: {e})") from None
    if not out:
        raise VideoError(f"{path}: no frame decodes")
    if len(out) != len(indices):
        # Fewer decodable frames than packets (a damaged tail): repeat the last decoded frame so
        # the count is still what the spec asked for.
        out.extend([out[-1]] * (len(indices) - len(out)))
    return SampledVideo(np.stack(out), tuple(indices), info.frames, info.fps)
