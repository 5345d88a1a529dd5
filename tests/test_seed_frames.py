"""The seed's 1 fps frames, reproduced without ffmpeg: ``read_frames`` with the seed's samplings must
keep exactly the frames the seed's ffmpeg commands write, and ``model_size`` must give the sizes
its resizes give.

Every clip here shows its frame index in black/white blocks (``camreasoner.dev.clips``), so each
PNG ffmpeg writes tells which source frame it is. ffmpeg is the static binary of imageio-ffmpeg
(a pinned dev dependency), run with the seed's exact arguments:

- RL (EasyR1 ``verl/utils/dataset.py``): ``ffmpeg -v error -y -i clip -vf fps=1 out/frame_%05d.png``
- evaluation (``Inference/infer/eval_bench.py``): ``ffmpeg -v error -y -i clip -r 1 out/...``

and both keep ``sorted(pngs)[:64]``.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import random
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from camreasoner.dev.clips import index_frame, read_index, write_index_clip
from camreasoner.media.video import (
    SampledVideo,
    easyr1_size,
    ffmpeg_frame_indices,
    model_size,
    read_frames,
    resize_for_model,
)
from camreasoner.vision import (
    PROCESSOR_MAX_PIXELS,
    PROCESSOR_MIN_PIXELS,
    SEED_EVAL_VISION,
    SEED_RL_VISION,
    VisionSpec,
)

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
SEED_COMMANDS = {"fps_filter": ["-vf", "fps=1"], "output_rate": ["-r", "1"]}
SEED_SPECS = {"fps_filter": SEED_RL_VISION, "output_rate": SEED_EVAL_VISION}


@dataclass(frozen=True)
class Clip:
    name: str
    pts: tuple[int, ...]
    time_base: Fraction
    rate: Fraction
    bframes: bool = True
    audio: tuple[float, float] | None = None  # (start, seconds) of a silent second stream
    suffix: str = ".mp4"


def _cfr(fps: Fraction, seconds: float, bframes: bool) -> Clip:
    n = max(1, round(seconds * fps))
    return Clip(f"{float(fps):g}fps-{seconds:g}s-{'b' if bframes else 'nob'}", tuple(range(n)),
                1 / fps, fps, bframes)


# Five rates by six lengths, three lengths a rate (every length meets two or three rates), the long
# lengths at the low rates (ffmpeg's time grows with the frame count), B-frames alternating: 15
# clips for the 60 of the full product (with and without B-frames), which all matched when this
# module was written.
GRID = [_cfr(Fraction(fps), seconds, bframes=k % 2 == 0)
        for fps, lengths in ((24, (0.4, 8.0, 10.3)), (25, (1.0, 4.99, 10.3)),
                             (Fraction(30000, 1001), (0.4, 2.5, 8.0)), (30, (1.0, 2.5, 4.99)),
                             (60, (0.4, 1.0, 2.5)))
        for k, seconds in enumerate(lengths)]

_vfr_rng = random.Random(0)
_t, _vfr = 17, []
for _ in range(90):  # gaps of 5..80 ms, one in four of 0.1..2.5 s (freezes, dropped seconds)
    _vfr.append(_t)
    _t += _vfr_rng.randint(100, 2500) if _vfr_rng.random() < 0.25 else _vfr_rng.randint(5, 80)

SPECIAL = [
    # 70 s: more than 64 output frames, so the [:64] cut matters
    Clip("70s-2fps", tuple(range(140)), Fraction(1, 2), Fraction(2)),
    # first pts not 0 (ffmpeg shifts the file to start at 0: the rounding phase must follow)
    Clip("start-0.37s-30fps", tuple(range(11, 11 + 99)), Fraction(1, 30), Fraction(30)),
    Clip("start-1.6s-25fps-nob", tuple(range(40, 40 + 82)), Fraction(1, 25), Fraction(25),
         bframes=False),
    # audio from 0, video later: the video starts after the container, and with two streams
    # ffmpeg syncs CFR (not VSCFR), repeating the first frame back to 0
    Clip("audio0-video0.7s", tuple(range(21, 21 + 75)), Fraction(1, 30), Fraction(30),
         audio=(0.0, 3.0)),
    Clip("audio0-video1.67s-nob", tuple(range(50, 50 + 75)), Fraction(1, 30), Fraction(30),
         bframes=False, audio=(0.0, 4.0)),
    # variable frame rate: irregular pts, packet durations from dts (which B-frames reorder)
    Clip("vfr-b", tuple(_vfr), Fraction(1, 1000), Fraction(30)),
    Clip("vfr-nob", tuple(_vfr), Fraction(1, 1000), Fraction(30), bframes=False),
    # a source slower than 1 fps: both commands repeat frames
    Clip("0.5fps-10s", tuple(range(5)), Fraction(2), Fraction(1, 2)),
    # Matroska: 1 ms time base, rounded timestamps
    Clip("mkv-29.97fps-3.3s", tuple(range(99)), Fraction(1001, 30000), Fraction(30000, 1001),
         suffix=".mkv"),
]
CLIPS = GRID + SPECIAL


def _seed_ffmpeg(clip: Path, method: str, out: Path) -> list[np.ndarray]:
    out.mkdir(parents=True)
    subprocess.run([FFMPEG, "-v", "error", "-y", "-i", str(clip), *SEED_COMMANDS[method],
                    str(out / "frame_%05d.png")], check=True, capture_output=True)
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(out.glob("*.png"))]


@dataclass(frozen=True)
class Cut:
    path: Path
    pngs: dict[str, list[np.ndarray]]  # every PNG each seed command wrote (not yet cut to 64)
    ours: dict[str, SampledVideo]  # read_frames with the seed spec of that command


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> dict[str, Cut]:
    """Every clip written, cut by both seed commands and read by ``read_frames``, in threads: the
    work is in ffmpeg processes and PyAV's codecs (about 0.02 s + 0.1 ms a frame a command)."""
    root = tmp_path_factory.mktemp("seed_frames")

    def make(clip: Clip) -> tuple[str, Cut]:
        path = write_index_clip(root / f"{clip.name}{clip.suffix}", clip.pts,
                                time_base=clip.time_base, rate=clip.rate, bframes=clip.bframes,
                                audio=clip.audio)
        return clip.name, Cut(path, {m: _seed_ffmpeg(path, m, root / clip.name / m)
                                     for m in SEED_COMMANDS},
                              {m: read_frames(path, SEED_SPECS[m]) for m in SEED_COMMANDS})

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return dict(pool.map(make, CLIPS))


