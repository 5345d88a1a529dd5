"""``camreasoner data check``: validate an item file and its videos before anything trains on it.

Every bad item is reported with its id (or line) and reason; nothing is dropped. Each distinct
video is probed once (many CameraBench items share a clip), in worker processes.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camreasoner.data.schema import DataError, Item, iter_jsonl, resolve_video

log = logging.getLogger(__name__)


@dataclass
class CheckLimits:
    min_frames: int = 2  # Qwen merges frames in pairs; one frame is not a video
    min_duration: float = 0.0  # seconds; 0 disables the check
    decode_all: bool = False  # decode every frame instead of the first


@dataclass
class CheckReport:
    path: str
    n_items: int = 0
    n_videos: int = 0
    bad: list[dict[str, str]] = field(default_factory=list)  # {"id", "line", "reason"}

    @property
    def ok(self) -> bool:
        return not self.bad and self.n_items > 0

    def reasons(self) -> Counter:
        return Counter(b["reason"].split(":")[0] for b in self.bad)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "items": self.n_items, "videos": self.n_videos,
                "bad": len(self.bad), "bad_items": self.bad, "ok": self.ok}


def _probe_one(args: tuple[str, CheckLimits]) -> tuple[str, str | None, dict | None]:
    from camreasoner.video import VideoError, probe

    path, limits = args
    try:
        info = probe(path, decode_all=limits.decode_all)
    except VideoError as e:
        return path, str(e).replace(f"{path}: ", ""), None
    if info.frames < limits.min_frames:
        return path, f"too few frames: {info.frames} < {limits.min_frames}", None
    if limits.min_duration and info.duration < limits.min_duration:
        return path, f"too short: {info.duration:.2f}s < {limits.min_duration}s", None
    return path, None, {"frames": info.frames, "duration": info.duration}


def check_items(path: str | os.PathLike[str], video_root: str | os.PathLike[str] | None,
                limits: CheckLimits = CheckLimits(), workers: int | None = None,
                progress: bool = True) -> CheckReport:
    """Validate every line of ``path`` (schema, duplicate ids) and, with a ``video_root``, every
    video (exists, inside the root, decodes, enough frames, long enough)."""
    report = CheckReport(path=str(path))
    items: list[tuple[int, Item]] = []
    seen: dict[str, int] = {}
    try:
        lines = list(iter_jsonl(path))
    except DataError as e:
        report.bad.append({"id": "", "line": "", "reason": f"unreadable: {e}"})
        return report
    for lineno, obj in lines:
        report.n_items += 1
        item_id = obj.get("id") if isinstance(obj, dict) else None
        try:
            item = Item.from_dict(obj)
        except DataError as e:
            report.bad.append({"id": str(item_id), "line": str(lineno), "reason": f"schema: {e}"})
            continue
        if item.id in seen:
            report.bad.append({"id": item.id, "line": str(lineno),
                               "reason": f"schema: duplicate id (first on line {seen[item.id]})"})
            continue
        seen[item.id] = lineno
        items.append((lineno, item))
    if video_root is None:
        return report

    by_video: dict[str, list[tuple[int, Item]]] = {}
    for lineno, item in items:
        try:
            resolved = str(resolve_video(video_root, item.video, item_id=item.id))
        except DataError as e:
            report.bad.append({"id": item.id, "line": str(lineno), "reason": f"video path: {e}"})
            continue
        by_video.setdefault(resolved, []).append((lineno, item))
    report.n_videos = len(by_video)
    jobs = [(p, limits) for p in by_video]
    workers = workers or min(4, os.cpu_count() or 1)
    results: list[tuple[str, str | None, dict | None]]
    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), desc="checking videos", unit="video", disable=not progress)
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = []
            for r in pool.map(_probe_one, jobs, chunksize=8):
                results.append(r)
                bar.update()
    else:
        results = []
        for job in jobs:
            results.append(_probe_one(job))
            bar.update()
    bar.close()
    for video_path, reason, _ in results:
        if reason is None:
            continue
        for lineno, item in by_video[video_path]:
            report.bad.append({"id": item.id, "line": str(lineno),
                               "reason": f"video {item.video}: {reason}"})
    report.bad.sort(key=lambda b: int(b["line"] or 0))
    return report


def format_report(report: CheckReport, limit: int = 50) -> str:
    lines = [f"{report.path}: {report.n_items} items, {report.n_videos} videos checked, "
             f"{len(report.bad)} bad"]
    for b in report.bad[:limit]:
        lines.append(f"  line {b['line']} id {b['id']!r}: {b['reason']}")
    if len(report.bad) > limit:
        lines.append(f"  … and {len(report.bad) - limit} more (see the JSON report)")
    if report.n_items == 0:
        lines.append("  the file holds no items")
    return "\n".join(lines)


def write_report(report: CheckReport, out: str | os.PathLike[str]) -> None:
    Path(out).write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
