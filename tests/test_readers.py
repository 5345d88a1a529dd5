import json

import pytest

from camreasoner.data import readers
from camreasoner.data.benchmark import build_benchmark
from camreasoner.data.schema import DataError, read_items

# Official counts (items, Yes) per primitive, counted by hand from the jsonl files' labels.
BINARY_COUNTS = {
    "Move_Down": (430, 37), "Move_In": (549, 161), "Move_Left": (488, 56), "Move_Out": (549, 53),
    "Move_Right": (487, 77), "Move_Up": (430, 29), "Pan_Left": (512, 79), "Pan_Right": (512, 77),
    "Roll_Clockwise": (470, 42), "Roll_Counterclockwise": (470, 48), "Static": (966, 94),
    "Tilt_Down": (456, 35), "Tilt_Up": (458, 58), "Zoom_In": (450, 50), "Zoom_Out": (452, 46),
}
VQA_COUNTS = {
    "complex_description": 4284, "has_motion": 4044, "motion_direction": 1788,
    "tracking_shot": 1320, "motion_and_steadiness": 1184, "only_motion": 556,
    "scene_dynamics": 348, "motion_speed": 348, "confusable_motion": 300,
}


@pytest.fixture(scope="module")
def bench(full_camerabench_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    manifest = build_benchmark(full_camerabench_dir, out)
    return out, manifest


def test_fixture_benchmark_counts_hand_checked(camerabench_dir, tmp_path):
    """The repo's fixture: 2 Yes + 2 No a primitive, one pair a VQA task file, 5 captions."""
    manifest = build_benchmark(camerabench_dir, tmp_path)
    binary = read_items(tmp_path / "camerabench_binary.jsonl")
    assert len(binary) == 60 and sum(i.answer == "B" for i in binary) == 30
    assert manifest["files"]["camerabench_binary.jsonl"]["per_task"]["Move_In"] == {
        "items": 4, "yes": 2}
    # ids count across files in name order: Move_Down_1..4, then Move_In_5..8, ...
    assert [i.id for i in binary[:5]] == [f"Move_Down_{n}" for n in range(1, 5)] + ["Move_In_5"]
    vqa = read_items(tmp_path / "camerabench_vqa.jsonl")
    per_skill = {}
    for i in vqa:
        per_skill[i.skill] = per_skill.get(i.skill, 0) + 1
    # 4 items a pair, one pair a task file: 4 x the skill's task files
    assert per_skill == {"complex_description": 4, "confusable_motion": 40, "has_motion": 96,
                         "motion_and_steadiness": 16, "motion_direction": 48, "motion_speed": 8,
                         "only_motion": 56, "scene_dynamics": 8, "tracking_shot": 48}
    assert len(read_items(tmp_path / "camerabench_captions.jsonl")) == 5


@pytest.mark.slow
def test_binary_benchmark_counts(bench):
    out, manifest = bench
    items = read_items(out / "camerabench_binary.jsonl")
    assert len(items) == 7679 == sum(n for n, _ in BINARY_COUNTS.values())
    for task, (n, yes) in BINARY_COUNTS.items():
        got = [i for i in items if i.task == task]
        assert (len(got), sum(i.answer == "B" for i in got)) == (n, yes), task
    assert manifest["files"]["camerabench_binary.jsonl"]["per_task"]["Move_In"] == {
        "items": 549, "yes": 161}


@pytest.mark.slow
def test_vqa_benchmark_counts_and_pairs(bench):
    out, _ = bench
    items = read_items(out / "camerabench_vqa.jsonl")
    assert len(items) == 14172
    counts = {}
    for i in items:
        counts[i.skill] = counts.get(i.skill, 0) + 1
    assert counts == VQA_COUNTS
    pairs = {}
    for i in items:
        pairs.setdefault(i.pair_id, []).append(i)
    assert len(pairs) == 3543
    # Every pair has its four roles, two Yes and two No.
    for group in pairs.values():
        assert sorted(i.role for i in group) == sorted(readers.VQA_ROLES)
        assert sorted(i.answer for i in group) == ["A", "A", "B", "B"]


@pytest.mark.slow
def test_vqa_answers_follow_question_wording(bench):
    out, _ = bench
    items = {i.id: i for i in read_items(out / "camerabench_vqa.jsonl")}
    # First pair of has_pan_left, checked by hand against the file: the positive video pans left,
    # the negative question is negated ("free from any leftward panning").
    base = "has_motion/has_pan_left/1/"
    pp, np_, pn, nn = (items[base + r] for r in readers.VQA_ROLES)
    assert (pp.video, pp.question, pp.answer) == (
        "ZpJpZGktliQ.0.0.mp4", "Does the camera pan to the left?", "B")
    assert (np_.video, np_.answer) == ("z7HxJaKjVlU.0.1.mp4", "A")
    assert (pn.video, pn.question, pn.answer) == (
        "ZpJpZGktliQ.0.0.mp4", "Is the camera free from any leftward panning motion?", "A")
    assert (nn.video, nn.answer) == ("z7HxJaKjVlU.0.1.mp4", "B")
    # Across the whole file: a "free from"/"not" question on the positive video is always No.
    for i in items.values():
        if i.role == "pos_video.neg_question":
            assert i.answer == "A"


@pytest.mark.slow
def test_seed_eval_reader_agrees_with_official_binary(full_camerabench_dir):
    """The seed's converted file (CamReasoner's) holds the official binary items, with our ids."""
    ours = readers.read_camerabench_binary(full_camerabench_dir / "binary_classification")
    theirs = readers.read_seed_eval(full_camerabench_dir / "camreasoner_binary.json")
    # The seed names its clips video/<file>; resolve_video maps that prefix onto the video root.
    assert all(i.video.startswith("video/") for i in theirs)
    key = lambda i: (i.id, i.video.removeprefix("video/"), i.question, tuple(i.options),
                     i.answer, i.task)
    assert sorted(map(key, theirs)) == sorted(map(key, ours))


def test_captions_reader(camerabench_dir):
    caps = readers.read_captions(camerabench_dir / "caption_data.json")
    assert len(caps) == 5 and [c.id for c in caps] == [f"caption_{n}" for n in range(1, 6)]
    assert caps[0].options == [] and caps[0].answer.startswith("The camera remains fixed")


def test_seed_eval_bad_records_name_item_and_field(tmp_path):
    rec = {"problem_id": "Pan_Left_1", "problem": "q", "options": ["A. No", "B. Yes"],
           "solution": "<answer>C</answer>", "path": "video/a.mp4", "data_type": "video"}
    p = tmp_path / "x.json"
    p.write_text(json.dumps([rec]))
    with pytest.raises(DataError, match=r"x.json\[0\]: item 'Pan_Left_1': field 'answer'"):
        readers.read_seed_eval(p)
    rec["solution"] = "<answer>A or B</answer>"
    p.write_text(json.dumps([rec]))
    with pytest.raises(DataError, match="field 'solution'"):
        readers.read_seed_eval(p)
    del rec["path"]
    p.write_text(json.dumps([rec]))
    with pytest.raises(DataError, match="field 'path': missing"):
        readers.read_seed_eval(p)


def test_seed_eval_keeps_the_video_path_and_derives_task(tmp_path):
    rec = {"problem_id": "Move_In_12", "problem": "q", "options": ["A. No", "B. Yes"],
           "solution": "<answer>B</answer>", "path": "video/a.mp4", "data_type": "video",
           "data_source": "camerabench"}
    p = tmp_path / "x.json"
    p.write_text(json.dumps([rec]))
    (item,) = readers.read_seed_eval(p)
    assert (item.video, item.task, item.answer, item.source) == ("video/a.mp4", "Move_In", "B",
                                                                 "camerabench")


def test_binary_reader_rejects_bad_label_and_missing_file(tmp_path, camerabench_dir):
    d = tmp_path / "binary"
    d.mkdir()
    for f in (camerabench_dir / "binary_classification").glob("*.jsonl"):
        (d / f.name).write_text(f.read_text())
    lines = (d / "Zoom_In.jsonl").read_text().splitlines()
    bad = json.loads(lines[2])
    bad["label"] = "Maybe"
    lines[2] = json.dumps(bad)
    (d / "Zoom_In.jsonl").write_text("\n".join(lines) + "\n")
    # Zoom_In comes after the 13 x 4 = 52 items of the 13 files before it in name order.
    with pytest.raises(DataError, match=r"Zoom_In.jsonl:3: item 'Zoom_In_55': field 'label'"):
        readers.read_camerabench_binary(d)
    (d / "Static.jsonl").unlink()
    with pytest.raises(DataError, match="missing binary file for primitive Static"):
        readers.read_camerabench_binary(d)


def test_vqa_reader_rejects_missing_task_file(tmp_path):
    with pytest.raises(DataError, match="missing VQA task file complex_description/all"):
        readers.read_camerabench_vqa(tmp_path)