@pytest.mark.parametrize("method", sorted(SEED_COMMANDS))
@pytest.mark.parametrize("clip", CLIPS, ids=lambda c: c.name)
def test_read_frames_keeps_the_frames_ffmpeg_writes(extracted, clip, method):
    cut = extracted[clip.name]
    seed = cut.pngs[method][:64]  # the seed's sorted(...)[:64]
    want = [read_index(p) for p in seed]
    video = cut.ours[method]
    assert list(video.indices) == want
    assert len(video.frames) == len(seed)
    # the same pictures, not only the same indices: the PNGs' RGB is PyAV's rgb24 bit for bit
    for k, (ours, theirs) in enumerate(zip(video.frames, seed)):
        assert np.array_equal(ours, theirs), f"frame {k} (source {want[k]}) differs"


def test_the_clips_reach_the_edge_cases(extracted):
    """The matrix is only evidence if it hits the cases that differ; pin that it does."""
    def written(name: str, method: str) -> list[int]:
        return [read_index(p) for p in extracted[name].pngs[method]]

    # fps filter on a clip under 0.5 s: nothing (slots 0..round(0.4)-1 are empty)
    assert written("24fps-0.4s-b", "fps_filter") == []
    assert written("24fps-0.4s-b", "output_rate") == [0, 1]
    # 30 fps, 2.5 s: ffmpeg_frame_indices' docstring example
    assert written("30fps-2.5s-nob", "fps_filter") == [14, 44, 74]
    assert written("30fps-2.5s-nob", "output_rate") == [0, 1, 26, 56]
    # 70 s: 70 PNGs, cut to 64
    assert len(written("70s-2fps", "fps_filter")) == 70
    assert len(written("70s-2fps", "output_rate")) > 64
    # a video starting 1.67 s into the file: slots 0..2 repeat its first kept frame
    assert written("audio0-video1.67s-nob", "fps_filter")[:4] == [25, 25, 25, 55]
    # VFR: a frame repeated over a freeze
    for method in SEED_COMMANDS:
        w = written("vfr-b", method)
        assert len(set(w)) < len(w)
    # B-frames change VFR packet durations (dts deltas), which -r reads: the two clips differ
    assert written("vfr-b", "output_rate") != written("vfr-nob", "output_rate")


