"""Reading videos: probing and frame sampling with PyAV, following :mod:`camreasoner.vision`.

Frame sampling and resizing follow qwen-vl-utils (``smart_nframes``, ``smart_resize``), which is
how verl reads RL videos, so evaluation sees the frames RL trained on:
``n = floor_even(clamp(total / native_fps * fps, MIN_FRAMES, max_frames, total))``, indices
``round(linspace(0, total - 1, n))``; frames resized (bicubic, antialiased) to the multiple of 28
nearest the source size within ``[min_pixels, max_pixels]``.

The seed's own pipelines (``spec.sampling`` ``ffmpeg_fps_filter`` / ``ffmpeg_output_rate``) cut
clips into 1 fps PNGs with the ffmpeg command line instead; :func:`ffmpeg_frame_indices` computes
which frames those commands write, from the frames' timestamps alone, so no ffmpeg is needed here.
``spec.resize == "easyr1"`` sizes frames as the seed's RL does (:func:`easyr1_size`).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import numpy as np

from camreasoner.vision import PROCESSOR_MAX_PIXELS, PROCESSOR_MIN_PIXELS, VisionSpec


class VideoError(RuntimeError):
    """A video that is missing, empty or cannot be decoded; the message names the file."""


@dataclass(frozen=True)
class VideoInfo:
    path: str
    frames: int  # counted from demuxed packets, not the container's estimate
    duration: float  # seconds
    fps: float
    width: int
    height: int


def _existing_file(path: str | os.PathLike[str]) -> str:
    """``path`` as a string, or :class:`VideoError` when it is missing or empty."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise VideoError(f"{path}: file not found")
    if os.path.getsize(path) == 0:
        raise VideoError(f"{path}: file is empty")
    return path


def probe(path: str | os.PathLike[str], decode_all: bool = False) -> VideoInfo:
    """Count frames and read size and duration; decode the first frame (or all, if asked) to
    prove the stream decodes. Raises :class:`VideoError` with the reason."""
    import av

    path = _existing_file(path)
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise VideoError(f"{path}: no video stream")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            rate = stream.average_rate or stream.guessed_rate
            fps = float(rate) if rate else 0.0
            time_base, stream_duration = stream.time_base, stream.duration
            # Demuxing counts frames without decoding them (the empty packet is the flush).
            frames = sum(1 for packet in container.demux(stream) if packet.size)
        if frames == 0:
            raise VideoError(f"{path}: video stream has no frames")
        with av.open(path) as container:
            decoded = container.decode(video=0)
            n_decoded = sum(1 for _ in decoded) if decode_all else int(next(decoded, None) is not None)
        if n_decoded == 0:
            raise VideoError(f"{path}: no frame decodes")
        if decode_all and n_decoded < frames:
            raise VideoError(f"{path}: only {n_decoded} of {frames} frames decode")
    except VideoError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise VideoError(f"{path}: cannot decode ({type(e).__name__}: {e})") from None
    if stream_duration is not None and time_base:
        duration = float(stream_duration * time_base)
    else:
        duration = frames / fps if fps else 0.0
    if fps == 0.0 and duration > 0:
        fps = frames / duration
    return VideoInfo(path, frames, duration, fps, width, height)


MIN_FRAMES = 4  # qwen-vl-utils' FPS_MIN_FRAMES
FRAME_FACTOR = 2  # Qwen merges frame pairs
SIZE_FACTOR = 28  # 14 px patches merged 2x2


def sample_indices(total_frames: int, native_fps: float, spec: VisionSpec) -> list[int]:
    """Which frames to keep, by qwen-vl-utils' ``smart_nframes`` rule (see module docstring).
    A clip shorter than two frames repeats its frame to make one temporal patch."""
    if total_frames < 1:
        raise ValueError("a clip needs at least one frame")
    if total_frames < FRAME_FACTOR:
        return [0] * FRAME_FACTOR
    fps = native_fps if native_fps > 0 else spec.fps
    n = total_frames / fps * spec.fps
    max_frames = spec.max_frames - spec.max_frames % FRAME_FACTOR
    n = min(max(n, MIN_FRAMES), max_frames, total_frames)
    n = int(n) - int(n) % FRAME_FACTOR
    return [int(x) for x in np.round(np.linspace(0, total_frames - 1, n))]


