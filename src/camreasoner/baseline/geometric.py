"""``camreasoner baseline geometric``: a classical camera-motion estimator, the SfM-style reference
row of our tables. No learning; runs on the CPU on synthetic or real CameraBench clips.

Per clip (frames sampled at up to 8 fps, downscaled to at most 320 px wide):
1. Track corners between consecutive frames (Shi-Tomasi + pyramidal Lucas-Kanade), keeping a
   track only when tracking it back lands within a pixel of where it started.
2. Split the tracks into motion layers: a homography fit with RANSAC, then another on the tracks
   it left, up to three. The *background* is the layer spread over the most of the frame (cells
   of a 6x6 grid), not the one with the most tracks: a fixed camera's background stands still
   while a subject in front of it, however large, moves, so the median flow of all tracks would
   read the subject as camera motion.
3. A pair of frames that shares almost no tracks is a cut (a new shot): it adds no motion.
4. Per pair: the shift from the background layer (median flow, image widths; +x right, +y
   down); scale and rotation from a similarity fit to all tracks with RANSAC. ``parallax``: the homography residual of the tracks
   that move the way the background does, over the median flow length -- a camera that only
   rotates or zooms moves every point by one homography, translation through a scene with depth
   leaves residual parallax. Tracks moving another way (a subject) are left out of it.
5. Accumulate over the clip: ``shift_x``/``shift_y``, ``log_scale`` (expansion),
   ``rotation_deg`` (clockwise on screen positive), ``jitter`` (frame-to-frame changes of the
   shift that a smooth path does not have), ``cuts``.
6. Score each CameraBench primitive, e.g. Pan_Left = shift_x * (1 - p), Move_Left = shift_x * p
   with p the parallax weight (a pan moves the scene right with no parallax, a truck left with
   it); Zoom_In = log_scale * (1 - p), Move_In = log_scale * p; Roll_Clockwise = -rotation
   (the picture turns the other way); Static = -(motion per second + jitter). ``p_yes`` is a
   logistic of the score and the hard answer is Yes above the primitive's threshold.

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
THRESHOLDS = {"shift": 0.04, "scale": 0.05, "roll": 0.4, "static": -0.025}
WIDTHS = {"shift": 0.02, "scale": 0.02, "roll": 0.2, "static": 0.008}


GRID = 6  # the background's spatial extent is counted in cells of a GRID x GRID partition
MAX_LAYERS = 3
MIN_TRACKS = 8
FB_ERROR_PX = 1.0  # forward-backward tracking error above which a track is dropped
CUT_SHARE = 0.2  # a pair whose background layer holds under 20% of the corners is a cut


def _tracks(prev: np.ndarray, nxt: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Corners of ``prev``, where they are in ``nxt``, and how many corners were found; only
    tracks that come back to their start (within FB_ERROR_PX) are kept."""
    import cv2

    pts = cv2.goodFeaturesToTrack(prev, maxCorners=400, qualityLevel=0.01, minDistance=6)
    if pts is None:
        return np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32), 0
    lk = {"winSize": (21, 21), "maxLevel": 3}
    moved, st1, _ = cv2.calcOpticalFlowPyrLK(prev, nxt, pts, None, **lk)
    back, st2, _ = cv2.calcOpticalFlowPyrLK(nxt, prev, moved, None, **lk)
    fb = np.linalg.norm((back - pts).reshape(-1, 2), axis=1)
    ok = (st1.ravel() == 1) & (st2.ravel() == 1) & (fb < FB_ERROR_PX)
    return pts[ok].reshape(-1, 2), moved[ok].reshape(-1, 2), len(pts)


def _layers(p0: np.ndarray, p1: np.ndarray, threshold_px: float) -> list[np.ndarray]:
    """Index arrays of up to MAX_LAYERS motion layers: the RANSAC homography inliers, then the
    inliers of a homography fit to the tracks left over, and so on."""
    import cv2

    left = np.arange(len(p0))
    layers = []
    while len(layers) < MAX_LAYERS and len(left) >= MIN_TRACKS:
        hmat, mask = cv2.findHomography(p0[left], p1[left], cv2.RANSAC, threshold_px)
        if hmat is None:
            break
        inliers = left[mask.ravel() == 1]
        if len(inliers) < MIN_TRACKS:
            break
        layers.append(inliers)
        left = left[mask.ravel() == 0]
    return layers


def _extent(points: np.ndarray, size: tuple[int, int]) -> int:
    """How many cells of a GRID x GRID partition of the frame hold at least one of the points."""
    cx = np.clip((points[:, 0] * GRID / size[0]).astype(int), 0, GRID - 1)
    cy = np.clip((points[:, 1] * GRID / size[1]).astype(int), 0, GRID - 1)
    return len(set(zip(cx.tolist(), cy.tolist())))


