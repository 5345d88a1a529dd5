"""Readers from the formats users have into :class:`~camreasoner.data.schema.Item`.

- CamReasoner / OneThinker JSON (``problem_id``, ``problem``, ``options``, ``solution``, ``path``…)
- official CameraBench binary files (``binary_classification/<Primitive>.jsonl``)
- official CameraBench VQA files (``vqa_and_retrieval/<skill>/<task>.jsonl``, pos/neg pairs)
- CameraBench ``caption_data.json`` (open-ended items)
- LLaMA-Factory ShareGPT SFT files (``messages`` + ``videos``)

Each reader either returns every record as an item or raises :class:`DataError` naming the
record and field; none drops a record.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from camreasoner import answers, prompts, taxonomy
from camreasoner.data.schema import VQA_ROLES, DataError, Item, iter_jsonl

log = logging.getLogger(__name__)

BINARY_SOURCE = "camerabench_binary"
VQA_SOURCE = "camerabench_vqa"
CAPTION_SOURCE = "camerabench_caption"

# CamReasoner's JSON stores CameraBench test videos as "video/<file>"; our items are relative to
# the video root, which is that "video/" folder.
_ONETHINKER_VIDEO_PREFIXES = ("video/", "./video/")


def _load_json(path: str | os.PathLike[str]) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(f"invalid JSON at line {e.lineno}: {e.msg}", where=str(path)) from None


def _require(record: dict, key: str, item_id: Any, where: str) -> Any:
    if key not in record:
        raise DataError("missing", item_id=item_id, field=key, where=where)
    return record[key]


def read_onethinker(path: str | os.PathLike[str], strip_video_prefix: bool = True) -> list[Item]:
    """CamReasoner/OneThinker JSON (a list of records) → items.

    ``task`` is the record's ``task`` when present, else its ``problem_id`` without the trailing
    ``_<n>`` (``Move_Down_12 -> Move_Down``).
    """
    data = _load_json(path)
    if not isinstance(data, list):
        raise DataError("expected a JSON list of records", where=str(path))
    items = []
    for i, rec in enumerate(data):
        where = f"{path}[{i}]"
        if not isinstance(rec, dict):
            raise DataError(f"expected an object, got {type(rec).__name__}", where=where)
        item_id = rec.get("problem_id", rec.get("id"))
        if item_id is None:
            raise DataError("missing", field="problem_id", where=where)
        item_id = str(item_id)
        problem = _require(rec, "problem", item_id, where)
        options = _require(rec, "options", item_id, where)
        solution = _require(rec, "solution", item_id, where)
        video = _require(rec, "path", item_id, where)
        data_type = rec.get("data_type", "video")
        if data_type != "video":
            raise DataError(f"only video items are supported, got {data_type!r}", item_id=item_id,
                            field="data_type", where=where)
        try:
            letter = answers.parse_solution(solution) if options else str(solution)
        except ValueError as e:
            raise DataError(str(e), item_id=item_id, field="solution", where=where) from None
        if strip_video_prefix and isinstance(video, str):
            for prefix in _ONETHINKER_VIDEO_PREFIXES:
                if video.startswith(prefix):
                    video = video[len(prefix):]
                    break
        task = rec.get("task") or re.sub(r"_\d+$", "", item_id)
        known = {"problem_id", "id", "problem", "options", "solution", "path", "task"}
        extra = {k: v for k, v in rec.items() if k not in known}
        item = Item(id=item_id, video=video, question=problem, options=list(options),
                    answer=letter, task=task, skill=rec.get("skill"),
                    source=rec.get("data_source") or "onethinker", extra=extra)
        items.append(item.validate(where))
    return items


def read_camerabench_binary(binary_dir: str | os.PathLike[str]) -> list[Item]:
    """All 15 ``<Primitive>.jsonl`` files → items. A missing file is an error.

    Ids are CamReasoner's ``problem_id``s for the same records, so prediction files from either
    code base line up: ``<Primitive>_<n>`` with ``n`` counting from 1 across the files in name
    order (``Move_Down_1..430``, then ``Move_In_431..979``, …).
    """
    binary_dir = Path(binary_dir)
    items: list[Item] = []
    n = 0
    for prim in sorted(taxonomy.PRIMITIVES, key=lambda p: p.name):
        path = binary_dir / f"{prim.name}.jsonl"
        if not path.is_file():
            raise DataError(f"missing binary file for primitive {prim.name}", where=str(path))
        for lineno, rec in iter_jsonl(path):
            n += 1
            where = f"{path}:{lineno}"
            item_id = f"{prim.name}_{n}"
            video = _require(rec, "image", item_id, where)
            question = _require(rec, "question", item_id, where)
            label = _require(rec, "label", item_id, where)
            if label not in ("Yes", "No"):
                raise DataError(f"label must be 'Yes' or 'No', got {label!r}", item_id=item_id,
                                field="label", where=where)
            if rec.get("task") not in (None, prim.display):
                raise DataError(f"task {rec.get('task')!r} does not match file {prim.name}",
                                item_id=item_id, field="task", where=where)
            extra = {"label_name": rec["label_name"]} if "label_name" in rec else {}
            item = Item(id=item_id, video=video, question=question,
                        options=list(prompts.YES_NO_OPTIONS),
                        answer=prompts.YES_LETTER if label == "Yes" else prompts.NO_LETTER,
                        task=prim.name, source=BINARY_SOURCE, extra=extra)
            items.append(item.validate(where))
    return items


def read_camerabench_vqa(vqa_dir: str | os.PathLike[str]) -> list[Item]:
    """All VQA task files → items; each pos/neg pair expands to its four video-question items.

    The answer follows the question's wording: Yes exactly when the video's role (pos/neg)
    equals the question's role. (Labelling by the video alone gets the negated questions, e.g.
    "Is the camera free from any leftward panning motion?", backwards.)
    """
    vqa_dir = Path(vqa_dir)
    items: list[Item] = []
    for skill, tasks in taxonomy.VQA_SKILLS.items():
        for task in tasks:
            path = vqa_dir / skill / f"{task}.jsonl"
            if not path.is_file():
                raise DataError(f"missing VQA task file {skill}/{task}", where=str(path))
            n = 0
            for lineno, rec in iter_jsonl(path):
                n += 1
                where = f"{path}:{lineno}"
                pair_id = f"{skill}/{task}/{n}"
                videos = {r: _require(rec, f"{r}_video", pair_id, where) for r in ("pos", "neg")}
                questions = {r: _require(rec, f"{r}_question", pair_id, where)
                             for r in ("pos", "neg")}
                if videos["pos"] == videos["neg"]:
                    raise DataError("pos_video and neg_video are the same clip", item_id=pair_id,
                                    field="neg_video", where=where)
                if questions["pos"] == questions["neg"]:
                    raise DataError("pos_question and neg_question are the same text",
                                    item_id=pair_id, field="neg_question", where=where)
                for role in VQA_ROLES:
                    video_role, question_role = (part.split("_")[0] for part in role.split("."))
                    answer = prompts.YES_LETTER if video_role == question_role else prompts.NO_LETTER
                    item = Item(
                        id=f"{pair_id}/{role}", video=videos[video_role],
                        question=questions[question_role], options=list(prompts.YES_NO_OPTIONS),
                        answer=answer, task=task, skill=skill, pair_id=pair_id, role=role,
                        source=VQA_SOURCE, extra={"subskill": rec.get("skill")},
                    )
                    items.append(item.validate(where))
    return items


def read_captions(path: str | os.PathLike[str]) -> list[Item]:
    """``caption_data.json`` → open-ended items (no options; the answer is the reference caption)."""
    data = _load_json(path)
    if not isinstance(data, list):
        raise DataError("expected a JSON list of records", where=str(path))
    items = []
    for i, rec in enumerate(data):
        where = f"{path}[{i}]"
        item_id = f"caption_{i + 1}"
        if not isinstance(rec, dict):
            raise DataError(f"expected an object, got {type(rec).__name__}", where=where)
        item = Item(id=item_id, video=_require(rec, "video", item_id, where),
                    question=_require(rec, "question", item_id, where), options=[],
                    answer=_require(rec, "answer", item_id, where), task="caption",
                    source=CAPTION_SOURCE)
        items.append(item.validate(where))
    return items


def read_sharegpt(path: str | os.PathLike[str], id_prefix: str | None = None) -> list[Item]:
    """LLaMA-Factory ShareGPT (``messages`` + ``videos``) → items.

    The user turn is read back with :func:`camreasoner.prompts.parse_prompt`; the assistant turn is
    kept as ``extra["response"]`` and its answer letter becomes ``answer``. Records carrying our own
    ``id``/``task`` keys (written by :func:`camreasoner.data.convert.to_sharegpt`) keep them.
    """
    data = _load_json(path)
    if not isinstance(data, list):
        raise DataError("expected a JSON list of records", where=str(path))
    prefix = id_prefix if id_prefix is not None else Path(path).stem
    items = []
    for i, rec in enumerate(data):
        where = f"{path}[{i}]"
        item_id = str(rec.get("id", f"{prefix}_{i + 1}")) if isinstance(rec, dict) else None
        if not isinstance(rec, dict):
            raise DataError(f"expected an object, got {type(rec).__name__}", where=where)
        messages = _require(rec, "messages", item_id, where)
        videos = _require(rec, "videos", item_id, where)
        if not isinstance(videos, list) or len(videos) != 1:
            raise DataError(f"expected exactly one video, got {videos!r}", item_id=item_id,
                            field="videos", where=where)
        roles = [m.get("role") for m in messages] if isinstance(messages, list) else None
        if roles != ["user", "assistant"] and roles != ["system", "user", "assistant"]:
            raise DataError(f"expected user then assistant turns, got roles {roles}",
                            item_id=item_id, field="messages", where=where)
        user, assistant = messages[-2]["content"], messages[-1]["content"]
        if prompts.VIDEO_PLACEHOLDER not in user:
            raise DataError(f"user turn has no {prompts.VIDEO_PLACEHOLDER} placeholder",
                            item_id=item_id, field="messages", where=where)
        question, options, instruction = prompts.parse_prompt(
            user.replace(prompts.VIDEO_PLACEHOLDER, "", 1))
        if options:
            letter = answers.extract_letter(assistant, options)
            if letter is None:
                raise DataError("assistant turn has no readable answer letter", item_id=item_id,
                                field="messages", where=where)
        else:
            letter = answers.parse_response(assistant).answer or assistant.strip()
        known = {"id", "messages", "videos", "task", "skill", "source"}
        extra = {k: v for k, v in rec.items() if k not in known}
        extra["response"] = assistant
        if instruction is not None:
            extra["instruction"] = instruction
        item = Item(id=item_id, video=videos[0], question=question, options=options,
                    answer=letter, task=rec.get("task") or "sft", skill=rec.get("skill"),
                    source=rec.get("source") or "sharegpt", extra=extra)
        items.append(item.validate(where))
    return items


READERS = {
    "onethinker": read_onethinker,
    "camerabench-binary": read_camerabench_binary,
    "camerabench-vqa": read_camerabench_vqa,
    "captions": read_captions,
    "sharegpt": read_sharegpt,
}
