"""Frame loading for the runners: decode ahead of the model in worker processes, with an optional
on-disk cache keyed by the video's content and the sampling settings.

Frames leave the workers already sampled and resized to the model's size (as qwen-vl-utils does
for verl), so the cache and the hand-over between processes hold model-sized frames, not source
frames (8 frames of 1280x720 are 22 MB; at 448x252, 2.7 MB).

The cache key is ``blake2b(file bytes) + blake2b(VisionSpec)``: renaming or copying a clip keeps
its cache entry, re-encoding it or changing fps/max_frames/pixels does not.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from camreasoner.media.video import SampledVideo, VideoError, read_frames, resize_for_model
from camreasoner.vision import VisionSpec


@dataclass(frozen=True)
class FrameJob:
    key: str  # the caller's id for this job (an item id)
    path: str
    spec: VisionSpec
    cache_dir: str | None = None


def content_hash(path: str | os.PathLike[str]) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, lambda: hashlib.blake2b(digest_size=16)).hexdigest()


def spec_hash(spec: VisionSpec) -> str:
    return hashlib.blake2b(json.dumps(spec.to_dict(), sort_keys=True).encode(),
                           digest_size=8).hexdigest()


def _decode(path: str | os.PathLike[str], spec: VisionSpec) -> SampledVideo:
    video = read_frames(path, spec)
    return replace(video, frames=resize_for_model(video.frames, spec))


def load_frames(path: str | os.PathLike[str], spec: VisionSpec,
                cache_dir: str | os.PathLike[str] | None = None) -> SampledVideo:
    """Sampled, model-sized frames of one clip, from the cache when present (written when not).

    A cache entry is a raw ``.npy`` (fastest to read back) and a ``.json`` with the sampling
    metadata; the ``.json`` is written last, so an entry without it is incomplete and ignored.
    """
    if cache_dir is None:
        return _decode(path, spec)
    if not os.path.exists(path):
        raise VideoError(f"{path}: file not found")
    stem = Path(cache_dir) / f"{content_hash(path)}-{spec_hash(spec)}"
    meta_path, frames_path = stem.with_suffix(".json"), stem.with_suffix(".npy")
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        return SampledVideo(np.load(frames_path), tuple(meta["indices"]), meta["total_frames"],
                            meta["native_fps"])
    video = _decode(path, spec)
    stem.parent.mkdir(parents=True, exist_ok=True)
    # Temp names + rename: concurrent workers never read half an entry.
    tmp = stem.with_name(f"{stem.name}.{os.getpid()}.tmp")
    np.save(f"{tmp}.npy", video.frames)
    os.replace(f"{tmp}.npy", frames_path)
    Path(f"{tmp}.json").write_text(json.dumps({"indices": list(video.indices),
                                               "total_frames": video.total_frames,
                                               "native_fps": video.native_fps}))
    os.replace(f"{tmp}.json", meta_path)
    return video


def _run_job(job: FrameJob) -> tuple[str, SampledVideo | None, str | None]:
    try:
        return job.key, load_frames(job.path, job.spec, job.cache_dir), None
    except VideoError as e:
        return job.key, None, str(e)


def start_pool(workers: int) -> ProcessPoolExecutor | None:
    """Decode workers, started early so their start-up overlaps the model load. "spawn": a forked
    child of a process whose torch has started its OpenMP threads can hang in its first op.
    The workers exit on their own when this process dies without shutting them down (SIGKILL,
    the OOM killer, a preempted job): an idle worker waits on its task queue forever otherwise."""
    if workers <= 0:
        return None
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_exit_with_parent, initargs=(os.getpid(),))
    for f in [pool.submit(_warm) for _ in range(workers)]:
        f.add_done_callback(lambda _: None)
    return pool


def _exit_with_parent(parent_pid: int, poll_s: float = 1.0) -> None:
    """In a worker: a daemon thread that ends the process once its parent is gone (its parent pid
    changes when the parent dies and the worker is re-parented)."""
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _warm() -> None:
    import av  # noqa: F401  (the import is the warm-up)
    from PIL import Image  # noqa: F401


def prefetch(jobs: Iterable[FrameJob], workers: int = 2, ahead: int = 8,
             pool: ProcessPoolExecutor | None = None
             ) -> Iterator[tuple[str, SampledVideo | None, str | None]]:
    """Yield ``(key, video or None, error or None)`` in job order, decoding up to ``ahead`` jobs in
    ``workers`` processes (or the given ``pool``) while the caller works. ``workers=0`` and no
    pool decode in this process."""
    if pool is None and workers <= 0:
        for job in jobs:
            yield _run_job(job)
        return
    own = pool is None
    pool = pool or start_pool(workers)
    window: deque[Future] = deque()
    try:
        for job in jobs:
            window.append(pool.submit(_run_job, job))
            if len(window) >= ahead:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
    finally:
        if own:
            pool.shutdown(cancel_futures=True)