def _pair_motion(prev: np.ndarray, nxt: np.ndarray, size: tuple[int, int]
                 ) -> dict[str, float] | None:
    """The background's motion between two frames, or None for a cut."""
    import cv2

    p0, p1, found = _tracks(prev, nxt)
    layers = _layers(p0, p1, threshold_px=1.0)
    if not layers:
        return None
    bg = max(layers, key=lambda idx: (_extent(p0[idx], size), len(idx)))
    if len(bg) < CUT_SHARE * found:
        return None
    b0, b1 = p0[bg], p1[bg]
    flow = b1 - b0
    shift = np.median(flow, axis=0) / size[0]
    c = np.array([size[0] / 2, size[1] / 2], np.float32)
    # Scale and rotation from every track (RANSAC): on a truck the background layer can be one
    # depth band, and a similarity fit to one band reads its perspective as roll (4-5 degrees on
    # synthetic Move_Right clips; Roll AP with the hard answer fell from 92 to 74).
    m, _ = cv2.estimateAffinePartial2D(p0 - c, p1 - c, method=cv2.RANSAC,
                                       ransacReprojThreshold=1.0)
    log_scale = rotation = 0.0
    if m is not None:
        log_scale = math.log(max(1e-6, math.hypot(m[0, 0], m[1, 0])))
        rotation = math.degrees(math.atan2(m[1, 0], m[0, 0]))
    out = {"shift_x": float(shift[0]), "shift_y": float(shift[1]), "log_scale": log_scale,
           "rotation_deg": rotation, "parallax": None, "weight": 0.0}
    mag = float(np.median(np.linalg.norm(flow, axis=1)))
    if mag > 0.3:
        hmat, _ = cv2.findHomography(b0, b1, 0)  # least squares on the background layer
        if hmat is not None:
            pred = cv2.perspectiveTransform(p0.reshape(-1, 1, 2), hmat).reshape(-1, 2) - p0
            f = p1 - p0
            pn, fn = np.linalg.norm(pred, axis=1), np.linalg.norm(f, axis=1)
            cos = (pred * f).sum(1) / np.maximum(pn * fn, 1e-6)
            # Tracks moving the way the background's homography says, faster or slower: depth.
            along = (pn > 0.3) & (cos > 0.5)
            along[bg] = True
            resid = np.linalg.norm(f[along] - pred[along], axis=1)
            out["parallax"] = float(np.percentile(resid, 75)) / mag
            out["weight"] = mag
    return out


def estimate_motion(frames: np.ndarray, fps: float = SAMPLING.fps) -> dict[str, float]:
    """Clip-level motion statistics from RGB frames (T, H, W, 3) sampled at ``fps``."""
    import cv2

    h, w = frames.shape[1:3]
    scale = min(1.0, MAX_WIDTH / w)
    size = (max(16, round(w * scale)), max(16, round(h * scale)))
    grays = [cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
             for f in frames]
    pairs = [_pair_motion(a, b, size) for a, b in itertools.pairwise(grays)]
    kept = [p for p in pairs if p is not None]
    sx = np.array([p["shift_x"] for p in kept])
    sy = np.array([p["shift_y"] for p in kept])
    jitter = float(np.sqrt(np.mean(np.diff(sx) ** 2 + np.diff(sy) ** 2))) if len(sx) > 2 else 0.0
    weighted = [(p["parallax"], p["weight"]) for p in kept if p["parallax"] is not None]
    parallax = float(np.average([a for a, _ in weighted], weights=[b for _, b in weighted])) \
        if weighted else 0.0
    return {"shift_x": float(sx.sum()), "shift_y": float(sy.sum()),
            "log_scale": float(sum(p["log_scale"] for p in kept)),
            "rotation_deg": float(sum(p["rotation_deg"] for p in kept)),
            "parallax": parallax, "jitter": jitter, "pairs": len(pairs),
            "cuts": len(pairs) - len(kept), "seconds": len(kept) / fps}


def parallax_weight(parallax: float) -> float:
    """0 for a homography-consistent (rotation/zoom) flow, toward 1 with growing parallax."""
    return float(1.0 - math.exp(-parallax / 0.25))


def primitive_scores(m: dict[str, float]) -> dict[str, tuple[float, str]]:
    """Primitive -> (score, threshold kind). Higher score = more evidence for Yes."""
    p = parallax_weight(m["parallax"])
    sx, sy, ls, rot = m["shift_x"], m["shift_y"], m["log_scale"], m["rotation_deg"]
    # Static is judged on speed (widths per second), the others on the total over the clip: a
    # fixed camera's footage drifts a little (bigbuckbunny.mp4: 0.07 widths in its 5 s, 0.014
    # per second) as much as a slow synthetic pan moves in its 2 s (0.064, 0.035 per second).
    seconds = max(m.get("seconds", 0.0), 1e-3)
    speed = (abs(sx) + abs(sy) + abs(ls) + abs(rot) / 10.0) / seconds + 3.0 * m["jitter"]
    return {
        "Pan_Left": (sx * (1 - p), "shift"), "Pan_Right": (-sx * (1 - p), "shift"),
        "Move_Left": (sx * p, "shift"), "Move_Right": (-sx * p, "shift"),
        "Tilt_Up": (sy * (1 - p), "shift"), "Tilt_Down": (-sy * (1 - p), "shift"),
        "Move_Up": (sy * p, "shift"), "Move_Down": (-sy * p, "shift"),
        "Zoom_In": (ls * (1 - p), "scale"), "Zoom_Out": (-ls * (1 - p), "scale"),
        "Move_In": (ls * p, "scale"), "Move_Out": (-ls * p, "scale"),
        # Roll clockwise turns the picture counterclockwise (negative on screen).
        "Roll_Clockwise": (-rot / 10.0, "roll"), "Roll_Counterclockwise": (rot / 10.0, "roll"),
        "Static": (-speed, "static"),
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
    return key, estimate_motion(video.frames, video.sampled_fps), None


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

