import json

import pytest

from camreasoner import prompts
from camreasoner.data import convert, readers
from camreasoner.data.schema import DataError
from camreasoner.vision import TINY_VISION
from tests.conftest import make_item

RESPONSE = ("<observation>The scene slides right; near and far move together.</observation>"
            "<think>No parallax, so a rotation: pan left.</think><answer>B</answer>")


def _items():
    return [
        make_item(id="a", extra={"response": RESPONSE}),
        make_item(id="b", video="sub/static.mp4", answer="A", task="Pan_Left",
                  extra={"response": RESPONSE.replace("<answer>B", "<answer>A")}),
        make_item(id="c", video="tilt.mp4", question="Which way does the camera turn?",
                  options=prompts.make_options(["tilt up", "tilt down", "pan left"]), answer="B",
                  task="direction", skill="motion_direction", pair_id="p1",
                  role="neg_video.neg_question",
                  extra={"response": RESPONSE.replace("<answer>B", "<answer>B")}),
    ]


def test_sharegpt_round_trip(tmp_path):
    items = _items()
    entry = convert.write_sharegpt(items, tmp_path / "sft.json", dataset_name="synthetic_ota")
    assert entry == {
        "file_name": "sft.json", "formatting": "sharegpt",
        "columns": {"messages": "messages", "videos": "videos"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                 "assistant_tag": "assistant"},
    }
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert info["synthetic_ota"] == entry
    back = readers.read_sharegpt(tmp_path / "sft.json")
    for a, b in zip(items, back, strict=True):
        assert (b.id, b.video, b.question, b.options, b.answer, b.task, b.skill) == (
            a.id, a.video, a.question, a.options, a.answer, a.task, a.skill)
        assert b.extra["response"] == a.extra["response"]
        assert b.extra["instruction"] == "camera_ota"


def test_dataset_info_keeps_other_entries(tmp_path):
    (tmp_path / "dataset_info.json").write_text(json.dumps({"camerabench": {"file_name": "x"}}))
    convert.write_sharegpt(_items(), tmp_path / "synth.json")
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert set(info) == {"camerabench", "synth"}


def test_sharegpt_needs_a_response_unless_answer_only():
    item = make_item()
    with pytest.raises(DataError, match="item 'x1': field 'response'"):
        convert.to_sharegpt([item])
    (rec,) = convert.to_sharegpt([item], allow_answer_only=True)
    assert rec["messages"][1]["content"] == "<answer>B</answer>"


def test_verl_parquet_round_trip(tmp_path, clip_root):
    items = _items()
    n, skipped = convert.write_verl_parquet(items, tmp_path / "rl.parquet", clip_root,
                                            TINY_VISION)
    assert (n, skipped) == (3, [])
    import pyarrow.parquet as pq

    rows = pq.read_table(tmp_path / "rl.parquet").to_pylist()
    row = rows[0]
    assert row["prompt"][0]["content"].startswith("<video>Does the camera pan to the left?\n")
    assert row["videos"][0]["video"] == "file://" + str((clip_root / "pan.mp4").resolve())
    assert row["videos"][0]["fps"] == TINY_VISION.fps
    assert row["videos"][0]["max_pixels"] == TINY_VISION.max_pixels
    assert row["reward_model"] == {"style": "rule", "ground_truth": "B"}
    assert row["extra_info"]["options"] == ["A. No", "B. Yes"]
    assert row["extra_info"]["task"] == "Pan_Left"
    back = convert.read_verl_parquet(tmp_path / "rl.parquet", clip_root)
    for a, b in zip(items, back, strict=True):
        assert (b.id, b.video, b.question, b.options, b.answer, b.task, b.skill, b.pair_id,
                b.role) == (a.id, a.video, a.question, a.options, a.answer, a.task, a.skill,
                            a.pair_id, a.role)


def test_verl_rejects_open_ended_and_escaping_items(clip_root):
    with pytest.raises(DataError, match="field 'options'"):
        convert.to_verl_rows([make_item(options=[], answer="free text")], clip_root)
    with pytest.raises(DataError, match="escapes"):
        convert.to_verl_rows([make_item(video="../x.mp4")], clip_root)


def test_cli_convert_seed_eval_to_items_and_verl(tmp_path, clip_root):
    from camreasoner.cli import main

    rec = {"problem_id": "Pan_Left_1", "problem": "Does the camera pan to the left?",
           "options": ["A. No", "B. Yes"], "solution": "<answer>B</answer>",
           "path": "video/pan.mp4", "data_type": "video"}
    (tmp_path / "rl.json").write_text(json.dumps([rec]))
    assert main(["data", "convert", str(tmp_path / "rl.json"), "--from", "seed-eval", "--to",
                 "items", "--out", str(tmp_path / "rl.jsonl")]) == 0
    assert main(["data", "convert", str(tmp_path / "rl.jsonl"), "--to", "verl", "--out",
                 str(tmp_path / "rl.parquet"), "--video-root", str(clip_root),
                 "--protocol", "camreasoner"]) == 0
    (back,) = convert.read_verl_parquet(tmp_path / "rl.parquet", clip_root)
    assert (back.id, back.video, back.answer) == ("Pan_Left_1", "pan.mp4", "B")