FfmpegMethod = Literal["fps_filter", "output_rate"]
# -r and the fps filter take rates through av_d2q / av_parse_video_rate: 1001000 covers NTSC
# rates given as decimals (29.97 -> 2997/100) and is exact for the seed's 1.
_RATE_DENOMINATOR = 1_001_000
_DUP_LIMIT = 3600 * 30  # ffmpeg's dts_error_threshold * 30: larger duplications are skipped


def _round_near_inf(x: Fraction) -> int:
    """``AV_ROUND_NEAR_INF``: to the nearest integer, halves away from zero."""
    n = math.floor(abs(x) + Fraction(1, 2))
    return n if x >= 0 else -n


def _llrintf(x: float) -> int:
    """C's ``llrintf``: through a 32-bit float, halves to even (the default rounding mode)."""
    return int(np.rint(np.float32(x)))


def _fps_filter(times: Sequence[Fraction], end: Fraction, rate: Fraction,
                limit: int | None) -> list[int]:
    """libavfilter's ``vf_fps`` with its defaults (round=near, eof_action=round, no start_time):
    the source frame of each output slot, slots numbered from the first frame's rounded time.
    ``end``: the EOF time the decoder reports, rounded like the frames. Stops after ``limit``
    outputs (an output never depends on frames after the one that closes its slot)."""
    eof = _round_near_inf(end * rate)
    out: list[int] = []
    buf: list[tuple[int, int]] = []  # (frame, slot): the filter holds at most two frames
    next_slot = None
    i, n = 0, len(times)
    while (buf or i < n) and (limit is None or len(out) < limit):
        if i < n and len(buf) < 2:
            buf.append((i, _round_near_inf(times[i] * rate)))
            i += 1
            continue
        # The filter takes the EOF status only once it holds fewer than two frames.
        at_eof = i == n and len(buf) < 2
        if next_slot is None:
            next_slot = buf[0][1]
        if (len(buf) == 2 and buf[1][1] <= next_slot) or (at_eof and eof <= next_slot):
            buf.pop(0)  # a later frame (or the end) owns this slot: drop the older frame
        else:
            out.append(buf[0][0])  # a copy for this slot; the frame stays for the next one
            next_slot += 1
    return out


def _cfr_sync(times: Sequence[Fraction], durations: Sequence[Fraction], rate: Fraction,
              vscfr: bool, limit: int | None) -> list[int]:
    """fftools' ``video_sync_process`` in CFR / VSCFR mode (``ffmpeg_filter.c``): how many times
    each frame reaching the encoder is written, from its drift against the output clock. Stops
    after ``limit`` outputs."""
    tb_den = rate.numerator  # output time base 1/rate: its denominator is rate's numerator
    extra_bits = min(max(29 - (tb_den.bit_length() - 1), 0), 16)
    out: list[int] = []
    next_pts = 0
    hist = [0, 0, 0]  # nb_frames_prev of the last three frames, for the EOF flush
    prev: int | None = None
    for i, (t, d) in enumerate(zip(times, durations)):
        if limit is not None and len(out) >= limit:
            return out[:limit]
        # adjust_frame_pts_to_encoder_tb: the pts in output ticks at 2^-extra_bits precision,
        # nudged 2^-17 away from zero when not whole (ffmpeg avoids exact midpoints so).
        sync = _round_near_inf(t * rate * 2 ** extra_bits) / 2 ** extra_bits
        if sync != math.floor(sync):
            sync += math.copysign(2.0 ** -17, sync)
        duration = float(d * rate)
        delta0 = sync - next_pts  # drift of this frame's start against the output clock
        delta = delta0 + duration  # ... and of its end
        if delta0 < 0 < delta:  # starts in the past: clip it to start now
            sync, duration, delta0 = float(next_pts), duration + delta0, 0.0
        if vscfr and not out and delta0 >= 0.5:
            # VSCFR: a late first frame starts the output instead of being duplicated back to 0
            delta, delta0, next_pts = duration, 0.0, int(np.rint(sync))
        nb, nb_prev = 1, 0
        if delta < -1.1:
            nb = 0  # more than 1.1 ticks behind: dropped
        elif delta > 1.1:
            nb = _llrintf(delta)  # spans several ticks: duplicated
            if delta0 > 1.1:
                nb_prev = _llrintf(delta0 - 0.6)  # a gap before it: repeat the previous frame
        hist = [nb_prev, *hist[:2]]
        if nb <= _DUP_LIMIT:
            for k in range(nb):
                out.append(prev if k < nb_prev and prev is not None else i)
                next_pts += 1
        prev = i
    if prev is not None:
        out += [prev] * sorted(hist)[1]  # EOF: the last frame, mid_pred(history) more times
    return out if limit is None else out[:limit]


