"""Writing clips: one H.264 (libx264, yuv420p) writer for every clip we make.

The synthetic renderer (``camreasoner synth``), the test clips (``camreasoner.dev.clips``) and the
benchmarks all write through :func:`write_video`, so their stream setup cannot drift apart. The
defaults are libx264's own (crf 23, preset medium: encoding with them gives the encoder the
same settings as leaving them unset), so a caller names only what it changes.

The file appears whole or not at all: it is written under a temporary name beside ``path`` and
renamed onto it, so a killed render or a reader running alongside (the frame cache, a check) never
sees half a clip.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

# libx264's defaults (x264_param_default_preset with no tune): passing them is passing nothing.
DEFAULT_CRF = 23
DEFAULT_PRESET = "medium"
AUDIO_RATE = 16000  # Hz, of the silent track ``silent_audio`` adds


def _temp_name(path: Path) -> Path:
    # The container comes from the suffix, so the temporary name keeps it; pid + token keep two
    # writers of one path (two workers, two runs) off each other's file.
    return path.with_name(f".{path.stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp{path.suffix}")


def _frames(frames: np.ndarray | Iterable[np.ndarray], path: Path
            ) -> tuple[np.ndarray, Iterable[np.ndarray]]:
    """The first frame (to size the stream) and all frames, each checked to be an RGB(A) uint8
    image of the first one's size."""
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise ValueError(f"{path}: no frames to write")
    first = np.asarray(first)
    if first.ndim != 3 or first.shape[2] not in (3, 4) or first.dtype != np.uint8:
        raise ValueError(f"{path}: frames must be uint8 (H, W, 3) RGB or (H, W, 4) RGBA, "
                         f"got {first.dtype} {first.shape}")
    height, width = first.shape[:2]
    if width % 2 or height % 2:
        raise ValueError(f"{path}: width and height must be even for yuv420p, "
                         f"got {width}x{height}")

    def checked() -> Iterable[np.ndarray]:
        for i, f in enumerate(itertools.chain([first], it)):
            f = np.asarray(f)
            if f.shape != first.shape or f.dtype != np.uint8:
                raise ValueError(f"{path}: frame {i} is {f.dtype} {f.shape}, frame 0 "
                                 f"{first.dtype} {first.shape}")
            yield f

    return first, checked()


def write_video(path: str | os.PathLike[str], frames: np.ndarray | Iterable[np.ndarray],
                fps: int | Fraction, *, crf: int = DEFAULT_CRF, preset: str = DEFAULT_PRESET,
                bframes: int | None = None, pts: Sequence[int] | None = None,
                time_base: Fraction | None = None,
                silent_audio: tuple[float, float] | None = None) -> Path:
    """Write ``frames`` as an H.264 clip at ``path`` (container from the suffix: .mp4, .mkv, ...)
    and return the path.

    ``frames``: a uint8 array ``(T, H, W, 3)`` or an iterable of ``(H, W, 3)`` arrays (RGB; a
    fourth channel is taken as alpha and ignored, as the renderer draws 4-byte pixels), all of
    one size, width and height even (yuv420p halves the chroma). ``fps`` is the stream's nominal
    rate; without ``pts`` frame ``i`` is shown at ``i / fps``. ``crf``, ``preset``: libx264's
    quality and speed; ``bframes``: B-frames between references (None: the preset's; 0: decode
    order is display order). ``pts`` (ascending ticks of ``time_base``, one a frame): any
    timestamps, e.g. a first pts other than 0 or irregular gaps. ``silent_audio``:
    ``(start, seconds)`` of silent mono AAC in a second stream, e.g. starting before the video so
    that the container starts earlier than the video stream (tests of readers).
    """
    import av

    path = Path(path)
    first, checked = _frames(frames, path)
    if (pts is None) != (time_base is None):
        raise ValueError(f"{path}: pts and time_base go together")
    if pts is not None:
        pts = list(pts)
    height, width, channels = first.shape
    pix = "rgba" if channels == 4 else "rgb24"
    # one encoder thread: the same frames give the same bytes on any machine and under any load
    # (with threads chosen by core count, two encodes of one clip differed once in CI)
    options = {"crf": str(crf), "preset": preset, "threads": "1"}
    if bframes is not None:
        options["bf"] = str(bframes)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    try:
        with av.open(str(tmp), mode="w") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            if time_base is not None:
                stream.codec_context.time_base = time_base
                stream.time_base = time_base
            stream.options = options
            if silent_audio is not None:
                _mux_silence(container, *silent_audio)
            n = 0
            for n, f in enumerate(checked, 1):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format=pix)
                if pts is not None:
                    if n > len(pts):
                        raise ValueError(f"{path}: more frames than the {len(pts)} pts")
                    frame.pts, frame.time_base = pts[n - 1], time_base
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
            if pts is not None and n != len(pts):
                raise ValueError(f"{path}: {n} frames for {len(pts)} pts")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # also on KeyboardInterrupt: no hidden half file is left
        raise
    return path


def _mux_silence(container, start: float, seconds: float) -> None:
    """Encode and mux ``seconds`` of silent mono AAC from ``start`` (s) in a stream of its own,
    before any video packet."""
    import av

    sound = container.add_stream("aac", rate=AUDIO_RATE)
    sound.layout = "mono"
    first, n = round(start * AUDIO_RATE), round(seconds * AUDIO_RATE)
    for k in range(0, n, 1024):
        chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                           layout="mono")
        chunk.sample_rate, chunk.pts = AUDIO_RATE, first + k
        chunk.time_base = Fraction(1, AUDIO_RATE)
        for packet in sound.encode(chunk):
            container.mux(packet)
    for packet in sound.encode():
        container.mux(packet)