def _frames_source(tmp_path):
    """Two records on one clip, one on another: a ShareGPT video file as write_sharegpt makes it."""
    from camreasoner.dev.clips import write_clip

    root = tmp_path / "videos"
    write_clip(root / "a.mp4", frames=8, width=64, height=64, fps=4)  # 2 s
    write_clip(root / "b.mp4", frames=8, width=64, height=64, fps=4, seed=3)
    items = [make_item(id="r1", video="a.mp4", extra={"response": RESPONSE}),
             make_item(id="r2", video="a.mp4", extra={"response": RESPONSE}),
             make_item(id="r3", video="b.mp4", extra={"response": RESPONSE})]
    convert.write_sharegpt(items, tmp_path / "sft.json", dataset_name="synthetic_ota")
    return root


def test_sharegpt_as_frames_writes_one_image_per_sampled_frame(tmp_path):
    from PIL import Image

    root = _frames_source(tmp_path)
    spec = TINY_VISION.with_overrides(fps=2.0, mode="frames")  # 2 s at 2 fps -> 4 frames
    out = tmp_path / "frames_set" / "sft_frames.json"
    entry = convert.sharegpt_as_frames(tmp_path / "sft.json", root, spec, out, "ota_frames")
    assert entry["columns"] == {"messages": "messages", "images": "images"}
    info = json.loads((out.parent / "dataset_info.json").read_text())
    assert info["ota_frames"] == entry
    recs = json.loads(out.read_text())
    assert [r["id"] for r in recs] == ["r1", "r2", "r3"]
    source = json.loads((tmp_path / "sft.json").read_text())
    for rec, src in zip(recs, source, strict=True):
        assert "videos" not in rec and len(rec["images"]) == 4
        assert rec["messages"][0]["content"] == "<image>" * 4 + src["messages"][0]["content"][7:]
        assert rec["messages"][1] == src["messages"][1]
    # One clip's frames are written once and shared by its records.
    assert recs[0]["images"] == recs[1]["images"] != recs[2]["images"]
    assert len(list((out.parent / "frames").rglob("*.png"))) == 8
    with Image.open(out.parent / recs[2]["images"][0]) as im:
        assert im.size == (56, 56)  # 64x64 rounded to the 28-px grid inside 3,136..12,544 px


def test_sharegpt_as_frames_in_worker_processes_writes_the_same_set_and_fills_the_cache(tmp_path):
    import numpy as np
    from PIL import Image

    root = _frames_source(tmp_path)
    spec = TINY_VISION.with_overrides(fps=2.0, mode="frames")
    serial = tmp_path / "serial" / "x.json"
    parallel = tmp_path / "parallel" / "x.json"
    convert.sharegpt_as_frames(tmp_path / "sft.json", root, spec, serial)
    convert.sharegpt_as_frames(tmp_path / "sft.json", root, spec, parallel, workers=2,
                               cache_dir=tmp_path / "cache")
    assert json.loads(serial.read_text()) == json.loads(parallel.read_text())
    for rec in json.loads(parallel.read_text()):
        for image in rec["images"]:
            with Image.open(serial.parent / image) as a, Image.open(parallel.parent / image) as b:
                assert np.array_equal(np.asarray(a), np.asarray(b))
    # Two clips, one cache entry each (frames .npy + its .json), for RL and eval to read back.
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2
    assert len(list((tmp_path / "cache").glob("*.json"))) == 2


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("damage", ["missing", "unreadable"])
@pytest.mark.slow
def test_sharegpt_as_frames_names_the_record_whose_clip_is_bad(tmp_path, workers, damage):
    root = _frames_source(tmp_path)
    if damage == "missing":
        (root / "b.mp4").unlink()
    else:  # found, but decoding fails (in the worker process when workers > 0)
        (root / "b.mp4").write_bytes(b"not a video")
    with pytest.raises(DataError, match=r"r3.*videos"):
        convert.sharegpt_as_frames(tmp_path / "sft.json", root, TINY_VISION, tmp_path / "f" / "x.json",
                                   workers=workers)


def test_caption_records_take_each_videos_observation_once():
    from camreasoner import prompts

    chain = ("<observation>The view slides left.</observation><think>No parallax: a pan right."
             "</think><answer>B</answer>")
    recs = [{"id": "c1/mc", "source": "synthetic", "videos": ["c1.mp4"],
             "messages": [{"role": "user", "content": "<video>Q1"},
                          {"role": "assistant", "content": chain}]},
            {"id": "c1/Pan_Left", "source": "synthetic", "videos": ["c1.mp4"],
             "messages": [{"role": "user", "content": "<video>Q2"},
                          {"role": "assistant", "content": "<observation>other</observation>"}]},
            {"id": "c2/mc", "source": "synthetic", "videos": ["c2.mp4"],
             "messages": [{"role": "user", "content": "<video>Q3"},
                          {"role": "assistant", "content": "<observation>Still.</observation>x"}]}]
    caps = convert.caption_records(recs)
    assert [c["id"] for c in caps] == ["c1/mc/caption", "c2/mc/caption"]
    assert caps[0]["messages"] == [
        {"role": "user", "content": "<video>" + prompts.CAPTION_INSTRUCTION},
        {"role": "assistant", "content": "<observation>The view slides left.</observation>"}]
    assert caps[1]["messages"][1]["content"] == "<observation>Still.</observation>"
    assert caps[1]["videos"] == ["c2.mp4"] and caps[0]["task"] == "caption"
    bad = [{**recs[2], "messages": [recs[2]["messages"][0],
                                    {"role": "assistant", "content": "<answer>A</answer>"}]}]
    with pytest.raises(DataError, match=r"c2/mc.*messages\[1\].content"):
        convert.caption_records(bad)
