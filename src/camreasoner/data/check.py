"""``camreasoner data check``: validate a data file and its videos before anything trains on it.

Any record format the readers know (our item files, the seed's RL, evaluation and ShareGPT SFT
files: :mod:`camreasoner.data.readers`) is checked the same way. Every bad record is reported
with where it is (file and line or index), its id, field and reason, and the check goes on over
the rest; nothing is dropped. Each distinct video is probed once (many CameraBench items share a
clip), in worker processes.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camreasoner.data.readers import read_records
from camreasoner.data.schema import DataError, Item, resolve_video

log = logging.getLogger(__name__)


@dataclass
class CheckLimits:
    min_frames: int = 2  # Qwen merges frames in pairs; one frame is not a video
    min_duration: float = 0.0  # seconds; 0 disables the check
    decode_all: bool = False  # decode every frame instead of the first


@dataclass
class CheckReport:
    path: str
    format: str = ""
    n_items: int = 0  # records in the file, good and bad
    n_videos: int = 0
    bad: list[dict[str, str]] = field(default_factory=list)  # {"where", "id", "field", "reason"}

    @property
    def ok(self) -> bool:
        return not self.bad and self.n_items > 0

    @property
    def bad_ids(self) -> set[str]:
        return {b["id"] for b in self.bad}

    def reasons(self) -> Counter:
        return Counter(b["reason"].split(":")[0] for b in self.bad)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.format, "items": self.n_items,
                "videos": self.n_videos, "bad": len(self.bad), "bad_items": self.bad,
                "ok": self.ok}


def _bad(error: DataError, kind: str) -> dict[str, str]:
    field_part = f"field {error.field!r}: " if error.field else ""
    return {"where": error.where or "", "id": "" if error.item_id is None else str(error.item_id),
            "field": error.field or "", "reason": f"{kind}: {field_part}{error.message}"}


def _probe_one(args: tuple[str, CheckLimits]) -> tuple[str, str | None, dict | None]:
    from camreasoner.media.video import VideoError, probe

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


def check_file(path: str | os.PathLike[str], video_root: str | os.PathLike[str] | None,
               limits: CheckLimits | None = None, workers: int | None = None,
               progress: bool = True, fmt: str = "auto") -> CheckReport:
    """Validate every record of ``path`` (format ``fmt``, ``auto`` detects it) and, with a
    ``video_root``, every video (exists, inside the root, decodes, enough frames, long enough).
    Every record is counted and every bad one reported; a file that cannot be read at all
    (missing, not JSON, not a list of records) raises :class:`DataError` naming it."""
    report = CheckReport(path=str(path))
    result = read_records(path, fmt, collect=True)
    report.format, report.n_items = result.format, result.n_records
    report.bad.extend(_bad(e, "schema") for e in result.errors)
    if video_root is not None:
        check_videos(result.items, video_root, report, limits, workers, progress,
                     where=result.where)
    return report


def check_items(path: str | os.PathLike[str], video_root: str | os.PathLike[str] | None,
                limits: CheckLimits | None = None, workers: int | None = None,
                progress: bool = True) -> CheckReport:
    """:func:`check_file` for our item files (``.jsonl``)."""
    return check_file(path, video_root, limits, workers, progress, fmt="items")


def check_videos(items: list[Item], video_root: str | os.PathLike[str], report: CheckReport,
                 limits: CheckLimits | None = None, workers: int | None = None,
                 progress: bool = True, where: dict[str, str] | None = None) -> CheckReport:
    """Probe every distinct video of ``items`` once; each item whose video is bad becomes an
    entry of ``report.bad`` (``where``: item id -> its place in the file). Returns the report."""
    where = where or {}
    by_video: dict[str, list[Item]] = {}
    for item in items:
        try:
            resolved = str(resolve_video(video_root, item.video, item_id=item.id))
        except DataError as e:
            report.bad.append({"where": where.get(item.id, ""), "id": item.id,
                               "field": "video", "reason": f"video path: {e.message}"})
            continue
        by_video.setdefault(resolved, []).append(item)
    report.n_videos = len(by_video)
    if limits is None:  # a fresh default a call: CheckLimits is mutable
        limits = CheckLimits()
    jobs = [(p, limits) for p in by_video]
    workers = workers or min(4, os.cpu_count() or 1)
    from camreasoner.media.workers import spawn_map

    # _probe_one returns a clip's failure as its reason: one bad clip does not stop the rest
    results = spawn_map(_probe_one, jobs, workers, desc="checking videos", unit="video",
                        progress=progress)
    for video_path, reason, _ in results:
        if reason is None:
            continue
        for item in by_video[video_path]:
            report.bad.append({"where": where.get(item.id, ""), "id": item.id,
                               "field": "video", "reason": f"video {item.video}: {reason}"})
    return report


def format_report(report: CheckReport, limit: int = 50) -> str:
    lines = [(f"{report.path}: {report.n_items} records ({report.format or 'unread'}), "
              f"{report.n_videos} videos checked, {len(report.bad)} bad")]
    for b in report.bad[:limit]:
        where = f"{b['where']}: " if b["where"] else ""
        lines.append(f"  {where}id {b['id']!r}: {b['reason']}")
    if len(report.bad) > limit:
        lines.append(f"  … and {len(report.bad) - limit} more (see the JSON report)")
    if report.n_items == 0 and not report.bad:
        lines.append("  the file holds no records")
    return "\n".join(lines)


def write_report(report: CheckReport, out: str | os.PathLike[str]) -> None:
    Path(out).write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
