"""Small test clips written with PyAV: a textured pattern that slides, for tests and examples.

These are not the synthetic camera-motion renderer (``camreasoner synth``); they only need to be
valid, decodable H.264 files of a known size, frame count and duration.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


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
    import av

    if width % 2 or height % 2:
        raise ValueError(f"width and height must be even for yuv420p, got {width}x{height}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dx, dy = shift
    pad = max(abs(dx), abs(dy)) * frames + 8
    texture = _pattern(height + 2 * pad, width + 2 * pad, seed)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "23", "preset": "ultrafast"}
        for i in range(frames):
            y0, x0 = pad + i * dy, pad + i * dx
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(texture[y0:y0 + height, x0:x0 + width]), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
