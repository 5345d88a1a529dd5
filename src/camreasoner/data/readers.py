"""Readers from the formats users have into :class:`~camreasoner.data.schema.Item`.

Record files (one record a JSON list element, or a line of ``.jsonl``), read by :func:`read_records`:

- ``seed-eval``: the seed's evaluation JSON (``Inference/camerabench_binary.json``,
  ``camerabench_vqa.json``): ``problem``, ``options``, ``solution`` (``<answer>B</answer>``),
  ``path``, ``problem_type``, ``data_type``, ``problem_id``.
- ``seed-rl``: the seed's RL JSON (``EasyR1/camerabench_rl.json``, CamReasoning-RL-38k): ``problem``,
  ``answer``, ``videos`` (a list), ``options``, ``problem_type``, ``data_type``.
- ``sharegpt``: LLaMA-Factory ShareGPT SFT files (``messages`` + ``videos``), the seed's
  ``camerabench_sft.json`` (CamReasoning-SFT-18k) among them.
- ``items``: our item files (``.jsonl``).

Folder readers: the official CameraBench binary files (``binary_classification/<Primitive>.jsonl``),
VQA files (``vqa_and_retrieval/<skill>/<task>.jsonl``, pos/neg pairs) and ``caption_data.json``.

Nothing is dropped silently: a bad record raises :class:`DataError` naming file, index and field,
or, with ``collect=True``, is returned in :attr:`ReadResult.errors` while the rest are read. Video
paths keep the record's form (``video/<file>`` in the seed's files): :func:`schema.resolve_video`
is the one place they become files, in every stage.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camreasoner import answers, prompts, taxonomy
from camreasoner.data.schema import VQA_ROLES, DataError, Item, iter_jsonl

log = logging.getLogger(__name__)

BINARY_SOURCE = "camerabench_binary"
VQA_SOURCE = "camerabench_vqa"
CAPTION_SOURCE = "camerabench_caption"

# The seed's problem_type for every camera-motion record: its prompt appends the options only
# for this type (EasyR1 dataset.py / eval_bench.py), so it is the only one we can render alike.
SEED_MULTIPLE_CHOICE = "multiple choice"
# The task of a seed RL record that names none (the seed keys EMA-GRPO on problem_type, which is
# the same for every record; our rewards read a yes/no question's primitive from its text).
RL_DEFAULT_TASK = "camera"


def _load_json(path: str | os.PathLike[str]) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(f"invalid JSON at line {e.lineno}: {e.msg}", where=str(path)) from None
    except FileNotFoundError:
        raise DataError("file not found", where=str(path)) from None
    except UnicodeDecodeError as e:
        raise DataError(f"not UTF-8 text ({e.reason})", where=str(path)) from None


def _require(record: dict, key: str, item_id: Any, where: str) -> Any:
    if key not in record:
        raise DataError("missing", item_id=item_id, field=key, where=where)
    return record[key]


def _record_id(rec: dict, default: str) -> str:
    item_id = rec.get("problem_id", rec.get("id"))
    return default if item_id is None else str(item_id)


def _seed_checks(rec: dict, item_id: str, where: str) -> None:
    """The seed's record kinds we can render as it did: video, multiple choice."""
    data_type = rec.get("data_type", "video")
    if data_type != "video":
        raise DataError(f"only video records are supported, got {data_type!r}", item_id=item_id,
                        field="data_type", where=where)
    problem_type = rec.get("problem_type", SEED_MULTIPLE_CHOICE)
    if problem_type != SEED_MULTIPLE_CHOICE:
        raise DataError(f"only {SEED_MULTIPLE_CHOICE!r} records are supported, got "
                        f"{problem_type!r}", item_id=item_id, field="problem_type", where=where)


def _options(rec: dict, item_id: str, where: str) -> list[str]:
    options = _require(rec, "options", item_id, where)
    if not isinstance(options, list) or not options:
        raise DataError(f"must be a non-empty list of options, got {options!r}",
                        item_id=item_id, field="options", where=where)
    return options


def _letter(solution: Any, item_id: str, field_name: str, where: str) -> str:
    try:
        return answers.parse_solution(solution)
    except ValueError as e:
        raise DataError(str(e), item_id=item_id, field=field_name, where=where) from None


def _task(rec: dict, item_id: str) -> str:
    """The record's ``task``, else its id without the trailing ``_<n>`` (``Move_Down_12``)."""
    return rec.get("task") or re.sub(r"_\d+$", "", item_id)