# --- the rules on their own (no files) ---------------------------------------------------


def test_ffmpeg_frame_indices_hand_checked():
    t30 = [Fraction(i, 30) for i in range(75)]  # 30 fps, 2.5 s
    # fps filter: slot round(i / 30) (half up: frame 15 is slot 1), last frame per slot, slots
    # 0..round(2.5)-1 = 0..2
    assert ffmpeg_frame_indices(t30, 1.0, "fps_filter") == [14, 44, 74]
    # -r 1: ticks 0 and 1 take frames 0 and 1; tick n >= 2 the first frame ending after n - 1.1
    assert ffmpeg_frame_indices(t30, 1.0, "output_rate") == [0, 1, 26, 56]
    # floats work as well (the binary value of i / 30 rounds the same way here)
    assert ffmpeg_frame_indices([i / 30 for i in range(75)], 1.0, "fps_filter") == [14, 44, 74]
    short = t30[:12]  # 0.4 s
    assert ffmpeg_frame_indices(short, 1.0, "fps_filter") == []
    assert ffmpeg_frame_indices(short, 1.0, "output_rate") == [0, 1]
    # A video starting 1.7 s into its file (t_i = 1.7 + i / 30): slot round(1.7) = 2 takes the
    # last i with 1.7 + i / 30 < 2.5, i = 23; slot 3 i = 53. One stream syncs VSCFR (the output
    # starts at the first frame), two streams CFR (slots 0 and 1 repeat the first kept frame).
    late = [Fraction(17, 10) + Fraction(i, 30) for i in range(90)]
    assert ffmpeg_frame_indices(late, 1.0, "fps_filter") == [23, 53, 83]
    assert ffmpeg_frame_indices(late, 1.0, "fps_filter", single_stream=False) == \
        [23, 23, 23, 53, 83]
    # -r 1, CFR: frame 0 has delta0 = 1.7 > 1.1, so it is written llrint(1.7 + 1/30) = 2 times
    # (its llrint(1.7 - 0.6) = 1 "previous frame" copy falls back to itself: there is none).
    assert ffmpeg_frame_indices(late, 1.0, "output_rate", single_stream=False)[:3] == [0, 0, 1]
    # VSCFR: the clock jumps to llrint(1.7) = 2 instead; frame 1 (delta = 1.73 + 0.03 - 3) and
    # frames up to 4 are over 1.1 behind, frame 5 ends at 1.9 > 3 - 1.1.
    assert ffmpeg_frame_indices(late, 1.0, "output_rate") == [0, 5, 35, 65]
    # A 3 s freeze (frame 1 lasts 3 s): at tick 1 its delta0 = 0.1 - 1 < 0 < delta = 2.1, so it
    # is clipped to start now and written llrint(2.1) = 2 times; frame 2 (3.1 s) then meets tick 3
    # (delta = 0.2: once), frame 3 tick 4 (delta = -0.7: once).
    frozen = [Fraction(0), Fraction(1, 10), Fraction(31, 10), Fraction(32, 10)]
    lengths = [0.1, 3.0, 0.1, 0.1]
    assert ffmpeg_frame_indices(frozen, 1.0, "output_rate", durations=lengths) == [0, 1, 1, 2, 3]
    # the fps filter: slots round(t) = 0, 0, 3, 3 and the end round(3.3) = 3: slot 0 frame 1,
    # slots 1 and 2 still frame 1 (no later frame reaches them), slot 3 is the end.
    assert ffmpeg_frame_indices(frozen, 1.0, "fps_filter", durations=lengths) == [1, 1, 1]
    # durations are the packets'; missing ones are the gap since the previous frame
    assert ffmpeg_frame_indices(t30, 1.0, "fps_filter", durations=[None] * 75) == [14, 44, 74]
    with pytest.raises(ValueError, match="display order"):
        ffmpeg_frame_indices([Fraction(1), Fraction(0)], 1.0, "fps_filter")
    with pytest.raises(ValueError, match="method"):
        ffmpeg_frame_indices(t30, 1.0, "fps")  # type: ignore[arg-type]


