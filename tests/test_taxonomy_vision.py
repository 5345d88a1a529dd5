import json

import pytest

from camreasoner import taxonomy, vision


def test_primitives_match_the_official_files(camerabench_dir):
    files = sorted(p.stem for p in (camerabench_dir / "binary_classification").glob("*.jsonl"))
    assert files == sorted(taxonomy.PRIMITIVE_NAMES)
    assert len(taxonomy.PRIMITIVES) == 15
    for prim in taxonomy.PRIMITIVES:
        first = json.loads((camerabench_dir / "binary_classification" / f"{prim.name}.jsonl")
                           .read_text().splitlines()[0])
        assert first["question"] == prim.question
        assert first["task"] == prim.display
        assert prim.term in taxonomy.MOTION_VOCABULARY
        assert prim.direction == "" or prim.direction in taxonomy.DIRECTION_WORDS


def test_vqa_skills_match_the_official_folders(camerabench_dir):
    root = camerabench_dir / "vqa_and_retrieval"
    on_disk = {d.name: sorted(p.stem for p in d.glob("*.jsonl")) for d in root.iterdir()
               if d.is_dir()}
    assert on_disk == {k: sorted(v) for k, v in taxonomy.VQA_SKILLS.items()}
    assert len(taxonomy.VQA_SKILLS) == 9


def test_vocabulary_covers_the_cinematography_words():
    for word in ("dolly", "truck", "pedestal", "pan", "tilt", "roll", "zoom", "static", "shake",
                 "speed", "tracking", "arc", "crane"):
        assert word in taxonomy.MOTION_VOCABULARY


def test_unknown_primitive_names_the_known_ones():
    with pytest.raises(KeyError, match="Move_In"):
        taxonomy.primitive("Dolly_In")


def test_default_vision_budget_arithmetic():
    spec = vision.DEFAULT_VISION
    # 448x252 = 112,896 px = 144 tokens of 28x28; 32 frames = 16 temporal pairs -> 2,304 tokens.
    assert spec.max_pixels == 448 * 252 == 112_896
    assert spec.max_video_tokens() == 2304


def test_vision_forms_agree():
    spec = vision.VisionSpec(fps=1.0, max_frames=16, min_pixels=784, max_pixels=7840)
    assert spec.llamafactory_args() == {"video_fps": 1.0, "video_maxlen": 16,
                                        "video_min_pixels": 784, "video_max_pixels": 7840}
    assert spec.qwen_vl_video("file:///v.mp4") == {
        "video": "file:///v.mp4", "fps": 1.0, "max_frames": 16, "min_pixels": 784,
        "max_pixels": 7840}


@pytest.mark.parametrize("kw,msg", [
    ({"fps": 0}, "fps"), ({"max_frames": 1}, "max_frames"),
    ({"min_pixels": 10, "max_pixels": 5}, "min_pixels"), ({"mode": "gif"}, "mode"),
])
def test_bad_vision_settings_are_rejected(kw, msg):
    with pytest.raises(ValueError, match=msg):
        vision.VisionSpec(**kw)


def test_frames_mode_adds_the_image_bounds_for_llamafactory():
    from camreasoner.vision import TINY_VISION

    args = TINY_VISION.with_overrides(mode="frames").llamafactory_args()
    assert args == {**TINY_VISION.llamafactory_args(), "image_min_pixels": 3136,
                    "image_max_pixels": 12544}