def ffmpeg_frame_indices(times: Sequence[float | Fraction], fps: float, method: FfmpegMethod, *,
                         durations: Sequence[float | Fraction | None] | None = None,
                         frame_rate: float | Fraction | None = None,
                         single_stream: bool = True, limit: int | None = None) -> list[int]:
    """Which frames ``ffmpeg -i clip <opts> out/frame_%05d.png`` writes, in order, as indices into
    the clip's display-ordered frames (repeated where ffmpeg writes a frame more than once).

    ``times``: each frame's presentation time in seconds, ascending, on ffmpeg's timeline: its
    ``pts * time_base`` minus the *container's* start time (ffmpeg shifts every input so that its
    earliest stream starts at 0; a video stream that starts after an audio one starts after 0).
    Fractions are used exactly; floats as the binary values they are.
    ``durations``: each frame's duration in seconds: its packet's, which ffmpeg's decoder passes
    on (in MP4 the gap to the next sample in *decode* order). Where one is missing (None or
    <= 0), ffmpeg times the frame by ``1 / frame_rate`` (``frame_rate``: the stream's nominal
    rate, ``av_guess_frame_rate``: PyAV's ``stream.guessed_rate``; by default the mean rate of
    ``times``) and ends the stream, for the fps filter, at the last frame plus the gap before it.
    ``single_stream``: the file has one stream only; ffmpeg then syncs in VSCFR mode rather than
    CFR (the two differ only when the first frame starts >= 0.5 output ticks after 0).
    ``limit``: only the first ``limit`` written frames (the same as cutting the full answer; the
    seed keeps 64), computed without walking the rest of the clip.

    Rules, read from ffmpeg's source (``libavfilter/vf_fps.c``; ``fftools/ffmpeg_filter.c``,
    ``video_sync_process``; ``ffmpeg_dec.c``) and checked against ffmpeg 9.0 as bundled by
    imageio-ffmpeg 0.8.1 (``tests/test_seed_frames.py``). ffmpeg 4.2 agrees on every clip tried
    except ``-r`` on variable-frame-rate ones, where it times frames by the nominal frame rate
    rather than by their packet durations (the 6.1 source already uses the durations). With
    ``r = fps`` and ``round`` = nearest, halves away from zero:

    ``"fps_filter"`` (``-vf fps=r``, the seed's RL): frame ``i`` gets slot ``s_i = round(t_i * r)``;
    slots run from ``s_0`` up to but excluding ``E = round((t_last + d_last) * r)``, and slot
    ``n`` takes the *last* frame with ``s_i <= n`` (a frame is dropped as soon as the next one
    also qualifies; a frame is repeated over slots no later frame reaches). 30 fps, 2.5 s (75
    frames, ``t_i = i / 30``): frames 0..14 round to slot 0 (14/30 = 0.47; 15/30 = 0.5 rounds
    up), 15..44 to 1, 45..74 to 2; ``E = round(2.5) = 3``: frames [14, 44, 74]. A clip under
    0.5 s writes nothing (``E = 0 = s_0``). The filter's output then passes the same CFR sync as
    below, which only matters when ``s_0 > 0`` in a multi-stream file: slots from 0 to ``s_0``
    repeat the first output frame (CFR), or not (VSCFR, one stream).

    ``"output_rate"`` (``-r r`` as an output option, the seed's evaluation): no filter; each
    frame ``(t, d)`` meets the output clock ``next`` (0 at the start, +1 per written frame) in
    ticks of ``1/r``: ``delta0 = t*r - next``, ``delta = delta0 + d*r``; if ``delta0 < 0 <
    delta`` the frame is clipped to start now (``delta0 = 0``, ``delta`` kept). It is written
    ``0`` times if ``delta < -1.1``, ``llrint(delta)`` times if ``delta > 1.1`` (of which
    ``llrint(delta0 - 0.6)`` copies of the *previous* frame when ``delta0 > 1.1``), else once; at
    the end the last frame is written ``median`` (of the last three previous-frame repeat counts)
    more times. In VSCFR (one stream) a first frame with ``delta0 >= 0.5`` moves the clock to
    ``llrint(t*r)`` instead of being repeated from tick 0. 30 fps, 2.5 s: frame 0 (``delta = 0.03``) -> tick 0; frame 1 (``delta0 = 1/30 -
    1``, ``delta = -0.93``) -> tick 1; frames 2..25 are more than 1.1 behind; frame 26 (``delta =
    27/30 - 2 = -1.1`` plus ffmpeg's 2^-17 nudge) -> tick 2; frame 56 -> tick 3: [0, 1, 26, 56].
    So ``-r 1`` keeps the first two frames and then, for tick ``n >= 2``, the first frame ending
    after ``n - 1.1`` s: about 0.1 s before the tick rather than nearest to it.
    """
    if method not in ("fps_filter", "output_rate"):
        raise ValueError(f"method must be 'fps_filter' or 'output_rate', got {method!r}")
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    n = len(times)
    if n == 0:
        return []
    ts = [t if isinstance(t, Fraction) else Fraction(t) for t in times]
    if any(b < a for a, b in itertools.pairwise(ts)):
        raise ValueError("times must be in display order (non-decreasing)")
    rate = Fraction(fps).limit_denominator(_RATE_DENOMINATOR)
    given = list(durations) if durations is not None else [None] * n
    if len(given) != n:
        raise ValueError(f"{len(given)} durations for {n} frames")
    if frame_rate is not None and frame_rate > 0:
        nominal = 1 / Fraction(frame_rate).limit_denominator(_RATE_DENOMINATOR)
    elif n > 1 and ts[-1] > ts[0]:
        nominal = (ts[-1] - ts[0]) / (n - 1)
    else:
        nominal = 1 / rate
    known = [None if d is None or d <= 0 else d if isinstance(d, Fraction) else Fraction(d)
             for d in given]
    # fg_output_step (ffmpeg_filter.c): a frame without a duration lasts one nominal frame
    ds = [nominal if d is None else d for d in known]
    # ffmpeg_dec.c's EOF time: the last frame's end, by video_duration_estimate when unknown
    last = known[-1]
    if last is None:
        last = ts[-1] - ts[-2] if n > 1 and ts[-1] > ts[-2] else nominal
    end = ts[-1] + last
    if method == "output_rate":
        return _cfr_sync(ts, ds, rate, single_stream, limit)
    kept = _fps_filter(ts, end, rate, limit)
    if not kept:
        return []
    # The filter's frames sit on consecutive ticks from round(t_0 * r), one tick long each.
    first = _round_near_inf(ts[0] * rate)
    slots = [Fraction(first + k) / rate for k in range(len(kept))]
    order = _cfr_sync(slots, [1 / rate] * len(kept), rate, single_stream, limit)
    return [kept[k] for k in order]