def test_limit_is_a_prefix_of_the_full_answer():
    rng = random.Random(1)
    for trial in range(12):
        t, times = Fraction(rng.randint(0, 900), 1000), []
        for _ in range(rng.randint(1, 120)):
            times.append(t)
            t += Fraction(rng.choice([rng.randint(5, 80), rng.randint(5, 80), rng.randint(90, 2600)]),
                          1000)
        for method in SEED_COMMANDS:
            for single in (True, False):
                full = ffmpeg_frame_indices(times, 1.0, method, single_stream=single)
                for limit in (0, 1, 5, 64):
                    assert ffmpeg_frame_indices(times, 1.0, method, single_stream=single,
                                                limit=limit) == full[:limit], (trial, method)


# --- sizes -----------------------------------------------------------------------------


def test_easyr1_size_hand_checked():
    # 1920x1080 over max 1,048,576: factor sqrt(1048576 / 2073600) = 1024/1440; 1920 * 0.7111 =
    # 1365.33 -> 1365, 1080 * 0.7111 = 768.0 exactly (in floats too) -> 768.
    assert easyr1_size(1080, 1920, 3136, 1_048_576) == (768, 1365)
    # A tiny frame scaled up: 30x20 is 600 px < 3,136: factor sqrt(3136 / 600) = 2.2862;
    # 30 * 2.2862 = 68.59 -> 68, 20 * 2.2862 = 45.72 -> 45 (3,060 px: int() leaves it under).
    assert easyr1_size(20, 30, 3136, 1_048_576) == (45, 68)
    # Within bounds: untouched, and no multiple of 28 is imposed.
    assert easyr1_size(48, 64, 784, 4096) == (48, 64)
    assert easyr1_size(100, 100, None, None) == (100, 100)


def test_model_size_both_resizes_hand_checked():
    # "easyr1" (seed RL): 1080x1920 -> 768x1365 -> the processor's smart_resize at 3,136 ..
    # 12,845,056 px: round(768 / 28) = round(27.43) = 27 -> 756, round(1365 / 28) = round(48.75)
    # = 49 -> 1372; 756 * 1372 = 1,037,232 px, 27 * 49 = 1,323 tokens.
    assert model_size(1080, 1920, SEED_RL_VISION) == (756, 1372)
    # "smart" (seed eval, qwen-vl-utils fetch_image at max 1,048,576): rounded 1092x1932 is over,
    # beta = sqrt(2073600 / 1048576) = 1.40625: floor(768 / 28) = 27 -> 756, floor(1365.33 / 28)
    # = 48 -> 1344; 27 * 48 = 1,296 tokens.
    assert model_size(1080, 1920, SEED_EVAL_VISION) == (756, 1344)
    # 20x30: easyr1 45x68 -> round to 56x56 (= 3,136, not under the minimum); smart: rounded
    # 28x28 is under, beta = sqrt(3136 / 600) = 2.286: ceil(45.7 / 28) = 2, ceil(68.6 / 28) = 3.
    assert model_size(20, 30, SEED_RL_VISION) == (56, 56)
    assert model_size(20, 30, SEED_EVAL_VISION) == (56, 84)
    # 10x600: the processor rounds 10 px to 0 (no clamp to 28), so the area is "under" and it
    # scales up: beta = sqrt(3136 / 6000) = 0.7230, ceil(7.23 / 28) = 1, ceil(433.8 / 28) = 16;
    # qwen-vl-utils clamps 0 to 28 first and keeps 28x588 (= round(600 / 28) * 28).
    assert model_size(10, 600, SEED_RL_VISION) == (28, 448)
    assert model_size(10, 600, SEED_EVAL_VISION) == (28, 588)


