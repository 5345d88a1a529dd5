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