def _smart_resize(height: int, width: int, min_pixels: int, max_pixels: int, *,
                  clamp_rounded: bool = True) -> tuple[int, int]:
    """``smart_resize`` at factor 28. ``clamp_rounded``: qwen-vl-utils raises the rounded sides to
    at least 28 (``max(factor, round_by_factor(...))``); transformers' Qwen2-VL image processor
    does not (a side under 14 px rounds to 0, and the area test then takes the min_pixels
    branch). A floored side is kept >= 28, as transformers does (qwen-vl-utils would return 0,
    which only an aspect ratio near its limit of 200 with a small max_pixels reaches)."""
    f = SIZE_FACTOR
    h_bar, w_bar = round(height / f) * f, round(width / f) * f
    if clamp_rounded:
        h_bar, w_bar = max(f, h_bar), max(f, w_bar)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(f, math.floor(height / beta / f) * f)
        w_bar = max(f, math.floor(width / beta / f) * f)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / f) * f
        w_bar = math.ceil(width * beta / f) * f
    return h_bar, w_bar


def easyr1_size(height: int, width: int, min_pixels: int | None,
                max_pixels: int | None) -> tuple[int, int]:
    """The size EasyR1's ``process_image`` (``verl/utils/dataset.py``) gives a frame, before the
    processor's own resize: scaled down by ``sqrt(max_pixels / area)`` when over max_pixels, then
    up by ``sqrt(min_pixels / area)`` when under min_pixels, each side truncated by ``int()``.

    1920x1080 at max 1,048,576: factor ``sqrt(1048576 / 2073600)`` = 1024/1440 = 0.7111...;
    ``int(1920 * 0.7111) = int(1365.33) = 1365`` and ``1080 * 0.7111 = 768.0`` (exactly, in floating
    point too), so (768, 1365): 1,048,320 px. 30x20 at min 3,136: factor ``sqrt(3136 / 600) =
    2.286``, ``int(68.59) = 68``, ``int(45.73) = 45``: (45, 68), 3,060 px, under min_pixels: the
    truncation can leave the area just past a bound, and sides are not multiples of 28 here.
    """
    # Same expressions, in the same order, as process_image: the int() truncation depends on
    # the last bit of the float product.
    if max_pixels is not None and width * height > max_pixels:
        factor = math.sqrt(max_pixels / (width * height))
        width, height = int(width * factor), int(height * factor)
    if min_pixels is not None and width * height < min_pixels:
        factor = math.sqrt(min_pixels / (width * height))
        width, height = int(width * factor), int(height * factor)
    return height, width


