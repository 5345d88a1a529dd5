"""The unified item schema: one JSON object per line, shared by every stage.

Fields:
- ``id``: unique within a file.
- ``video``: path relative to a video root (never absolute, never escaping the root).
- ``question``: the question text alone (no options, no instruction).
- ``options``: lettered options, e.g. ``["A. No", "B. Yes"]``; empty for open-ended items.
- ``answer``: the truth letter (one of the options' letters); free text for open-ended items.
- ``task``: binary items: the primitive's file stem (``Move_In``); VQA: the task file's stem.
- ``skill``: VQA skill folder name; ``None`` for binary items.
- ``pair_id`` / ``role``: VQA only: which pos/neg pair, and which of its four video-question
  combinations (:data:`VQA_ROLES`).
- ``source``: where the item came from (``camerabench_binary``, ``camerabench_vqa``, ``synthetic``…).
Any other key is kept in ``extra`` and written back out unchanged.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from camreasoner.errors import UserError
from camreasoner.prompts import split_option

# Each pos/neg pair gives four items: (video role, question role). The answer is Yes exactly when
# the two roles agree: the positive question describes the positive video, and the negative
# question describes the negative video.
VQA_ROLES: tuple[str, ...] = (
    "pos_video.pos_question",
    "neg_video.pos_question",
    "pos_video.neg_question",
    "neg_video.neg_question",
)

CORE_FIELDS = ("id", "video", "question", "options", "answer", "task", "skill", "pair_id", "role",
               "source")


class DataError(UserError, ValueError):
    """Bad input data. The message names the file, line, item id and field."""

    def __init__(self, message: str, *, item_id: str | None = None, field: str | None = None,
                 where: str | None = None):
        parts = [p for p in (where, f"item {item_id!r}" if item_id is not None else None,
                             f"field {field!r}" if field else None) if p]
        super().__init__(f"{': '.join(parts)}: {message}" if parts else message)
        self.item_id, self.field, self.where, self.message = item_id, field, where, message


@dataclass
class Item:
    id: str
    video: str
    question: str
    options: list[str]
    answer: str
    task: str
    skill: str | None = None
    pair_id: str | None = None
    role: str | None = None
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_multiple_choice(self) -> bool:
        return bool(self.options)

    def option_text(self, letter: str) -> str:
        for opt in self.options:
            got, text = split_option(opt)
            if got == letter:
                return text
        raise KeyError(f"item {self.id!r} has no option {letter!r}")

    def validate(self, where: str | None = None) -> Item:
        """Raise :class:`DataError` naming the first bad field; return self when all are good."""

        def bad(fld: str, msg: str) -> DataError:
            return DataError(msg, item_id=self.id, field=fld, where=where)

        for name in ("id", "video", "question", "task"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise bad(name, f"must be a non-empty string, got {value!r}")
        self.video = normalize_video_path(self.video, item_id=self.id, where=where)
        if not isinstance(self.options, list) or not all(isinstance(o, str) for o in self.options):
            raise bad("options", f"must be a list of strings, got {self.options!r}")
        if not isinstance(self.answer, str) or not self.answer.strip():
            raise bad("answer", f"must be a non-empty string, got {self.answer!r}")
        if self.options:
            letters = []
            for i, opt in enumerate(self.options):
                try:
                    letter, _ = split_option(opt)
                except ValueError as e:
                    raise bad("options", str(e)) from None
                expected = chr(ord("A") + i)
                if letter != expected:
                    raise bad("options", f"option {i} is lettered {letter!r}, expected {expected!r}")
                letters.append(letter)
            if self.answer not in letters:
                raise bad("answer", f"{self.answer!r} is not one of the option letters {letters}")
        if self.skill is not None and not isinstance(self.skill, str):
            raise bad("skill", f"must be a string or null, got {self.skill!r}")
        if self.role is not None and self.role not in VQA_ROLES:
            raise bad("role", f"{self.role!r} is not one of {list(VQA_ROLES)}")
        if (self.role is None) != (self.pair_id is None):
            raise bad("pair_id", "pair_id and role must be given together")
        if not isinstance(self.extra, dict):
            raise bad("extra", "must be a mapping")
        return self

    def to_dict(self) -> dict[str, Any]:
        d = {name: getattr(self, name) for name in CORE_FIELDS}
        d.update(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str | None = None) -> Item:
        if not isinstance(d, dict):
            raise DataError(f"expected a JSON object, got {type(d).__name__}", where=where)
        item_id = d.get("id")
        for name in ("id", "video", "question", "options", "answer", "task"):
            if name not in d:
                raise DataError("missing", item_id=item_id, field=name, where=where)
        extra = {k: v for k, v in d.items() if k not in CORE_FIELDS}
        item = cls(
            id=d["id"], video=d["video"], question=d["question"], options=d["options"],
            answer=d["answer"], task=d["task"], skill=d.get("skill"), pair_id=d.get("pair_id"),
            role=d.get("role"), source=d.get("source") or "", extra=extra,
        )
        return item.validate(where)


_WINDOWS_DRIVE_RE = re.compile(r"^[A-Za-z]:[\\/]")

# The seed's records name their clips "video/<file>" (or "./video/<file>"): relative to the stage
# folder it ran in (LLaMA-Factory/, EasyR1/, Inference/), into whose video/ folder its download
# scripts unpacked the clips. Our video roots are such video/ folders themselves
# (data_root/train_videos, data_root/camerabench/videos), so the prefix names the root.
SEED_VIDEO_PREFIX = "video/"


def normalize_video_path(video: str, *, item_id: str | None = None,
                         where: str | None = None) -> str:
    """A record's video path in the form items keep: leading ``./`` removed (the seed writes
    ``./video/…`` as well as ``video/…``); absolute paths, URLs and ``..`` rejected."""
    if not isinstance(video, str) or not video:
        raise DataError(f"must be a non-empty string, got {video!r}", item_id=item_id,
                        field="video", where=where)
    while video.startswith("./"):
        video = video[2:]
    return check_relative_video_path(video, item_id=item_id, where=where)


def check_relative_video_path(video: str, *, item_id: str | None = None,
                              where: str | None = None) -> str:
    """Reject absolute paths, URLs and paths that climb out of the video root."""
    if not isinstance(video, str) or not video:
        raise DataError(f"must be a non-empty string, got {video!r}", item_id=item_id,
                        field="video", where=where)
    if video.startswith(("/", "\\")) or _WINDOWS_DRIVE_RE.match(video) or "://" in video:
        raise DataError(f"{video!r} must be relative to the video root", item_id=item_id,
                        field="video", where=where)
    if ".." in PurePosixPath(video.replace("\\", "/")).parts:
        raise DataError(f"{video!r} escapes the video root", item_id=item_id, field="video",
                        where=where)
    return video


def resolve_video(video_root: str | os.PathLike[str], video: str, *,
                  item_id: str | None = None) -> Path:
    """The one place a record's video path becomes a file, for every stage (SFT, RL, evaluation,
    checks, the baseline). Joins the path to its root, refusing anything that lands outside the
    root (symlinks included). The seed's ``video/`` prefix (:data:`SEED_VIDEO_PREFIX`) names the
    root itself unless the root has a ``video`` folder of its own: so the seed's records and ours
    resolve against the same root."""
    video = normalize_video_path(video, item_id=item_id)
    root = Path(video_root).resolve()
    if video.startswith(SEED_VIDEO_PREFIX) and not (root / "video").is_dir():
        video = video[len(SEED_VIDEO_PREFIX):]
    path = (root / video).resolve()
    if path != root and root not in path.parents:
        raise DataError(f"{video!r} resolves outside the video root {str(root)!r}",
                        item_id=item_id, field="video")
    return path


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, Any]]:
    """``(line_number, object)`` for each non-blank line; a bad line raises naming file and line."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"invalid JSON: {e.msg}", where=f"{path}:{lineno}") from None


def read_items(path: str | os.PathLike[str]) -> list[Item]:
    """Read and validate an item file; duplicate ids are an error."""
    items: list[Item] = []
    seen: dict[str, int] = {}
    for lineno, obj in iter_jsonl(path):
        where = f"{path}:{lineno}"
        item = Item.from_dict(obj, where=where)
        if item.id in seen:
            raise DataError(f"duplicate id (first on line {seen[item.id]})", item_id=item.id,
                            field="id", where=where)
        seen[item.id] = lineno
        items.append(item)
    return items


def write_items(path: str | os.PathLike[str], items: Iterable[Item]) -> int:
    """Validate and write items as JSON lines (atomically: a temp file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    seen: set[str] = set()
    with open(tmp, "w", encoding="utf-8") as f:
        for item in items:
            item.validate(where=str(path))
            if item.id in seen:
                raise DataError("duplicate id", item_id=item.id, field="id", where=str(path))
            seen.add(item.id)
            f.write(json.dumps(item.to_dict(), ensure_ascii=False) + "\n")
            n += 1
    os.replace(tmp, path)
    return n