def seed_eval_item(rec: Any, index: int, where: str, stem: str) -> Item:
    """One record of the seed's evaluation JSON -> an item. ``task`` is the record's ``task`` when
    present, else its ``problem_id`` without the trailing ``_<n>`` (``Move_Down_12 -> Move_Down``)."""
    if not isinstance(rec, dict):
        raise DataError(f"expected an object, got {type(rec).__name__}", where=where)
    if rec.get("problem_id", rec.get("id")) is None:
        raise DataError("missing", field="problem_id", where=where)
    item_id = _record_id(rec, "")
    problem = _require(rec, "problem", item_id, where)
    solution = _require(rec, "solution", item_id, where)
    video = _require(rec, "path", item_id, where)
    _seed_checks(rec, item_id, where)
    options = _options(rec, item_id, where)
    letter = _letter(solution, item_id, "solution", where)
    known = {"problem_id", "id", "problem", "options", "solution", "path", "task"}
    extra = {k: v for k, v in rec.items() if k not in known}
    return Item(id=item_id, video=video, question=problem, options=list(options), answer=letter,
                task=_task(rec, item_id), skill=rec.get("skill"),
                source=rec.get("data_source") or "seed", extra=extra)


def seed_rl_item(rec: Any, index: int, where: str, stem: str) -> Item:
    """One record of the seed's RL JSON -> an item. Records need not carry an id: the id is
    ``problem_id`` or ``id`` when present, else ``<file stem>_<index + 1>``. The answer may be the
    letter or ``<answer>B</answer>`` (the seed's reward strips the tags either way)."""
    if not isinstance(rec, dict):
        raise DataError(f"expected an object, got {type(rec).__name__}", where=where)
    item_id = _record_id(rec, f"{stem}_{index + 1}")
    problem = _require(rec, "problem", item_id, where)
    answer = _require(rec, "answer", item_id, where)
    videos = _require(rec, "videos", item_id, where)
    _seed_checks(rec, item_id, where)
    options = _options(rec, item_id, where)
    letter = _letter(answer, item_id, "answer", where)
    if not isinstance(videos, list) or len(videos) != 1:
        # the seed would concatenate several clips' frames; no record of its data needs that
        raise DataError(f"expected a list of exactly one video, got {videos!r}",
                        item_id=item_id, field="videos", where=where)
    known = {"problem_id", "id", "problem", "options", "answer", "videos", "task"}
    extra = {k: v for k, v in rec.items() if k not in known}
    # An id of the file's own (no problem_id/id) says nothing about the task.
    task = _task(rec, item_id) if ("task" in rec or item_id != f"{stem}_{index + 1}") \
        else RL_DEFAULT_TASK
    return Item(id=item_id, video=videos[0], question=problem, options=list(options),
                answer=letter, task=task, skill=rec.get("skill"),
                source=rec.get("data_source") or "seed", extra=extra)


def sharegpt_item(rec: Any, index: int, where: str, stem: str) -> Item:
    """One LLaMA-Factory ShareGPT record -> an item. The user turn is read back with
    :func:`camreasoner.prompts.parse_prompt`; the assistant turn is kept as ``extra["response"]``
    and its answer letter becomes ``answer``. Records carrying our own ``id``/``task`` keys
    (written by :func:`camreasoner.data.convert.to_sharegpt`) keep them."""
    if not isinstance(rec, dict):
        raise DataError(f"expected an object, got {type(rec).__name__}", where=where)
    item_id = str(rec.get("id", f"{stem}_{index + 1}"))
    messages = _require(rec, "messages", item_id, where)
    videos = _require(rec, "videos", item_id, where)
    if not isinstance(videos, list) or len(videos) != 1:
        raise DataError(f"expected exactly one video, got {videos!r}", item_id=item_id,
                        field="videos", where=where)
    roles = ([m.get("role") if isinstance(m, dict) else None for m in messages]
             if isinstance(messages, list) else None)
    if roles != ["user", "assistant"] and roles != ["system", "user", "assistant"]:
        raise DataError(f"expected user then assistant turns, got roles {roles}",
                        item_id=item_id, field="messages", where=where)
    user, assistant = messages[-2].get("content"), messages[-1].get("content")
    if not isinstance(user, str) or not isinstance(assistant, str):
        raise DataError("turn contents must be strings", item_id=item_id, field="messages",
                        where=where)
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
    return Item(id=item_id, video=videos[0], question=question, options=options, answer=letter,
                task=rec.get("task") or "sft", skill=rec.get("skill"),
                source=rec.get("source") or "sharegpt", extra=extra)


def _item_record(rec: Any, index: int, where: str, stem: str) -> Item:
    return Item.from_dict(rec, where=where)


RecordParser = Callable[[Any, int, str, str], Item]
RECORD_FORMATS: dict[str, RecordParser] = {
    "items": _item_record,
    "seed-eval": seed_eval_item,
    "seed-rl": seed_rl_item,
    "sharegpt": sharegpt_item,
}