def model_size(height: int, width: int, spec: VisionSpec) -> tuple[int, int]:
    """The size a frame reaches the model at.

    ``spec.resize == "smart"``: qwen-vl-utils' ``smart_resize``, sides divisible by 28, area
    within the spec's bounds. 1080x1920 at max 1,048,576: rounded 1092x1932 is over, so
    ``beta = sqrt(2073600 / 1048576) = 1.40625``, ``floor(768 / 28) * 28 = 756``,
    ``floor(1365.3 / 28) * 28 = 1344``: 756x1344, 27 * 48 = 1,296 tokens.

    ``"easyr1"``: :func:`easyr1_size` at the spec's bounds, then the Qwen2.5-VL processor's
    ``smart_resize`` at its own bounds (:data:`PROCESSOR_MIN_PIXELS`, :data:`PROCESSOR_MAX_PIXELS`).
    1080x1920 -> 768x1365 -> ``round(768 / 28) = round(27.43) = 27``, ``round(1365 / 28) =
    round(48.75) = 49``: 756x1372, 27 * 49 = 1,323 tokens (within 12,845,056 px, so no further
    scaling). 20x30 -> 45x68 -> 56x56 (``round`` gives 56x56 = 3,136 px, not under the minimum),
    where "smart" gives 56x84.
    """
    if spec.resize == "easyr1":
        h, w = easyr1_size(height, width, spec.min_pixels, spec.max_pixels)
        return _smart_resize(h, w, PROCESSOR_MIN_PIXELS, PROCESSOR_MAX_PIXELS,
                             clamp_rounded=False)
    return _smart_resize(height, width, spec.min_pixels, spec.max_pixels)


