"""``camreasoner synth``: render clips with exact camera-motion labels, and their item files.

Output folder::

    videos/<clip>.mp4      H.264 clips (PyAV)
    manifest.jsonl         one line per clip: motion, speed, shake, all 15 binary labels (Yes/No/
                           null = unlabeled), geometric cues, the camera path (centres, rotations,
                           focal lengths per frame)
    items_binary.jsonl     yes/no items, one per clip and labeled primitive (task = primitive)
    items_mc.jsonl         "Which camera movement best describes the video?" (6 options)
    items_vqa.jsonl        CameraBench-style pos/neg pairs of clips (4 items a pair)
    sft.json + dataset_info.json   O-T-A chains for LLaMA-Factory (ShareGPT)
    sft_caption.json               video -> its <observation>, one a clip (alignment phase)
    sft_motion.json                video -> <observation>the motion's name</observation>, one a
                                   clip (the alignment phase with every target token motion)
    rl.parquet             the same items for verl

Every item carries its O-T-A chain as ``response``. Clips are deterministic per (seed, index), so
any number of workers gives the same files.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from camreasoner import prompts, taxonomy
from camreasoner.data.schema import VQA_ROLES, Item, write_items
from camreasoner.media.writer import write_video
from camreasoner.synth import ota
from camreasoner.synth.motions import DEFAULT_MIX, SPEEDS, binary_labels, camera_path
from camreasoner.synth.scene import make_scene, render
from camreasoner.taxonomy import MOTION_PHRASES, Motion, describe_motion, parse_motion

log = logging.getLogger(__name__)

SOURCE = "synthetic"
MC_QUESTION = "Which camera movement best describes the video?"
# How a multiple-choice item's options are chosen (``build``'s ``mc_options``). "drawn": five
# distractors drawn from the single movements, static and shaking, shuffled in with the truth,
# so the letter moves from item to item and answering is finding the option the think names
# (the tiny 2-layer LMs did not learn that lookup: maintainers/experiment-log.md, issue #19).
# "fixed": every item lists the same options in one order (fixed_mc_texts: the fourteen single
# movements, static, shaking and the default mix's nine combinations, A-Y), so a movement keeps
# its letter and the answer follows from the think alone; every item has all 25, so their
# number tells nothing (with a combination added only to its own items, their count gave it away).
MC_OPTION_MODES = ("drawn", "fixed")
DEFAULT_SPEEDS = ("slow", "regular", "fast")

# VQA-style pairs: (skill, task, positive-clip motion, negative-clip motion, pos question, neg question)
VQA_PAIRS: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("motion_direction", "pan_left_vs_pan_right", "Pan_Left", "Pan_Right",
     "Does the camera pan to the left?", "Does the camera pan to the right?"),
    ("motion_direction", "tilt_up_vs_tilt_down", "Tilt_Up", "Tilt_Down",
     "Does the camera tilt upward?", "Does the camera tilt downward?"),
    ("motion_direction", "zoom_in_vs_zoom_out", "Zoom_In", "Zoom_Out",
     "Does the camera zoom in?", "Does the camera zoom out?"),
    ("motion_direction", "roll_cw_vs_roll_ccw", "Roll_Clockwise", "Roll_Counterclockwise",
     "Does the camera roll clockwise?", "Does the camera roll counterclockwise?"),
    ("motion_direction", "forward_vs_backward", "Move_In", "Move_Out",
     "Does the camera move forward?", "Does the camera move backward?"),
    ("confusable_motion", "only_pan_left_vs_only_truck_left", "Pan_Left", "Move_Left",
     "Does the camera only pan left, turning without moving sideways?",
     "Does the camera only move left, sliding sideways without turning?"),
    ("confusable_motion", "only_pan_right_vs_only_truck_right", "Pan_Right", "Move_Right",
     "Does the camera only pan right, turning without moving sideways?",
     "Does the camera only move right, sliding sideways without turning?"),
    ("confusable_motion", "only_zoom_in_vs_only_forward", "Zoom_In", "Move_In",
     "Does the camera only zoom in, without moving forward?",
     "Does the camera only move forward, without zooming in?"),
    ("motion_and_steadiness", "is_the_camera_fixed_or_moving", "Static", "Pan_Left",
     "Is the camera fixed in place?", "Is the camera moving?"),
    ("motion_and_steadiness", "is_the_fixed_camera_shaking_or_not", "Shake", "Static",
     "Is the fixed camera shaking?", "Is the fixed camera perfectly steady?"),
)


def choose_motion(index: int, seed: int, motions: list[str] | None,
                  speeds: tuple[str, ...]) -> Motion:
    rng = np.random.default_rng([seed, index, 1])
    speed = speeds[int(rng.integers(len(speeds)))]
    if motions:
        return parse_motion(motions[index % len(motions)], speed)
    names, weights = zip(*DEFAULT_MIX)
    p = np.asarray(weights) / sum(weights)
    return parse_motion(names[int(rng.choice(len(names), p=p))], speed)


def render_clip(index: int, seed: int, out: str, size: int, frames: int, fps: int,
                motions: list[str] | None, speeds: tuple[str, ...]) -> dict[str, Any]:
    """Render one clip and its labels; returns the manifest record (no items)."""
    motion = choose_motion(index, seed, motions, speeds)
    rng = np.random.default_rng([seed, index, 2])
    surfaces = make_scene(rng)
    poses = camera_path(motion, frames, size, rng)
    # rendered one frame at a time as the encoder takes them (4-byte pixels, alpha ignored)
    images = (render(surfaces, p, size, size, rgba=True) for p in poses)
    clip_id = f"clip{index:06d}"
    write_video(Path(out) / "videos" / f"{clip_id}.mp4", images, fps, crf=18, preset="ultrafast")
    c = ota.cues(surfaces, poses, size, size)
    return {
        "clip_id": clip_id, "video": f"{clip_id}.mp4", "index": index, "seed": seed,
        "motion": motion.name, "primitives": list(motion.primitives), "speed": motion.speed,
        "shake": motion.shake, "dolly_zoom": motion.is_dolly_zoom,
        "labels": binary_labels(motion), "cues": c,
        "frames": frames, "fps": fps, "width": size, "height": size,
        "camera": {"center": [p.center.round(6).tolist() for p in poses],
                   "rotation": [p.rotation.round(8).tolist() for p in poses],
                   "focal": [round(p.focal, 4) for p in poses]},
    }


def _motion_of(rec: dict) -> Motion:
    return Motion(tuple(rec["primitives"]), rec["speed"], rec["shake"])


def motion_caption_records(records: list[dict]) -> list[dict]:
    """One caption record a clip: the video -> ``<observation>`` holding only the motion's short
    name (``describe_motion``: "pans left", "dollies in while panning right"), so that every
    target token depends on the motion (the alignment phase's strongest signal; in an O-T-A
    observation the motion is a few words of ~60)."""
    return [{"id": f"{r['clip_id']}/motion_caption", "task": "caption", "skill": None,
             "source": SOURCE,
             "messages": [{"role": "user",
                           "content": prompts.with_video_placeholder(prompts.CAPTION_INSTRUCTION)},
                          {"role": "assistant",
                           "content": f"<observation>{describe_motion(_motion_of(r))}"
                                      "</observation>"}],
             "videos": [r["video"]]} for r in records]


@functools.cache
def fixed_mc_texts() -> tuple[str, ...]:
    """The "fixed" options: the single movements in the taxonomy's order, static, shaking, then
    the combinations of the default mix in its order (25 texts, A-Y)."""
    combined = [describe_motion(parse_motion(name)) for name, _ in DEFAULT_MIX if "+" in name]
    return (*(describe_motion(Motion((p,))) for p in MOTION_PHRASES),
            describe_motion(Motion(())), describe_motion(Motion((), shake=True)), *combined)


def check_mc_options(mc_options: str, mc_per_clip: int = 1, motions: Iterable[str] = ()) -> None:
    """Raise ValueError for an unknown ``mc_options``, for "fixed" with more than one item a
    clip, or naming the first of ``motions`` whose description is not a fixed option."""
    if mc_options not in MC_OPTION_MODES:
        raise ValueError(f"unknown mc_options {mc_options!r}; modes: {', '.join(MC_OPTION_MODES)}")
    if mc_options == "drawn":
        return
    if mc_per_clip != 1:
        raise ValueError(f"mc_per_clip {mc_per_clip}: fixed options give one item a clip")
    for m in motions:
        if describe_motion(parse_motion(m)) not in fixed_mc_texts():
            raise ValueError(f"motion {m}: not among the fixed multiple-choice options (the "
                             "default mix's movements); use mc_options drawn")


def items_for_clip(rec: dict, seed: int, chain_style: str = "full", mc_per_clip: int = 1,
                   mc_options: str = "drawn") -> tuple[list[Item], list[Item]]:
    """Binary and multiple-choice items of one clip, each with its O-T-A chain in
    ``chain_style`` (``ota.CHAIN_STYLES``). ``mc_options`` (:data:`MC_OPTION_MODES`): how the
    options are chosen. With "drawn", ``mc_per_clip`` multiple-choice items ask the same
    question with the options drawn and ordered afresh each (ids ``which_motion``,
    ``which_motion~1``, ...): the answer letter moves while the clip stays."""
    check_mc_options(mc_options, mc_per_clip)
    rng = np.random.default_rng([seed, rec["index"], 3])
    motion = _motion_of(rec)
    binary = []
    for prim, label in rec["labels"].items():
        if label is None:
            continue
        letter = prompts.YES_LETTER if label == "Yes" else prompts.NO_LETTER
        binary.append(Item(
            id=f"{rec['clip_id']}/{prim}", video=rec["video"],
            question=taxonomy.primitive(prim).question, options=list(prompts.YES_NO_OPTIONS),
            answer=letter, task=prim, source=SOURCE,
            extra={"motion": rec["motion"], "speed": rec["speed"],
                   "response": ota.binary_chain(motion, prim, label, rec["cues"], rng, letter,
                                                chain_style)}))
    mc = []
    if SPEEDS[motion.speed] >= 0.1:
        truth = describe_motion(motion)
        # parenthesised: "-" binds tighter than "|", and without them the truth stayed in the
        # pool, so about a third of the items listed it twice (one of the two letters "wrong")
        pool = sorted(({describe_motion(Motion((p,))) for p in MOTION_PHRASES}
                       | {describe_motion(Motion(())), describe_motion(Motion((), shake=True))})
                      - {truth})
        for variant in range(mc_per_clip):
            if mc_options == "fixed":
                texts = list(fixed_mc_texts())
                if truth not in texts:
                    raise ValueError(f"{rec['clip_id']}: motion {rec['motion']} ({truth!r}) is not "
                                     "among the fixed options (the default mix's movements); "
                                     "use mc_options drawn")
            else:
                # options from a stream of their own: the same options whatever the chains'
                # wording drew (variant 0's stream is the one a single item a clip always had)
                options_rng = np.random.default_rng([seed, rec["index"], 5,
                                                     *([variant] if variant else [])])
                texts = list(options_rng.choice(pool, size=5, replace=False)) + [truth]
                options_rng.shuffle(texts)
            options = prompts.make_options(texts)
            letter = prompts.option_letter(texts.index(truth))
            suffix = f"~{variant}" if variant else ""
            mc.append(Item(id=f"{rec['clip_id']}/which_motion{suffix}", video=rec["video"],
                           question=MC_QUESTION, options=options, answer=letter,
                           task="which_motion", source=SOURCE,
                           extra={"motion": rec["motion"], "speed": rec["speed"],
                                  "response": ota.mc_chain(motion, rec["cues"], rng, letter, truth,
                                                           chain_style)}))
    return binary, mc


def vqa_items(records: list[dict], seed: int) -> list[Item]:
    """Pair clips whose motions a CameraBench VQA task contrasts (single motions only)."""
    by_motion: dict[str, list[dict]] = {}
    for r in records:
        if SPEEDS[r["speed"]] >= 0.1:
            by_motion.setdefault(r["motion"], []).append(r)
    items = []
    for skill, task, pos_m, neg_m, pos_q, neg_q in VQA_PAIRS:
        pos, neg = by_motion.get(pos_m, []), by_motion.get(neg_m, [])
        for k, (pv, nv) in enumerate(zip(pos, neg), 1):
            pair_id = f"{skill}/{task}/{k}"
            videos = {"pos": pv, "neg": nv}
            questions = {"pos": pos_q, "neg": neg_q}
            for role in VQA_ROLES:
                vr, qr = (part.split("_")[0] for part in role.split("."))
                items.append(Item(
                    id=f"{pair_id}/{role}", video=videos[vr]["video"], question=questions[qr],
                    options=list(prompts.YES_NO_OPTIONS),
                    answer=prompts.YES_LETTER if vr == qr else prompts.NO_LETTER, task=task,
                    skill=skill, pair_id=pair_id, role=role, source=SOURCE,
                    extra={"motion": videos[vr]["motion"]}))
    return items


def sft_selection(binary: list[Item], mc: list[Item], per_clip: int, seed: int) -> list[Item]:
    """All multiple-choice items plus ``per_clip`` binary items per clip, Yes first when the clip
    has one (Yes is rare: 1-2 of 15 primitives)."""
    by_clip: dict[str, list[Item]] = {}
    for it in binary:
        by_clip.setdefault(it.video, []).append(it)
    chosen = list(mc)
    for k, (video, group) in enumerate(sorted(by_clip.items())):
        rng = np.random.default_rng([seed, k, 4])
        yes = [i for i in group if i.answer == prompts.YES_LETTER]
        no = [i for i in group if i.answer != prompts.YES_LETTER]
        rng.shuffle(yes)
        rng.shuffle(no)
        chosen += (yes[:1] + no)[:per_clip]
    return chosen


def build(out: str | os.PathLike[str], clips: int, seed: int = 0, size: int = 224,
          frames: int = 16, fps: int = 8, workers: int = 1, motions: list[str] | None = None,
          speeds: tuple[str, ...] = DEFAULT_SPEEDS, sft_per_clip: int = 2,
          chain_style: str = "full", progress: bool = True, mc_per_clip: int = 1,
          mc_options: str = "drawn") -> dict[str, Any]:
    from camreasoner.data import convert
    from camreasoner.media.workers import spawn_map
    from camreasoner.vision import VisionSpec

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for m in motions or []:
        parse_motion(m)  # fail before rendering anything
    if chain_style not in ota.CHAIN_STYLES:
        raise ValueError(f"unknown chain style {chain_style!r}; styles: "
                         f"{', '.join(ota.CHAIN_STYLES)}")
    if mc_per_clip < 1:
        raise ValueError(f"mc_per_clip must be at least 1, got {mc_per_clip}")
    check_mc_options(mc_options, mc_per_clip, motions or ())  # before rendering, not after
    for s in speeds:
        if s not in SPEEDS:
            raise ValueError(f"unknown speed {s!r}; speeds: {', '.join(SPEEDS)}")
    args = [(i, seed, str(out), size, frames, fps, motions, tuple(speeds)) for i in range(clips)]
    records: list[dict] = spawn_map(_render_star, args, workers, desc="rendering clips",
                                    unit="clip", progress=progress)
    with open(out / "manifest.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
    binary, mc = [], []
    for r in records:
        b, m = items_for_clip(r, seed, chain_style, mc_per_clip, mc_options)
        binary += b
        mc += m
    vqa = vqa_items(records, seed)
    write_items(out / "items_binary.jsonl", binary)
    write_items(out / "items_mc.jsonl", mc)
    write_items(out / "items_vqa.jsonl", vqa)
    train = sft_selection(binary, mc, sft_per_clip, seed)
    # and one video -> observation record a clip: the optional alignment phase before O-T-A SFT
    convert.write_sharegpt(train, out / "sft.json", dataset_name="synthetic_ota",
                           captions=out / "sft_caption.json", captions_name="synthetic_caption")
    convert.write_caption_records(motion_caption_records(records), out / "sft_motion.json",
                                  "synthetic_motion")
    vision = VisionSpec(fps=float(fps), max_frames=frames, min_pixels=16 * 784,
                        max_pixels=max(16 * 784, size * size))
    convert.write_verl_parquet(train, out / "rl.parquet", out / "videos", vision)
    summary = {
        "clips": clips, "seed": seed, "size": size, "frames": frames, "fps": fps,
        "chain_style": chain_style, "mc_per_clip": mc_per_clip, "mc_options": mc_options,
        "motions": dict(Counter(r["motion"] for r in records)),
        "speeds": dict(Counter(r["speed"] for r in records)),
        "items": {"binary": len(binary), "mc": len(mc), "vqa": len(vqa), "sft": len(train)},
        "unlabeled_binary": sum(v is None for r in records for v in r["labels"].values()),
        "vision": asdict(vision),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.info("synthetic set in %s: %d clips, %s", out, clips, summary["items"])
    return summary


def _render_star(a):
    return render_clip(*a)
