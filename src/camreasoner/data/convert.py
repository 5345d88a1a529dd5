"""Converters from items to the training frameworks' formats.

- :func:`to_sharegpt` + :func:`dataset_info_entry`: LLaMA-Factory SFT files.
- :func:`to_verl_rows` / :func:`write_verl_parquet`: verl RL parquet.

Both render the user text with :func:`camreasoner.prompts.render_item_prompt` and the video with
:mod:`camreasoner.vision`, so SFT, RL and evaluation see the same prompt and frames.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from camreasoner import prompts
from camreasoner.answers import format_solution
from camreasoner.data.schema import DataError, Item, resolve_video
from camreasoner.vision import DEFAULT_VISION, PIXELS_PER_TOKEN, VisionSpec

log = logging.getLogger(__name__)

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
    ``<video>`` placeholder replaced by one ``<image>`` a frame: SFT on the input the seed's RL
    and evaluation use (``vision.mode=frames`` in the demo, so every stage shares it).
    Writes ``out_file`` and its ``dataset_info.json`` entry; returns the entry. A clip that
    cannot be read is an error naming the record. ``workers`` > 0 decodes and writes the clips
    in that many processes (1,600 clips: 70 s in one on the GPU machine); ``cache_dir`` keeps the
    decoded frames (media.frames' cache) for the stages after this one.
    """
    from camreasoner.media.frames import start_pool

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

    from camreasoner.media.frames import load_frames
    from camreasoner.media.video import VideoError

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
def _row_info(index: int, item: Item) -> dict[str, Any]:
    return {"index": index, "id": item.id, "task": item.task, "skill": item.skill or "",
            "pair_id": item.pair_id or "", "role": item.role or "", "question": item.question,
            "options": list(item.options), "video": item.video}


def to_verl_rows(items: Iterable[Item], video_root: str | os.PathLike[str],
                 vision: VisionSpec = DEFAULT_VISION,
                 instruction: str = prompts.DEFAULT_INSTRUCTION) -> list[dict[str, Any]]:
    """Items → verl RLHFDataset rows, each clip as a video (the vision spec's ``video`` mode).

    ``prompt`` is a chat list whose user text holds ``<video>``; ``videos`` holds one dict in
    qwen-vl-utils' form with an absolute ``file://`` URI (verl reads videos relative to the
    worker's working directory otherwise); ``reward_model.ground_truth`` is the letter;
    ``extra_info`` carries what the reward needs to read a yes/no answer as a movement.
    Frames-mode specs go through :func:`to_verl_frame_rows`.
    """
    if vision.mode != "video":
        raise ValueError("to_verl_rows writes videos; frames-mode specs need to_verl_frame_rows")
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
            "extra_info": _row_info(index, item),
        })
    return rows


# EasyR1's _truncate_frames_to_fit (the seed's RL dataset) measures the prompt with this text in
# place of the question, then keeps int(n * 0.8) frames, np.linspace(0, n - 1, keep, dtype=int),
# until it fits.
EASYR1_FIT_TEXT = "Dummy text"
EASYR1_KEEP = 0.8


def prompt_tokens(processor: Any, text: str, frame_tokens: Sequence[int]) -> int:
    """Tokens of the chat prompt with one image a frame before ``text``, as the processor counts
    them: the chat template's text tokens with each image placeholder expanded to its frame's
    tokens (``frame_tokens``, from :func:`camreasoner.media.video.frame_tokens`)."""
    messages = prompts.chat_messages(text, len(frame_tokens))
    chat = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = processor.tokenizer(chat, add_special_tokens=False)["input_ids"]
    pad_id = processor.tokenizer.convert_tokens_to_ids(processor.image_token)
    n_pads = sum(1 for i in ids if i == pad_id)
    if n_pads != len(frame_tokens):
        raise ValueError(f"the chat template wrote {n_pads} image placeholders for "
                         f"{len(frame_tokens)} frames")
    return len(ids) - n_pads + sum(frame_tokens)


def fit_frames(processor: Any, text: str, frame_tokens: Sequence[int], max_tokens: int
               ) -> list[int]:
    """Which frames EasyR1 keeps so the prompt fits ``max_tokens``: it measures with
    :data:`EASYR1_FIT_TEXT` and drops 20% of the frames a round (module comment above). The seed
    then fed the real question unchecked; here the reduction goes on while the real prompt is
    still over the budget (a prompt the seed would have sent over its limit). Returns the kept
    indices into ``frame_tokens`` (at least one frame)."""
    import numpy as np

    kept = list(range(len(frame_tokens)))

    def over(fit_text: str) -> bool:
        return prompt_tokens(processor, fit_text, [frame_tokens[i] for i in kept]) > max_tokens

    for fit_text in (EASYR1_FIT_TEXT, text):
        while len(kept) > 1 and over(fit_text):
            keep_n = max(1, int(len(kept) * EASYR1_KEEP))
            kept = [kept[j] for j in np.linspace(0, len(kept) - 1, keep_n, dtype=int)]
    return kept