def _pil_resize(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(f).resize((width, height),
                                                          Image.Resampling.BICUBIC))
                     for f in frames])


def resize_for_model(frames: np.ndarray, spec: VisionSpec) -> np.ndarray:
    """Resize ``(T, H, W, 3)`` uint8 frames to :func:`model_size` with Pillow's bicubic filter
    (antialiased when shrinking), as LLaMA-Factory resizes SFT frames; qwen-vl-utils' torchvision
    bicubic (verl) differs from it by rounding only. Frames already at size are returned as they
    are. Pillow, not torch: decode workers then start without importing torch.

    ``spec.resize == "easyr1"`` resizes twice, as the seed's RL does: to :func:`easyr1_size`
    (EasyR1's ``image.resize((w, h))``, Pillow's default bicubic for RGB) and then to the
    processor's size (the Qwen2.5-VL image processor's bicubic; Pillow's here, which the slow
    processor also uses and the torchvision one matches up to rounding). Each step is skipped
    when it would not change the size. An empty ``(0, H, W, 3)`` array (a clip ffmpeg writes no
    frame for) comes back empty at the model size."""
    h, w = frames.shape[1:3]
    th, tw = model_size(h, w, spec)
    if len(frames) == 0:
        return np.zeros((0, th, tw, 3), dtype=frames.dtype)
    if spec.resize == "easyr1":
        eh, ew = easyr1_size(h, w, spec.min_pixels, spec.max_pixels)
        if (eh, ew) != (h, w):
            frames, h, w = _pil_resize(frames, eh, ew), eh, ew
    if (th, tw) == (h, w):
        return frames
    return _pil_resize(frames, th, tw)


@dataclass(frozen=True)
class SampledVideo:
    """Sampled frames plus what a processor needs to time them (Qwen's temporal position ids)."""

    frames: np.ndarray  # uint8 (T, H, W, 3)
    indices: tuple[int, ...]  # which source frames
    total_frames: int
    native_fps: float

    @property
    def sampled_fps(self) -> float:
        return len(self.indices) / self.total_frames * self.native_fps if self.native_fps else 2.0

    def metadata(self) -> dict:
        """Keyword arguments for ``transformers.video_utils.VideoMetadata``."""
        return {"total_num_frames": self.total_frames, "fps": self.native_fps or None,
                "frames_indices": list(self.indices)}