def test_resize_for_model_easyr1(tmp_path):
    frames = np.stack([index_frame(i, width=64, height=48) for i in range(3)])
    small = SEED_RL_VISION.with_overrides(min_pixels=784, max_pixels=2048)
    # 64x48 = 3,072 px > 2,048: factor sqrt(2048 / 3072) = 0.8165 -> 52x39 (int(52.26),
    # int(39.19)); processor: rounds to 28x56 = 1,568 < 3,136, so beta = sqrt(3136 / 2028) =
    # 1.2435: ceil(48.5 / 28) * 28 = 56, ceil(64.7 / 28) * 28 = 84.
    assert easyr1_size(48, 64, 784, 2048) == (39, 52)
    assert model_size(48, 64, small) == (56, 84)
    out = resize_for_model(frames, small)
    assert out.shape == (3, 56, 84, 3) and out.dtype == np.uint8
    # the indices survive both resizes (the cells scale with the frame)
    assert [_index_after_resize(f) for f in out] == [0, 1, 2]
    assert resize_for_model(frames[:0], small).shape == (0, 56, 84, 3)


def _index_after_resize(frame: np.ndarray) -> int:
    # back to 64x48 (nearest) so that read_index's 16 px cells line up again
    return read_index(np.asarray(Image.fromarray(frame).resize((64, 48), Image.Resampling.NEAREST)))


def _installed_function(dist: str, relpath: str, name: str) -> Callable[..., tuple[int, int]]:
    """``name`` from an installed package's source file, executed without importing the package
    (qwen_vl_utils and transformers import torch: 8 to 13 s). Takes the file's imports of math
    and typing, its constants and its functions."""
    spec = importlib.util.find_spec(dist)
    assert spec is not None and spec.origin, f"{dist} is not installed"
    source = Path(spec.origin).parent / relpath
    tree = ast.parse(source.read_text())
    keep = [node for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.Assign | ast.AnnAssign)
            or (isinstance(node, ast.Import) and [a.name for a in node.names] == ["math"])
            or (isinstance(node, ast.ImportFrom) and node.module == "typing")]
    namespace: dict[str, object] = {}
    for node in keep:
        try:  # runs the installed package's own source: that is the point of the comparison
            exec(compile(ast.Module([node], []), str(source), "exec"), namespace)  # noqa: S102
        except (NameError, ImportError, AttributeError, TypeError):
            continue  # a constant built from something not loaded here; smart_resize needs none
    return namespace[name]  # type: ignore[return-value]


SHAPES = sorted({(h, w) for h in (10, 14, 28, 30, 48, 100, 240, 360, 480, 720, 1080, 1440, 2160)
                 for w in (10, 20, 56, 64, 101, 320, 640, 1280, 1920, 3840, 5000)
                 if max(h, w) / min(h, w) < 200})
BOUNDS = [(3136, 1_048_576), (784, 12_544), (16 * 784, 144 * 784), (256, 16_384)]


def test_smart_size_matches_qwen_vl_utils():
    qwen = _installed_function("qwen_vl_utils", "vision_process.py", "smart_resize")
    for lo, hi in BOUNDS:
        spec = VisionSpec(min_pixels=lo, max_pixels=hi)
        for h, w in SHAPES:
            # qwen-vl-utils floors a side to 0 at extreme shapes (then fails later); ours keeps 28
            want = tuple(max(28, s) for s in qwen(h, w, factor=28, min_pixels=lo, max_pixels=hi))
            assert model_size(h, w, spec) == want, (h, w, lo, hi)


def test_easyr1_size_then_processor_matches_transformers():
    processor_resize = _installed_function(
        "transformers", "models/qwen2_vl/image_processing_qwen2_vl.py", "smart_resize")
    for lo, hi in BOUNDS:
        spec = SEED_RL_VISION.with_overrides(min_pixels=lo, max_pixels=hi)
        for h, w in SHAPES:
            eh, ew = easyr1_size(h, w, lo, hi)
            want = processor_resize(eh, ew, factor=28, min_pixels=PROCESSOR_MIN_PIXELS,
                                    max_pixels=PROCESSOR_MAX_PIXELS)
            assert model_size(h, w, spec) == want, (h, w, lo, hi)
    # and the processor bounds are the checkpoint's: 56 * 56 and 28 * 28 * 16384
    assert (PROCESSOR_MIN_PIXELS, PROCESSOR_MAX_PIXELS) == (56 * 56, 28 * 28 * 16384)
