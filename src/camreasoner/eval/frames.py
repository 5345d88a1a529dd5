"""Frame loading for the runners: decode ahead of the model in worker processes, with an optional
on-disk cache keyed by the video's content and the sampling settings.

The cache key is ``blake2b(file bytes) + blake2b(VisionSpec)``: renaming or copying a clip keeps
its cache entry, re-encoding it or changing fps/max_frames/pixels does not.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from camreasoner.video import SampledVideo, VideoError, read_frames
from camreasoner.vision import VisionSpec


@dataclass(frozen=True)
class FrameJob:
    key: str  # the caller's id for this job (an item id)
    path: str
    spec: VisionSpec
    cache_dir: str | None = None


def content_hash(path: str | os.PathLike[str]) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def spec_hash(spec: VisionSpec) -> str:
    return hashlib.blake2b(json.dumps(spec.to_dict(), sort_keys=True).encode(),
                           digest_size=8).hexdigest()


def load_frames(path: str | os.PathLike[str], spec: VisionSpec,
                cache_dir: str | os.PathLike[str] | None = None) -> SampledVideo:
    """Sampled frames of one clip, from the cache when present (written there when not)."""
    if cache_dir is None:
        return read_frames(path, spec)
    if not os.path.exists(path):
        raise VideoError(f"{path}: file not found")
    entry = Path(cache_dir) / f"{content_hash(path)}-{spec_hash(spec)}.npz"
    if entry.exists():
        with np.load(entry) as z:
            return SampledVideo(z["frames"], tuple(int(i) for i in z["indices"]),
                                int(z["total_frames"]), float(z["native_fps"]))
    video = read_frames(path, spec)
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = entry.with_name(f"{entry.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, frames=video.frames, indices=np.asarray(video.indices),
             total_frames=video.total_frames, native_fps=video.native_fps)
    os.replace(tmp, entry)  # atomic: concurrent workers never read half a file
    return video


def _run_job(job: FrameJob) -> tuple[str, SampledVideo | None, str | None]:
    try:
        return job.key, load_frames(job.path, job.spec, job.cache_dir), None
    except VideoError as e:
        return job.key, None, str(e)


def prefetch(jobs: Iterable[FrameJob], workers: int = 2, ahead: int = 8
             ) -> Iterator[tuple[str, SampledVideo | None, str | None]]:
    """Yield ``(key, video or None, error or None)`` in job order, decoding up to ``ahead`` jobs in
    ``workers`` processes while the caller works. ``workers=0`` decodes in this process."""
    if workers <= 0:
        for job in jobs:
            yield _run_job(job)
        return
    window: deque[Future] = deque()
    with ProcessPoolExecutor(workers) as pool:
        for job in jobs:
            window.append(pool.submit(_run_job, job))
            if len(window) >= ahead:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