def read_frames(path: str | os.PathLike[str], spec: VisionSpec) -> SampledVideo:
    """Decode the sampled frames as ``uint8 (T, H, W, 3)`` RGB.

    Two passes over one open file: demux (no decoding) to list every frame's timestamp in display
    order, then decode only what the wanted frames need. Packets whose frame is not wanted are
    sent with ``skip_frame = NONREF``, so the decoder drops non-reference frames (typically half of
    an H.264 stream's B-frames) instead of reconstructing them; reference frames still decode,
    so the wanted frames are bit-identical to a full decode. Only wanted frames are converted to
    RGB. Streams without timestamps fall back to decoding every frame.

    ``spec.sampling`` ``ffmpeg_fps_filter`` / ``ffmpeg_output_rate``: the frames the seed's ffmpeg
    command writes (:func:`ffmpeg_frame_indices`, from the demuxed timestamps and durations), the
    first ``spec.max_frames`` of them (the seed's ``sorted(pngs)[:64]``); ``indices`` then
    repeat a frame where ffmpeg writes it twice. A clip for which ffmpeg writes nothing (the fps
    filter on a clip under half a second; the seed then prompts without images) gives
    ``frames`` of shape ``(0, H, W, 3)`` and no indices.
    """
    import av

    path = _existing_file(path)
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise VideoError(f"{path}: no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            native_fps = float(rate) if rate else 0.0
            packets = [(p.pts, p.duration) for p in container.demux(stream) if p.size]
            pts = [p for p, _ in packets]
            if not pts:
                raise VideoError(f"{path}: video stream has no frames")
            if spec.sampling == "uniform":
                indices = sample_indices(len(pts), native_fps, spec)
            else:
                indices = _ffmpeg_indices(container, stream, packets, native_fps, spec)
                if not indices:  # ffmpeg writes no PNG (fps filter, a clip under half a second)
                    ctx = stream.codec_context
                    empty = np.zeros((0, ctx.height, ctx.width, 3), dtype=np.uint8)
                    return SampledVideo(empty, (), len(pts), native_fps)
            container.seek(0, stream=stream)
            stream.thread_type = "SLICE"  # frame threading would race the per-packet skip flag
            if any(p is None for p in pts):
                got = _decode_by_count(container, stream, indices)
            else:
                order = sorted(pts)
                want = {order[i] for i in indices}
                frames: dict[int, np.ndarray] = {}
                ctx = stream.codec_context
                for packet in container.demux(stream):
                    ctx.skip_frame = "DEFAULT" if packet.pts in want else "NONREF"
                    for frame in packet.decode():
                        if frame.pts in want and frame.pts not in frames:
                            frames[frame.pts] = frame.to_ndarray(format="rgb24")
                    if len(frames) == len(want):
                        break
                got = [frames.get(order[i]) for i in indices]
    except VideoError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise VideoError(f"{path}: cannot decode ({type(e).__name__}: {e})") from None
    decoded = [g for g in got if g is not None]
    if not decoded:
        raise VideoError(f"{path}: no frame decodes")
    # A damaged tail can leave wanted frames undecoded: repeat the nearest earlier one so the
    # count is still what the spec asked for.
    filled, last = [], decoded[0]
    for g in got:
        last = g if g is not None else last
        filled.append(last)
    return SampledVideo(np.stack(filled), tuple(indices), len(pts), native_fps)


def _ffmpeg_indices(container, stream, packets: list[tuple[int | None, int | None]],
                    native_fps: float, spec: VisionSpec) -> list[int]:
    """:func:`ffmpeg_frame_indices` for one open stream, on ffmpeg's timeline, capped at
    ``spec.max_frames``."""
    method: FfmpegMethod = "fps_filter" if spec.sampling == "ffmpeg_fps_filter" else "output_rate"
    n = len(packets)
    durations: list[Fraction | None] | None
    if any(p is None for p, _ in packets):
        # No timestamps: ffmpeg then counts frames at the stream's rate, as we do.
        rate = Fraction(native_fps).limit_denominator(_RATE_DENOMINATOR) if native_fps > 0 \
            else Fraction(25)  # ffmpeg's fallback rate
        times: list[Fraction] = [Fraction(i) / rate for i in range(n)]
        durations = None
    else:
        tb = stream.time_base
        # ffmpeg_demux.c shifts every packet by -start_time (the container's, in microseconds),
        # rescaled to the stream's time base with av_rescale_q's nearest rounding.
        start = container.start_time
        offset = _round_near_inf(Fraction(-start, 1_000_000) / tb) if start is not None else 0
        order = sorted(packets, key=lambda pd: pd[0])
        times = [(p + offset) * tb for p, _ in order]
        durations = [d * tb if d else None for _, d in order]
    guessed = stream.guessed_rate  # av_guess_frame_rate, as ffmpeg_demux.c takes it
    indices = ffmpeg_frame_indices(times, spec.fps, method, durations=durations,
                                   frame_rate=guessed if guessed else None,
                                   single_stream=len(container.streams) == 1,
                                   limit=spec.max_frames)
    return indices


def _decode_by_count(container, stream, indices: list[int]) -> list[np.ndarray | None]:
    wanted: dict[int, list[int]] = {}
    for slot, idx in enumerate(indices):
        wanted.setdefault(idx, []).append(slot)
    out: list[np.ndarray | None] = [None] * len(indices)
    for i, frame in enumerate(container.decode(stream)):
        if i in wanted:
            arr = frame.to_ndarray(format="rgb24")
            for slot in wanted[i]:
                out[slot] = arr
        if i >= max(wanted):
            break
    return out
