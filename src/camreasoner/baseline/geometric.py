"""``camreasoner baseline geometric``: a classical camera-motion estimator, the SfM-style reference
row of our tables. No learning; runs on the CPU on synthetic or real CameraBench clips.

Per clip (frames sampled at up to 8 fps, downscaled to at most 320 px wide):
1. Track corners between consecutive frames (Shi-Tomasi + pyramidal Lucas-Kanade).
2. Per frame pair, fit a similarity (scale, rotation, shift) and a homography with RANSAC. A
   camera that only rotates or zooms moves every point by one homography; translation through a
   scene with depth leaves residual *parallax*. ``parallax`` = median homography residual over
   median flow length.
3. Accumulate over the clip: ``shift_x``/``shift_y`` (median flow, image widths; +x right, +y
   down), ``log_scale`` (expansion), ``rotation_deg`` (clockwise on screen positive), and
   ``jitter`` (frame-to-frame changes of the shift that a smooth path does not have).
4. Score each CameraBench primitive, e.g. Pan_Left = shift_x * (1 - p), Move_Left = shift_x * p
   with p the parallax weight (a pan moves the scene right with no parallax, a truck left with
   it); Zoom_In = log_scale * (1 - p), Move_In = log_scale * p; Roll_Clockwise = -rotation
   (the picture turns the other way); Static = -(total motion). ``p_yes`` is a logistic of the
   score and the hard answer is Yes above the primitive's threshold.

The output is a predictions file (``id``, ``response`` with ``<answer>X</answer>``, ``p_yes``) that
``camreasoner eval score`` reads. Binary items are scored; "which movement" multiple-choice items
get the option naming the strongest estimated primitive; other items are skipped and counted.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from camreasoner import prompts
from camreasoner.data.readers import load_items
from camreasoner.data.schema import Item, resolve_video
from camreasoner.vision import VisionSpec

log = logging.getLogger(__name__)

SAMPLING = VisionSpec(fps=8.0, max_frames=48, min_pixels=28 * 28, max_pixels=10_000_000)
MAX_WIDTH = 320

# Score above which the hard answer is Yes, and the logistic width for p_yes (score units).
THRESHOLDS = {"shift": 0.04, "scale": 0.05, "roll": 0.4, "static": -0.03}
WIDTHS = {"shift": 0.02, "scale": 0.02, "roll": 0.2, "static": 0.015}


def estimate_motion(frames: np.ndarray) -> dict[str, float]:
    """Clip-level motion statistics from RGB frames (T, H, W, 3)."""
    import cv2

    h, w = frames.shape[1:3]
    scale = min(1.0, MAX_WIDTH / w)
    size = (max(16, round(w * scale)), max(16, round(h * scale)))
    grays = [cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
             for f in frames]
    width = size[0]
    shifts, log_scales, rotations, parallaxes, weights = [], [], [], [], []
    for prev, nxt in itertools.pairwise(grays):
        pts = cv2.goodFeaturesToTrack(prev, maxCorners=300, qualityLevel=0.01, minDistance=6)
        if pts is None or len(pts) < 8:
            shifts.append((0.0, 0.0))
            log_scales.append(0.0)
            rotations.append(0.0)
            continue
        moved, status, _ = cv2.calcOpticalFlowPyrLK(prev, nxt, pts, None, winSize=(21, 21),
                                                    maxLevel=3)
        ok = status.ravel() == 1
        p0, p1 = pts[ok].reshape(-1, 2), moved[ok].reshape(-1, 2)
        if len(p0) < 8:
            shifts.append((0.0, 0.0))
            log_scales.append(0.0)
            rotations.append(0.0)
            continue
        flow = p1 - p0
        shifts.append(tuple(np.median(flow, axis=0) / width))
        c = np.array([size[0] / 2, size[1] / 2])
        m, _ = cv2.estimateAffinePartial2D(p0 - c, p1 - c, method=cv2.RANSAC,
                                           ransacReprojThreshold=1.0)
        if m is None:
            log_scales.append(0.0)
            rotations.append(0.0)
        else:
            log_scales.append(math.log(max(1e-6, math.hypot(m[0, 0], m[1, 0]))))
            rotations.append(math.degrees(math.atan2(m[1, 0], m[0, 0])))
        hmat, _ = cv2.findHomography(p0, p1, cv2.RANSAC, 1.0)
        mag = float(np.median(np.linalg.norm(flow, axis=1)))
        if hmat is not None and mag > 0.3:
            pred = cv2.perspectiveTransform(p0.reshape(-1, 1, 2), hmat).reshape(-1, 2)
            resid = np.linalg.norm(pred - p1, axis=1)
            # Parallax: the spread of residuals, relative to the motion itself.
            parallaxes.append(float(np.percentile(resid, 75)) / mag)
            weights.append(mag)
    sx = np.array([s[0] for s in shifts])
    sy = np.array([s[1] for s in shifts])
    jitter = float(np.sqrt(np.mean(np.diff(sx) ** 2 + np.diff(sy) ** 2))) if len(sx) > 2 else 0.0
    parallax = float(np.average(parallaxes, weights=weights)) if parallaxes else 0.0
    return {"shift_x": float(sx.sum()), "shift_y": float(sy.sum()),
            "log_scale": float(np.sum(log_scales)), "rotation_deg": float(np.sum(rotations)),
            "parallax": parallax, "jitter": jitter, "pairs": len(shifts)}


def parallax_weight(parallax: float) -> float:
    """0 for a homography-consistent (rotation/zoom) flow, toward 1 with growing parallax."""
    return float(1.0 - math.exp(-parallax / 0.25))


def primitive_scores(m: dict[str, float]) -> dict[str, tuple[float, str]]:
    """Primitive -> (score, threshold kind). Higher score = more evidence for Yes."""
    p = parallax_weight(m["parallax"])
    sx, sy, ls, rot = m["shift_x"], m["shift_y"], m["log_scale"], m["rotation_deg"]
    total = abs(sx) + abs(sy) + abs(ls) + abs(rot) / 10.0 + 3.0 * m["jitter"]
    return {
        "Pan_Left": (sx * (1 - p), "shift"), "Pan_Right": (-sx * (1 - p), "shift"),
        "Move_Left": (sx * p, "shift"), "Move_Right": (-sx * p, "shift"),
        "Tilt_Up": (sy * (1 - p), "shift"), "Tilt_Down": (-sy * (1 - p), "shift"),
        "Move_Up": (sy * p, "shift"), "Move_Down": (-sy * p, "shift"),
        "Zoom_In": (ls * (1 - p), "scale"), "Zoom_Out": (-ls * (1 - p), "scale"),
        "Move_In": (ls * p, "scale"), "Move_Out": (-ls * p, "scale"),
        # Roll clockwise turns the picture counterclockwise (negative on screen).
        "Roll_Clockwise": (-rot / 10.0, "roll"), "Roll_Counterclockwise": (rot / 10.0, "roll"),
        "Static": (-total, "static"),
    }


def p_yes(score: float, kind: str) -> float:
    z = (score - THRESHOLDS[kind]) / WIDTHS[kind]
    return float(1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z)))))


def predict_item(item: Item, m: dict[str, float]) -> dict[str, Any] | None:
    scores = primitive_scores(m)
    if item.skill is None and item.task in scores and len(item.options) == 2:
        score, kind = scores[item.task]
        py = p_yes(score, kind)
        letter = prompts.YES_LETTER if py > 0.5 else prompts.NO_LETTER
        return {"id": item.id, "response": f"<answer>{letter}</answer>", "p_yes": py,
                "score": score}
    if item.task == "which_motion":
        from camreasoner.taxonomy import Motion, describe_motion

        best = max(scores, key=lambda k: p_yes(*scores[k]))
        want = describe_motion(Motion(() if best == "Static" else (best,)))
        for opt in item.options:
            letter, text = prompts.split_option(opt)
            if text == want:
                return {"id": item.id, "response": f"<answer>{letter}</answer>"}
        return {"id": item.id, "response": "<answer>none</answer>"}
    return None


def _estimate_clip(args: tuple[str, str]) -> tuple[str, dict | None, str | None]:
    from camreasoner.media.video import VideoError, read_frames

    key, path = args
    try:
        video = read_frames(path, SAMPLING)
    except VideoError as e:
        return key, None, str(e)
    return key, estimate_motion(video.frames), None


def run_baseline(items_path: str | os.PathLike[str], video_root: str | os.PathLike[str],
                 out: str | os.PathLike[str], workers: int = 1, progress: bool = True
                 ) -> dict[str, Any]:
    from camreasoner.media.workers import spawn_map

    items = load_items(items_path)  # ours or the seed's records
    videos = sorted({i.video for i in items})
    jobs = [(v, str(resolve_video(video_root, v))) for v in videos]
    # _estimate_clip returns a clip's decode error: the clip's items get it, the rest go on
    results = spawn_map(_estimate_clip, jobs, workers, desc="geometric baseline", unit="clip",
                        progress=progress)
    estimates: dict[str, dict | None] = {key: est for key, est, _ in results}
    errors: dict[str, str] = {key: err for key, _, err in results if err}
    skipped: Counter = Counter()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(out, "w") as f:
        for item in items:
            est = estimates.get(item.video)
            if est is None:
                f.write(json.dumps({"id": item.id, "response": None,
                                    "error": errors.get(item.video, "no estimate")}) + "\n")
                n += 1
                continue
            pred = predict_item(item, est)
            if pred is None:
                skipped[item.task] += 1
                continue
            f.write(json.dumps(pred) + "\n")
            n += 1
    with open(out.with_suffix(".motion.json"), "w") as f:
        json.dump(estimates, f)
    if skipped:
        log.warning("baseline has no answer for %d items it cannot read as a primitive or a "
                    "'which movement' question: %s", sum(skipped.values()), dict(skipped))
    return {"items": len(items), "predictions": n, "clips": len(jobs), "clip_errors": len(errors),
            "skipped": dict(skipped)}

