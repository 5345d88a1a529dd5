"""Synthetic renderer speed: frames per second per core at 224x224 (target >= 500, so a 40k-clip
corpus of 16 frames is about an hour on one 8-core machine... or 2.5 h on 2 cores).

    .venv/bin/python benchmarks/bench_synth.py [--clips 40 --size 224 --frames 16]

Measured in one process (one core): scene building + projection + compositing alone, then the
whole clip (with H.264 encoding, cue extraction and labels), and the end-to-end ``build`` with
items, SFT and RL files, with 1 and 2 workers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--frames", type=int, default=16)
    args = ap.parse_args()

    import cv2

    cv2.setNumThreads(1)  # per-core numbers
    from camreasoner.synth.build import build, choose_motion, render_clip
    from camreasoner.synth.motions import camera_path
    from camreasoner.synth.scene import make_scene, render

    tmp = Path(tempfile.mkdtemp())
    n_frames = args.clips * args.frames
    render_clip(0, 0, str(tmp / "warm"), args.size, args.frames, 8, None, ("regular",))
    t0 = time.perf_counter()
    for i in range(args.clips):
        rng = np.random.default_rng(i)
        surfaces = make_scene(rng)
        motion = choose_motion(i, 0, None, ("slow", "regular", "fast"))
        for pose in camera_path(motion, args.frames, args.size, rng):
            render(surfaces, pose, args.size, args.size)
    t_render = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(args.clips):
        render_clip(i, 0, str(tmp / "clips"), args.size, args.frames, 8, None,
                    ("slow", "regular", "fast"))
    t_clip = time.perf_counter() - t0
    rows = [("render only (projection + compositing)", t_render, 1),
            ("whole clip (+ H.264 encode, cues, labels)", t_clip, 1)]
    for workers in (1, 2):
        out = tmp / f"build{workers}"
        t0 = time.perf_counter()
        build(out, args.clips, seed=0, size=args.size, frames=args.frames, workers=workers,
              progress=False)
        rows.append((f"camreasoner synth, {workers} worker(s), items + SFT + RL files",
                     time.perf_counter() - t0, workers))
    print(f"{args.clips} clips x {args.frames} frames at {args.size}x{args.size}; "
          f"{os.cpu_count()} cores")
    print("| stage | seconds | frames/s | frames/s per core |")
    print("|---|---|---|---|")
    for name, t, cores in rows:
        print(f"| {name} | {t:.2f} | {n_frames / t:.0f} | {n_frames / t / cores:.0f} |")
    per_core = n_frames / t_clip
    print(f"40k clips of {args.frames} frames on one core: {40000 * args.frames / per_core / 3600:.1f} h; "
          f"on 16 cores: {40000 * args.frames / per_core / 16 / 3600:.2f} h")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
