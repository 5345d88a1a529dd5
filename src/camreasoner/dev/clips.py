"""Small test clips (H.264, :func:`camreasoner.media.writer.write_video`): a textured pattern that
slides, for tests and examples.

These are not the synthetic camera-motion renderer (``camreasoner synth``); they only need to be
valid, decodable H.264 files of a known size, frame count and duration.

:func:`write_index_clip` writes clips whose every frame shows its own index (see
:func:`index_frame`), at any timestamps, so a test can tell which source frame an extracted
image is (``tests/test_seed_frames.py`` checks ffmpeg's 1 fps PNGs that way).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from camreasoner.media.writer import write_video


def _pattern(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(height // 8 + 2, width // 8 + 2, 3), dtype=np.uint8)
    big = np.repeat(np.repeat(coarse, 8, axis=0), 8, axis=1)
    return big


def write_clip(path: str | os.PathLike[str], *, frames: int = 8, width: int = 64,
               height: int = 64, fps: int = 8, shift: tuple[int, int] = (2, 0),
               seed: int = 0) -> Path:
    """Write an H.264 mp4 of ``frames`` frames in which a random texture slides by ``shift``
    pixels (dx, dy) per frame. Width and height must be even (yuv420p)."""
    dx, dy = shift
    pad = max(abs(dx), abs(dy)) * frames + 8
    texture = _pattern(height + 2 * pad, width + 2 * pad, seed)
    window = (texture[pad + i * dy:pad + i * dy + height, pad + i * dx:pad + i * dx + width]
              for i in range(frames))
    return write_video(path, window, fps, crf=23, preset="ultrafast")


def index_frame(index: int, *, width: int = 64, height: int = 48, block: int = 16) -> np.ndarray:
    """An RGB frame showing ``index`` in binary: bit ``b`` is the ``b``-th ``block`` x ``block``
    cell in row-major order, white for 1, black for 0 (64x48 at 16 px: 4 x 3 cells, 12 bits, up to
    4,095). Full-contrast cells of 16 px survive H.264 at any sane quality."""
    cols, rows = width // block, height // block
    if not 0 <= index < 2 ** (cols * rows):
        raise ValueError(f"index {index} does not fit in {cols * rows} bits ({width}x{height}, "
                         f"{block} px cells)")
    img = np.zeros((height, width, 3), dtype=np.uint8)
    for bit in range(cols * rows):
        if index >> bit & 1:
            r, c = divmod(bit, cols)
            img[r * block:(r + 1) * block, c * block:(c + 1) * block] = 255
    return img


def read_index(frame: np.ndarray, *, block: int = 16) -> int:
    """The index :func:`index_frame` drew into ``frame`` (``(H, W, 3)``, any decode of it): each
    cell's inner half is averaged and thresholded at mid-grey, so edge ringing does not count."""
    height, width = frame.shape[:2]
    cols, rows = width // block, height // block
    m = block // 4
    index = 0
    for bit in range(cols * rows):
        r, c = divmod(bit, cols)
        cell = frame[r * block + m:(r + 1) * block - m, c * block + m:(c + 1) * block - m]
        index |= int(cell.mean() > 127) << bit
    return index


def write_index_clip(path: str | os.PathLike[str], pts: Sequence[int], *,
                     time_base: Fraction, rate: Fraction | int, width: int = 64, height: int = 48,
                     bframes: bool = True, audio: tuple[float, float] | None = None,
                     block: int = 16) -> Path:
    """Write an H.264 clip (container from the suffix) whose frame ``i`` shows :func:`index_frame`
    ``(i)`` and has presentation time ``pts[i] * time_base`` (any ascending ticks: a first pts
    other than 0, irregular gaps). ``rate`` is the stream's nominal frame rate.

    ``bframes``: libx264 at its defaults (preset medium: 3 B-frames, so decode order differs
    from display order) or with ``bf=0``. ``audio``: ``(start, seconds)`` of silent AAC (mono,
    16 kHz) in a second stream, e.g. starting before the video so that the container starts
    earlier than the video stream."""
    frames = (index_frame(i, width=width, height=height, block=block) for i in range(len(pts)))
    return write_video(path, frames, rate, bframes=None if bframes else 0, pts=pts,
                       time_base=time_base, silent_audio=audio)
