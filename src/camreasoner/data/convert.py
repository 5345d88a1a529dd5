"""Converters from items to the training frameworks' formats.

- :func:`to_sharegpt` + :func:`dataset_info_entry`: LLaMA-Factory SFT files.
- :func:`to_verl_rows` / :func:`write_verl_parquet`: verl RL parquet.

Both render the user text with :func:`camreasoner.prompts.render_item_prompt` and the video with
:mod:`camreasoner.vision`, so SFT, RL and evaluation see the same prompt and frames.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from camreasoner import prompts
from camreasoner.answers import format_solution
from camreasoner.data.schema import DataError, Item, resolve_video
from camreasoner.vision import DEFAULT_VISION, VisionSpec

VERL_ABILITY = "camera_motion"
DEFAULT_DATA_SOURCE = "camreasoner"


# --- LLaMA-Factory ShareGPT -----------------------------------------------------------------
def dataset_info_entry(file_name: str, media: str = "videos") -> dict[str, Any]:
    """The ``dataset_info.json`` entry LLaMA-Factory needs to read a file from :func:`to_sharegpt`
    (``media="images"`` for :func:`sharegpt_as_frames`)."""
    return {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": {"messages": "messages", media: media},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                 "assistant_tag": "assistant"},
    }


def to_sharegpt(items: Iterable[Item], instruction: str = prompts.DEFAULT_INSTRUCTION,
                allow_answer_only: bool = False) -> list[dict[str, Any]]:
    """Items → ShareGPT records. The assistant turn is ``extra["response"]`` (an O-T-A chain).

    Items without a response are an error unless ``allow_answer_only``, which trains on
    ``<answer>X</answer>`` alone (useful for direct-answer baselines, not for O-T-A SFT).
    Video paths stay relative: LLaMA-Factory resolves them against ``media_dir``.
    """
    records = []
    for item in items:
        response = item.extra.get("response")
        if not isinstance(response, str) or not response.strip():
            if not allow_answer_only:
                raise DataError("no O-T-A response to train on (pass allow_answer_only to use "
                                "the bare answer)", item_id=item.id, field="response")
            response = format_solution(item.answer)
        user = prompts.with_video_placeholder(prompts.render_item_prompt(item, instruction))
        records.append({
            "id": item.id,
            "task": item.task,
            "skill": item.skill,
            "source": item.source,
            "messages": [{"role": "user", "content": user},
                         {"role": "assistant", "content": response}],
            "videos": [item.video],
        })
    return records


def write_sharegpt(items: Iterable[Item], out_file: str | os.PathLike[str],
                   dataset_name: str | None = None, captions: str | os.PathLike[str] | None = None,
                   captions_name: str | None = None, **kw: Any) -> dict[str, Any]:
    """Write a ShareGPT JSON file and merge its entry into ``dataset_info.json`` beside it.

    Returns the entry. Other entries of an existing ``dataset_info.json`` are kept. With
    ``captions``, also write the records' :func:`caption_records` there (one dataset entry more).
    """
    out_file = Path(out_file)
    records = to_sharegpt(items, **kw)
    if captions is not None:
        captions = Path(captions)
        _write_sharegpt_records(caption_records(records), captions,
                                captions_name or captions.stem, "videos")
    return _write_sharegpt_records(records, out_file, dataset_name or out_file.stem, "videos")


def write_caption_records(records: list[dict[str, Any]], out_file: str | os.PathLike[str],
                          dataset_name: str) -> dict[str, Any]:
    """Write ShareGPT video records made elsewhere (e.g. synth's motion captions) and their
    ``dataset_info.json`` entry; returns the entry."""
    return _write_sharegpt_records(records, Path(out_file), dataset_name, "videos")


def caption_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ShareGPT O-T-A records -> caption records: the video with :data:`prompts.CAPTION_INSTRUCTION`
    as the user turn and the chain's ``<observation>…</observation>`` as the answer (one per
    video, the first record of each). A record without an observation is an error naming it."""
    out, seen = [], set()
    for rec in records:
        video = rec["videos"][0]
        if video in seen:
            continue
        text = rec["messages"][1]["content"]
        start, end = text.find("<observation>"), text.find("</observation>")
        if start < 0 or end < start:
            raise DataError("no <observation>...</observation> to caption with",
                            item_id=rec.get("id"), field="messages[1].content")
        seen.add(video)
        out.append({"id": f"{rec.get('id')}/caption", "task": "caption", "skill": None,
                    "source": rec.get("source"),
                    "messages": [{"role": "user", "content": prompts.with_video_placeholder(
                        prompts.CAPTION_INSTRUCTION)},
                        {"role": "assistant", "content": text[start:end + len("</observation>")]}],
                    "videos": [video]})
    return out


def _write_sharegpt_records(records: list[dict[str, Any]], out_file: Path, dataset_name: str,
                            media: str) -> dict[str, Any]:
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    info_path = out_file.parent / "dataset_info.json"
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
    entry = dataset_info_entry(out_file.name, media)
    info[dataset_name] = entry
    info_path.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return entry


def sharegpt_as_frames(sharegpt_file: str | os.PathLike[str], video_root: str | os.PathLike[str],
                       vision: VisionSpec, out_file: str | os.PathLike[str],
                       dataset_name: str | None = None, workers: int = 0,
                       cache_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """A ShareGPT video file (from :func:`write_sharegpt`) in the vision spec's ``frames`` mode:
    each clip's sampled, model-sized frames saved as PNGs under ``<out dir>/frames/`` and the
    ``<video>`` placeholder replaced by one ``<image>`` a frame. This is what a model trained
    by the TRL backend sees (TRL trains on images only), so SFT and RL share one input form.
    Writes ``out_file`` and its ``dataset_info.json`` entry; returns the entry. A clip that
    cannot be read is an error naming the record. ``workers`` > 0 decodes and writes the clips
    in that many processes (1,600 clips: 70 s in one on the GPU machine); ``cache_dir`` keeps the
    decoded frames (eval.frames' cache) for the stages after this one.
    """
    from camreasoner.eval.frames import start_pool

    out_file = Path(out_file)
    frames_dir = out_file.parent / "frames"
    records = json.loads(Path(sharegpt_file).read_text(encoding="utf-8"))
    first_record: dict[str, str] = {}  # clip -> id of the first record that names it
    for k, rec in enumerate(records):
        rid = rec.get("id", f"record {k}")
        videos = rec.get("videos")
        if not isinstance(videos, list) or len(videos) != 1:
            raise DataError(f"expected exactly one video, got {videos!r}", item_id=rid,
                            field="videos")
        messages = rec.get("messages")
        user = messages[0].get("content") if isinstance(messages, list) and messages \
            and isinstance(messages[0], dict) else None
        if not isinstance(user, str) or not user.startswith(prompts.VIDEO_PLACEHOLDER):
            raise DataError("the user turn does not start with <video>", item_id=rid,
                            field="messages")
        first_record.setdefault(videos[0], rid)
    cache = None if cache_dir is None else str(cache_dir)
    jobs = [(str(resolve_video(video_root, video, item_id=rid)), vision, cache,
             str(frames_dir / f"{k:06d}"), str(out_file.parent))
            for k, (video, rid) in enumerate(first_record.items())]
    saved: dict[str, list[str]] = {}
    pool = start_pool(workers)
    try:  # results in clip order, from the pool or from this process
        results = pool.map(_clip_as_pngs, *zip(*jobs)) if pool and jobs \
            else itertools.starmap(_clip_as_pngs, jobs)
        for (video, rid), (paths, error) in zip(first_record.items(), results, strict=True):
            if error is not None:
                raise DataError(error, item_id=rid, field="videos")
            saved[video] = paths
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    out = []
    for rec in records:
        images = saved[rec["videos"][0]]
        messages = [dict(m) for m in rec["messages"]]
        messages[0]["content"] = prompts.with_frames_placeholders(
            messages[0]["content"][len(prompts.VIDEO_PLACEHOLDER):], len(images))
        new = {k2: v for k2, v in rec.items() if k2 not in ("messages", "videos")}
        out.append({**new, "messages": messages, "images": images})
    return _write_sharegpt_records(out, out_file, dataset_name or out_file.stem, "images")


def _clip_as_pngs(path: str, vision: VisionSpec, cache_dir: str | None, stem: str,
                  relative_to: str) -> tuple[list[str] | None, str | None]:
    """One clip's sampled frames written as ``stem/NN.png`` (in a worker process): their paths
    relative to ``relative_to``, or the decoding error."""
    from PIL import Image

    from camreasoner.eval.frames import load_frames
    from camreasoner.video import VideoError

    try:
        clip = load_frames(path, vision, cache_dir)
    except VideoError as e:
        return None, str(e)
    Path(stem).mkdir(parents=True, exist_ok=True)
    paths = []
    for i, frame in enumerate(clip.frames):
        png = Path(stem) / f"{i:02d}.png"
        Image.fromarray(frame).save(png)
        paths.append(str(png.relative_to(relative_to)))
    return paths, None


# --- verl parquet ----------------------------------------------------------------------------
def to_verl_rows(items: Iterable[Item], video_root: str | os.PathLike[str],
                 vision: VisionSpec = DEFAULT_VISION,
                 instruction: str = prompts.DEFAULT_INSTRUCTION) -> list[dict[str, Any]]:
    """Items → verl RLHFDataset rows.

    ``prompt`` is a chat list whose user text holds ``<video>``; ``videos`` holds one dict in
    qwen-vl-utils' form with an absolute ``file://`` URI (verl reads videos relative to the
    worker's working directory otherwise); ``reward_model.ground_truth`` is the letter;
    ``extra_info`` carries what the reward needs to read a yes/no answer as a movement.
    """
    rows = []
    for index, item in enumerate(items):
        if not item.options:
            raise DataError("RL items must be multiple choice", item_id=item.id, field="options")
        path = resolve_video(video_root, item.video, item_id=item.id)
        user = prompts.with_video_placeholder(prompts.render_item_prompt(item, instruction))
        rows.append({
            "data_source": item.source or DEFAULT_DATA_SOURCE,
            "prompt": [{"role": "user", "content": user}],
            # "file://" + the plain path, not Path.as_uri(): qwen-vl-utils strips the scheme and opens
            # the rest as a path, so percent-encoding (spaces as %20) would break it.
            "videos": [vision.qwen_vl_video("file://" + str(path))],
            "ability": VERL_ABILITY,
            "reward_model": {"style": "rule", "ground_truth": item.answer},
            "extra_info": {
                "index": index,
                "id": item.id,
                "task": item.task,
                "skill": item.skill or "",
                "pair_id": item.pair_id or "",
                "role": item.role or "",
                "question": item.question,
                "options": list(item.options),
                "video": item.video,
            },
        })
    return rows


def write_verl_parquet(items: Iterable[Item], out_file: str | os.PathLike[str],
                       video_root: str | os.PathLike[str], vision: VisionSpec = DEFAULT_VISION,
                       instruction: str = prompts.DEFAULT_INSTRUCTION) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = to_verl_rows(items, video_root, vision, instruction)
    if not rows:
        raise DataError("no items to write", where=str(out_file))
    Path(out_file).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), out_file)
    return len(rows)


def items_from_verl_rows(rows: Sequence[dict[str, Any]], video_root: str | os.PathLike[str],
                         ) -> list[Item]:
    """Inverse of :func:`to_verl_rows` (for round-trip checks and for reading RL files back)."""
    root = Path(video_root).resolve()
    items = []
    for row in rows:
        info = row["extra_info"]
        uri = row["videos"][0]["video"]
        path = Path(uri.removeprefix("file://"))
        try:
            video = path.relative_to(root).as_posix()
        except ValueError:
            raise DataError(f"video {uri!r} is not under {str(root)!r}", item_id=info.get("id"),
                            field="videos") from None
        items.append(Item(
            id=info["id"], video=video, question=info["question"], options=list(info["options"]),
            answer=row["reward_model"]["ground_truth"], task=info["task"],
            skill=info["skill"] or None, pair_id=info.get("pair_id") or None,
            role=info.get("role") or None, source=row["data_source"],
        ).validate())
    return items


def read_verl_parquet(path: str | os.PathLike[str], video_root: str | os.PathLike[str]) -> list[Item]:
    import pyarrow.parquet as pq

    return items_from_verl_rows(pq.read_table(path).to_pylist(), video_root)