def frame_sizes(height: int, width: int, vision: VisionSpec) -> tuple[tuple[int, int], int]:
    """For a decoded frame of ``height`` x ``width``: the size it is stored at for verl (from
    which verl's ``fetch_image``, at :meth:`VisionSpec.fetch_bounds`, reaches the model's size)
    and the model's tokens for it. ``easyr1`` resizing stores EasyR1's process_image size;
    ``smart`` stores the final size itself."""
    from camreasoner.media.video import easyr1_size, model_size

    final_h, final_w = model_size(height, width, vision)
    stored = (easyr1_size(height, width, vision.min_pixels, vision.max_pixels)
              if vision.resize == "easyr1" else (final_h, final_w))
    return stored, final_h * final_w // PIXELS_PER_TOKEN


def _clip_frames_job(path: str, vision: VisionSpec, stem: str, model: str | None,
                     fit_text: str, max_tokens: int | None) -> tuple[list[str] | None, str | None]:
    """One clip's kept frames written as ``stem/frame_NNNNN.png`` (a worker-process job): their
    absolute paths, or the decoding error. ``fit_text``: the longest prompt of the clip's items."""
    from PIL import Image

    from camreasoner.media.video import VideoError, read_frames

    try:
        video = read_frames(path, vision)
    except VideoError as e:
        return None, str(e)
    h, w = video.frames.shape[1:3]
    (sh, sw), tokens = frame_sizes(h, w, vision)
    kept = list(range(len(video.frames)))
    if max_tokens is not None:
        kept = fit_frames(_processor(model), fit_text, [tokens] * len(kept), max_tokens)
    Path(stem).mkdir(parents=True, exist_ok=True)
    paths = []
    for k, i in enumerate(kept):
        img = Image.fromarray(video.frames[i])
        if (sh, sw) != (h, w):
            img = img.resize((sw, sh), Image.Resampling.BICUBIC)
        png = Path(stem) / f"frame_{k + 1:05d}.png"
        img.save(png)
        paths.append(str(png.resolve()))
    return paths, None


_PROCESSORS: dict[str, Any] = {}


def _processor(model_dir: str | None):
    """The model's processor, loaded once a process (workers count prompts with it)."""
    if model_dir is None:
        raise ValueError("a prompt budget needs the model's processor (pass the model)")
    if model_dir not in _PROCESSORS:
        from transformers import AutoProcessor

        _PROCESSORS[model_dir] = AutoProcessor.from_pretrained(model_dir)
    return _PROCESSORS[model_dir]