@dataclass
class ReadResult:
    """What :func:`read_records` read: every good record as an item, every bad one as an error
    (each naming file, index or line, item and field), and how many records the file held."""

    path: str
    format: str
    items: list[Item] = field(default_factory=list)
    errors: list[DataError] = field(default_factory=list)
    n_records: int = 0
    where: dict[str, str] = field(default_factory=dict)  # item id -> file:line or file[index]


def _iter_records(path: Path) -> Iterator[tuple[str, Any]]:
    """``(where, record)`` of a JSON list (``file[index]``) or a JSON-lines file (``file:line``).
    A JSON-lines line that does not parse comes as a :class:`DataError` in place of its record,
    so one malformed line does not hide the rest of the file."""
    if path.suffix == ".jsonl":
        if not path.is_file():
            raise DataError("file not found", where=str(path))
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                where = f"{path}:{lineno}"
                try:
                    yield where, json.loads(line)
                except json.JSONDecodeError as e:
                    yield where, DataError(f"invalid JSON: {e.msg}", where=where)
        return
    data = _load_json(path)
    if not isinstance(data, list):
        raise DataError("expected a JSON list of records", where=str(path))
    for i, rec in enumerate(data):
        yield f"{path}[{i}]", rec


def detect_format(path: str | os.PathLike[str]) -> str:
    """The record format of a file: ``items`` for ``.jsonl``; for a JSON list, from the first
    record's keys (``messages`` -> sharegpt, ``solution`` + ``path`` -> seed-eval, ``answer`` +
    ``videos`` -> seed-rl). Raises :class:`DataError` when it cannot tell."""
    path = Path(path)
    if path.suffix == ".jsonl":
        return "items"
    data = _load_json(path)
    first = data[0] if isinstance(data, list) and data else None
    if isinstance(first, dict):
        if "messages" in first:
            return "sharegpt"
        if "solution" in first and "path" in first:
            return "seed-eval"
        if "answer" in first and "videos" in first:
            return "seed-rl"
    raise DataError("cannot tell the record format from the first record; pass --format "
                    f"({', '.join(RECORD_FORMATS)})", where=str(path))


def read_records(path: str | os.PathLike[str], fmt: str = "auto", *,
                 collect: bool = False) -> ReadResult:
    """Read every record of ``path`` in format ``fmt`` (``auto``: :func:`detect_format`).

    Without ``collect`` the first bad record raises :class:`DataError`; with it, bad records are
    gathered in the result's ``errors`` and reading goes on. Ids must be unique within the file.
    A file that cannot be read at all (missing, not JSON, not a list) always raises.
    """
    path = Path(path)
    if fmt == "auto":
        fmt = detect_format(path)
    try:
        parse = RECORD_FORMATS[fmt]
    except KeyError:
        raise DataError(f"unknown record format {fmt!r}; formats: {', '.join(RECORD_FORMATS)}",
                        where=str(path)) from None
    result = ReadResult(path=str(path), format=fmt)
    seen = result.where
    for index, (where, rec) in enumerate(_iter_records(path)):
        result.n_records += 1
        try:
            if isinstance(rec, DataError):
                raise rec
            item = parse(rec, index, where, path.stem).validate(where)
            if item.id in seen:
                raise DataError(f"duplicate id (first at {seen[item.id]})", item_id=item.id,
                                field="id", where=where)
        except DataError as e:
            if not collect:
                raise
            result.errors.append(e)
            continue
        result.where[item.id] = where
        result.items.append(item)
    return result


def load_items(path: str | os.PathLike[str]) -> list[Item]:
    """The items of any record file (:func:`detect_format`): our ``.jsonl`` or the seed's JSON;
    the first bad record raises, naming itself."""
    return read_records(path).items


def read_seed_eval(path: str | os.PathLike[str]) -> list[Item]:
    """The seed's evaluation JSON -> items (the first bad record raises)."""
    return read_records(path, "seed-eval").items


def read_seed_rl(path: str | os.PathLike[str]) -> list[Item]:
    """The seed's RL JSON -> items (the first bad record raises)."""
    return read_records(path, "seed-rl").items


def read_sharegpt(path: str | os.PathLike[str]) -> list[Item]:
    """LLaMA-Factory ShareGPT -> items (the first bad record raises)."""
    return read_records(path, "sharegpt").items


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
            for n, (lineno, rec) in enumerate(iter_jsonl(path), 1):
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


# Folder and caption readers, by the names `camreasoner data convert --from` takes.
READERS = {
    "camerabench-binary": read_camerabench_binary,
    "camerabench-vqa": read_camerabench_vqa,
    "captions": read_captions,
}
