"""Frame sampling on the CPU for one clip: our PyAV sampler vs decord's get_batch (the decode
floor), the seed's ``ffmpeg -r 1`` -> PNG -> PIL path, and our on-disk frame cache.

    .venv/bin/python benchmarks/bench_frames.py [--seconds 8 --width 1280 --height 720 --fps 30]

Prints a table (median of --repeats runs) and the ratios; results go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np


def make_clip(path: Path, seconds: int, width: int, height: int, fps: int) -> None:
    """A textured pan at 30 fps, H.264 with libx264's defaults (preset medium, crf 23, one
    keyframe per 250 frames)."""
    from camreasoner.media.writer import write_video

    rng = np.random.default_rng(0)
    tex = rng.integers(0, 256, (height // 16 + 1, (width + seconds * fps * 4) // 16 + 1, 3),
                       dtype=np.uint8)
    tex = np.repeat(np.repeat(tex, 16, 0), 16, 1)[:height]
    write_video(path, (tex[:, i * 4:i * 4 + width] for i in range(seconds * fps)), fps)


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--sample-fps", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from camreasoner.media.frames import load_frames
    from camreasoner.media.video import read_frames, sample_indices
    from camreasoner.vision import VisionSpec

    spec = VisionSpec(fps=args.sample_fps, max_frames=64)
    tmp = Path(tempfile.mkdtemp())
    clip = tmp / "clip.mp4"
    make_clip(clip, args.seconds, args.width, args.height, args.fps)
    rows = []

    t_ours, video = timed(lambda: read_frames(clip, spec), args.repeats)
    rows.append(("camreasoner read_frames (PyAV)", t_ours, len(video.frames)))

    import decord

    def decord_batch():
        vr = decord.VideoReader(str(clip), num_threads=0)
        idx = sample_indices(len(vr), vr.get_avg_fps(), spec)
        return vr.get_batch(idx).asnumpy()

    t_decord, arr = timed(decord_batch, args.repeats)
    rows.append(("decord get_batch", t_decord, len(arr)))
    assert arr.shape == video.frames.shape, (arr.shape, video.frames.shape)

    t_seed = None
    if shutil.which("ffmpeg"):
        from PIL import Image

        def seed_path():
            out = Path(tempfile.mkdtemp(dir=tmp))
            subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-r", "1",
                            str(out / "f_%05d.png")], check=True)
            return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(out.iterdir())]

        t_seed, frames = timed(seed_path, args.repeats)
        rows.append(("seed: ffmpeg -r 1 -> PNG -> PIL", t_seed, len(frames)))

    cache = tmp / "cache"
    from camreasoner.media.video import resize_for_model

    resize_for_model(video.frames[:1], spec)  # import torch outside the timing (once per worker)
    t0 = time.perf_counter()
    load_frames(clip, spec, cache)
    t_miss = time.perf_counter() - t0
    t_hit, _ = timed(lambda: load_frames(clip, spec, cache), args.repeats)
    rows.append(("load_frames, cache miss (decode+resize+write)", t_miss, len(video.frames)))
    rows.append(("load_frames, cache hit", t_hit, len(video.frames)))

    print(f"clip: {args.seconds} s {args.width}x{args.height} {args.fps} fps H.264, sampled at "
          f"{args.sample_fps} fps; {os.cpu_count()} CPU cores; median of {args.repeats}")
    print(f"| {'method':46s} | seconds | frames |")
    print(f"|{'-' * 48}|---------|--------|")
    for name, t, n in rows:
        print(f"| {name:46s} | {t:7.3f} | {n:6d} |")
    print(f"ratio decord / ours: {t_decord / t_ours:.2f} (>= 1 means ours is at least as fast)")
    if t_seed:
        print(f"ratio seed path / ours: {t_seed / t_ours:.2f}")
    print(f"ratio cache miss / cache hit: {t_miss / t_hit:.1f}x")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
