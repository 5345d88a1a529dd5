import pytest

from camreasoner.dev.clips import write_clip
from camreasoner.media.video import VideoError, probe, read_frames, sample_indices
from camreasoner.vision import VisionSpec


def test_sample_indices_hand_checked():
    spec = VisionSpec(fps=2.0, max_frames=32)
    # 8 s at 30 fps = 240 frames; 8 s x 2 fps = 16 frames, spread over 0..239.
    idx = sample_indices(240, 30.0, spec)
    assert len(idx) == 16 and idx[0] == 0 and idx[-1] == 239
    assert idx[1] == round(239 / 15)  # 15.93 -> 16
    # 60 s clip: capped at max_frames.
    assert len(sample_indices(1800, 30.0, spec)) == 32
    # 0.5 s clip: 1 frame by fps, raised to qwen-vl-utils' minimum of 4: linspace(0, 14, 4)
    # = 0, 4.67, 9.33, 14 -> rounded.
    assert sample_indices(15, 30.0, spec) == [0, 5, 9, 14]
    # One-frame clip: the frame twice (one temporal patch).
    assert sample_indices(1, 30.0, spec) == [0, 0]
    # 7 frames wanted -> rounded down to an even 6.
    assert len(sample_indices(105, 30.0, VisionSpec(fps=2.0, max_frames=7))) == 6


def test_probe_and_read_frames(tmp_path):
    path = write_clip(tmp_path / "c.mp4", frames=16, width=48, height=32, fps=8)
    info = probe(path, decode_all=True)
    assert (info.frames, info.width, info.height) == (16, 48, 32)
    assert info.duration == pytest.approx(2.0)
    video = read_frames(path, VisionSpec(fps=2.0, max_frames=32))
    assert video.frames.shape == (4, 32, 48, 3) and video.frames.dtype.name == "uint8"
    assert video.indices == (0, 5, 10, 15)
    assert video.sampled_fps == pytest.approx(2.0)  # 4 of 16 frames at 8 fps


def test_frames_match_a_full_decode(tmp_path):
    """Skipping non-reference frames must not change the frames we keep."""
    import av
    import numpy as np

    path = write_clip(tmp_path / "c.mp4", frames=40, width=64, height=48, fps=10, shift=(2, 1))
    video = read_frames(path, VisionSpec(fps=3.0, max_frames=32))
    with av.open(str(path)) as c:
        every = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(video.indices) == 12  # 4 s x 3 fps
    for frame, idx in zip(video.frames, video.indices):
        assert np.array_equal(frame, every[idx])


def test_model_size_hand_checked():
    from camreasoner.media.video import model_size

    spec = VisionSpec()  # max 112,896 px
    # 1280x720 is 921,600 px: beta = sqrt(921600 / 112896) = 2.857; 720/2.857 = 252 -> 252,
    # 1280/2.857 = 448 -> 448.
    assert model_size(720, 1280, spec) == (252, 448)
    # Small frames are scaled up to min_pixels (12,544 = 16 tokens): 64x64 -> beta 1.75 -> 112.
    assert model_size(64, 64, spec) == (112, 112)
    assert model_size(252, 448, spec) == (252, 448)


def test_probe_errors_name_the_file(tmp_path):
    with pytest.raises(VideoError, match="x.mp4: file not found"):
        probe(tmp_path / "x.mp4")
    (tmp_path / "t.mp4").write_text("not a video")
    with pytest.raises(VideoError, match="t.mp4: cannot decode"):
        probe(tmp_path / "t.mp4")


def _frames(n=6, height=32, width=48):
    import numpy as np

    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (height // 8, width // 8 + n, 3), dtype=np.uint8)
    big = np.repeat(np.repeat(coarse, 8, 0), 8, 1)
    return np.stack([big[:, 8 * i:8 * i + width] for i in range(n)])


def test_write_video_array_or_iterator_round_trip(tmp_path):
    import av
    import numpy as np

    from camreasoner.media.writer import write_video

    frames = _frames()
    a = write_video(tmp_path / "a.mp4", frames, 6, crf=10, preset="ultrafast")
    b = write_video(tmp_path / "b.mp4", iter(list(frames)), 6, crf=10, preset="ultrafast")
    assert a.read_bytes() == b.read_bytes()
    info = probe(a, decode_all=True)
    assert (info.frames, info.width, info.height, info.duration) == (6, 48, 32, 1.0)
    with av.open(str(a)) as c:
        back = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    assert np.abs(back.astype(int) - frames).mean() < 8  # the frames, less YUV 4:2:0 rounding
    # a fourth channel is alpha and ignored: the renderer's RGBA frames give the same clip
    rgba = np.concatenate([frames, np.zeros(frames.shape[:3] + (1,), np.uint8)], axis=3)
    c = write_video(tmp_path / "c.mp4", rgba, 6, crf=10, preset="ultrafast")
    assert c.read_bytes() == a.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "b.mp4", "c.mp4"]