def to_verl_frame_rows(items: Iterable[Item], video_root: str | os.PathLike[str],
                       vision: VisionSpec, frames_dir: str | os.PathLike[str],
                       model: str | None = None, max_prompt_tokens: int | None = None,
                       instruction: str = prompts.DEFAULT_INSTRUCTION, workers: int = 0,
                       ) -> tuple[list[dict[str, Any]], list[DataError]]:
    """Items → verl rows with each clip as its sampled frames, one image each: the seed's RL
    input (``vision`` = :data:`camreasoner.vision.SEED_RL_VISION`).

    Frames are written as PNG files under ``frames_dir`` (a folder a clip, only the kept frames)
    at the size of :func:`frame_sizes`, and listed in the row's ``images`` column as
    ``{"image": path, "min_pixels", "max_pixels"}``; the user text holds one ``<image>`` a frame
    before the prompt (verl's RLHFDataset splits on it). With ``max_prompt_tokens``, frames are
    dropped as EasyR1 drops them (:func:`fit_frames`, counted with ``model``'s processor), once a
    clip, against the longest prompt of the clip's items. Returns the rows and the items that
    cannot be converted, as errors naming them (the caller decides whether that is fatal).
    """
    from tqdm.auto import tqdm

    from camreasoner.media.frames import start_pool

    if vision.mode != "frames":
        raise ValueError("to_verl_frame_rows needs a frames-mode vision spec")
    if max_prompt_tokens is not None and model is None:
        raise DataError(f"fitting prompts into {max_prompt_tokens} tokens needs the model's "
                        "tokenizer: pass the model (--model)")
    items = list(items)
    texts = {item.id: prompts.render_item_prompt(item, instruction) for item in items}
    clip_of: dict[str, str] = {}
    by_clip: dict[str, list[Item]] = {}
    errors: list[DataError] = []
    for item in items:
        try:
            if not item.options:
                raise DataError("RL items must be multiple choice", item_id=item.id,
                                field="options")
            clip = str(resolve_video(video_root, item.video, item_id=item.id))
        except DataError as e:
            errors.append(e)
            continue
        clip_of[item.id] = clip
        by_clip.setdefault(clip, []).append(item)
    jobs = [(clip, vision, str(Path(frames_dir) / f"{k:06d}"), model,
             max((texts[i.id] for i in group), key=len), max_prompt_tokens)
            for k, (clip, group) in enumerate(by_clip.items())]
    saved: dict[str, list[str]] = {}
    pool = start_pool(workers)
    try:
        results = pool.map(_clip_frames_job, *zip(*jobs)) if pool and jobs \
            else itertools.starmap(_clip_frames_job, jobs)
        for (clip, group), (frames, error) in tqdm(zip(by_clip.items(), results, strict=True),
                                                   total=len(jobs), desc="RL frames",
                                                   unit="clip", disable=len(jobs) < 50):
            if error is None:
                saved[clip] = frames
            else:
                errors.extend(DataError(error, item_id=i.id, field="video") for i in group)
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    empty = sum(1 for frames in saved.values() if not frames)
    if empty:  # ffmpeg's fps filter writes nothing for a clip under half a second
        log.warning("%d clip(s) gave no frame at %s fps: their rows are text only, as the seed's "
                    "were", empty, vision.fps)
    lo, hi = vision.fetch_bounds()
    rows = []
    for item in items:
        frames = saved.get(clip_of.get(item.id, ""))
        if frames is None:
            continue
        rows.append({
            "data_source": item.source or DEFAULT_DATA_SOURCE,
            "prompt": [{"role": "user", "content": prompts.with_frames_placeholders(
                texts[item.id], len(frames))}],
            "images": [{"image": f, "min_pixels": lo, "max_pixels": hi} for f in frames],
            "ability": VERL_ABILITY,
            "reward_model": {"style": "rule", "ground_truth": item.answer},
            "extra_info": _row_info(len(rows), item),
        })
    return rows, errors


def write_verl_parquet(items: Iterable[Item], out_file: str | os.PathLike[str],
                       video_root: str | os.PathLike[str], vision: VisionSpec = DEFAULT_VISION,
                       instruction: str = prompts.DEFAULT_INSTRUCTION, *,
                       model: str | None = None, max_prompt_tokens: int | None = None,
                       frames_dir: str | os.PathLike[str] | None = None, workers: int = 0,
                       skip_bad: bool = False) -> tuple[int, list[DataError]]:
    """Write verl parquet for ``items``: videos (``video`` mode) or frames as images (``frames``
    mode; PNGs under ``frames_dir``, default ``<out stem>_frames/`` beside the file). An item
    whose clip cannot be read stops the conversion, writing nothing, unless ``skip_bad``: then
    the file holds the rest and the skipped items are returned as errors. Returns (rows written,
    skipped)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_file = Path(out_file)
    items = list(items)
    if vision.mode == "frames":
        frames_dir = Path(frames_dir) if frames_dir else out_file.with_name(
            out_file.stem + "_frames")
        rows, errors = to_verl_frame_rows(items, video_root, vision, frames_dir, model,
                                          max_prompt_tokens, instruction, workers)
    else:
        rows, errors = [], []
        for item in items:  # per item, so every bad one is listed
            try:
                rows.extend(to_verl_rows([item], video_root, vision, instruction))
            except DataError as e:
                errors.append(e)
        for k, row in enumerate(rows):
            row["extra_info"]["index"] = k
    if errors and not skip_bad:
        raise DataError(f"{len(errors)} item(s) cannot be converted, nothing written "
                        "(--skip-bad writes the rest):\n" + "\n".join(f"  {e}" for e in errors),
                        where=str(out_file))
    if not rows:
        raise DataError("no items to write", where=str(out_file))
    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_file.with_name(out_file.name + ".tmp")
    pq.write_table(pa.Table.from_pylist(rows), tmp)
    os.replace(tmp, out_file)
    return len(rows), errors


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