def _x264_settings(path) -> str:
    """The settings libx264 writes into its stream (the SEI text after "options: ")."""
    data = path.read_bytes()
    start = data.index(b"options: ") + len(b"options: ")
    return data[start:data.index(b"\x00", start)].decode()


def test_write_video_defaults_are_libx264s_and_bframes_zero_keeps_decode_order(tmp_path):
    """The defaults are libx264's own: the encoder settings equal those of a stream that sets
    nothing. (Compared as settings, not bytes: two medium-preset encodes of one clip differed
    in one CI run, though the settings were equal; 2026-12-04.)"""
    import av

    from camreasoner.media.writer import write_video

    frames = _frames(12)
    default = write_video(tmp_path / "d.mp4", frames, 6)
    bare = tmp_path / "bare.mp4"
    with av.open(str(bare), mode="w") as container:
        stream = container.add_stream("libx264", rate=6)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        stream.options = {"threads": "1"}  # as write_video's, so only crf and preset could differ
        for f in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        container.mux(stream.encode())
    assert "crf=23.0" in _x264_settings(default) and "subme=7" in _x264_settings(default)
    assert _x264_settings(default) == _x264_settings(bare)
    assert _x264_settings(write_video(tmp_path / "c.mp4", frames, 6, crf=30)) != \
        _x264_settings(default)  # the comparison sees a change

    def order(path):
        with av.open(str(path)) as c:
            return [p.pts for p in c.demux(video=0) if p.size]

    assert order(default) != sorted(order(default))  # B-frames: decode order is not display order
    no_b = write_video(tmp_path / "n.mp4", frames, 6, bframes=0)
    assert order(no_b) == sorted(order(no_b))


def test_write_video_timestamps_and_silent_audio(tmp_path):
    from fractions import Fraction

    import av

    from camreasoner.media.writer import write_video

    pts = [5, 6, 9, 10, 14, 15]
    path = write_video(tmp_path / "t.mkv", _frames(), 30, pts=pts, time_base=Fraction(1, 10),
                       bframes=0, silent_audio=(0.0, 2.0))
    with av.open(str(path)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
        times = [round(float(f.pts * f.time_base), 3) for f in c.decode(video=0)]
    assert times == [p / 10 for p in pts]
    with pytest.raises(ValueError, match="go together"):
        write_video(tmp_path / "x.mp4", _frames(), 30, pts=pts)
    with pytest.raises(ValueError, match="5 frames for 6 pts"):
        write_video(tmp_path / "x.mp4", _frames(5), 30, pts=pts, time_base=Fraction(1, 10))
    assert not (tmp_path / "x.mp4").exists()


def test_write_video_errors_name_the_file_and_leave_the_old_one(tmp_path):
    import numpy as np

    from camreasoner.media.writer import write_video

    target = tmp_path / "clip.mp4"
    target.write_bytes(b"the clip a reader is reading")
    with pytest.raises(ValueError, match=r"clip\.mp4: width and height must be even.*47x32"):
        write_video(target, _frames(width=48)[:, :, :47], 6)
    with pytest.raises(ValueError, match=r"clip\.mp4: no frames"):
        write_video(target, iter([]), 6)
    with pytest.raises(ValueError, match=r"clip\.mp4: frames must be uint8"):
        write_video(target, _frames().astype(np.float32), 6)

    def then_a_bad_one():  # fails after the encoder has written packets
        yield from _frames(30)
        yield np.zeros((16, 16, 3), np.uint8)

    with pytest.raises(ValueError, match=r"clip\.mp4: frame 30 is uint8 \(16, 16, 3\)"):
        write_video(target, then_a_bad_one(), 6)
    # atomic: the old file is untouched and no temporary file is left beside it
    assert target.read_bytes() == b"the clip a reader is reading"
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]
