"""The seed's three record formats (tests/fixtures/seed, written as SEED_PROTOCOL.md describes them)
through `data check`, `data convert`, SFT's data preparation and LLaMA-Factory's own dataset
builder, with every record accounted for."""

import json
import shutil
from pathlib import Path

import pytest

from camreasoner.data import readers
from camreasoner.data.schema import DataError, resolve_video
from tests.conftest import run_cli

FIXTURES = Path(__file__).parent / "fixtures" / "seed"
RL, EVAL, SFT = (FIXTURES / n for n in ("camerabench_rl.json", "camerabench_binary.json",
                                        "camerabench_sft.json"))


def good_only(src: Path, dst: Path, keep: int) -> Path:
    """The fixture's first ``keep`` records (its good ones)."""
    dst.write_text(json.dumps(json.loads(src.read_text())[:keep]))
    return dst


@pytest.mark.parametrize("path,fmt,n,good,bad_fields", [
    (RL, "seed-rl", 7, 5, ["answer", "videos"]),
    (EVAL, "seed-eval", 5, 4, ["solution"]),
    (SFT, "sharegpt", 4, 3, ["messages"]),
])
def test_each_format_is_detected_and_every_record_accounted_for(path, fmt, n, good, bad_fields):
    assert readers.detect_format(path) == fmt
    result = readers.read_records(path, collect=True)
    assert (result.format, result.n_records, len(result.items)) == (fmt, n, good)
    assert [e.field for e in result.errors] == bad_fields
    assert all(e.where.startswith(f"{path}[") for e in result.errors)
    with pytest.raises(DataError, match=rf"{path.name}\[\d\]"):
        readers.read_records(path)  # without collect the first bad record stops the read


def test_seed_rl_records_hand_checked():
    items = readers.read_seed_rl(good_only(RL, Path("/tmp") / "rl4.json", 4))
    first, second, mc = items[0], items[1], items[2]
    assert (first.id, first.video, first.answer, first.task) == ("rl4_1", "video/pan.mp4", "B",
                                                                   "camera")
    # "./video/..." keeps only the seed's prefix; a bare letter answer is read as well
    assert (second.video, second.answer) == ("video/pan.mp4", "A")
    assert mc.options == ["A. pan left", "B. tilt up", "C. static"] and mc.answer == "B"
    assert first.extra == {"problem_type": "multiple choice", "data_type": "video"}


def test_the_seed_prefix_names_the_video_root(tmp_path, clip_root):
    # Our roots are the seed's video/ folders: the prefix maps onto the root itself ...
    assert resolve_video(clip_root, "video/pan.mp4") == (clip_root / "pan.mp4").resolve()
    assert resolve_video(clip_root, "./video/sub/static.mp4") == (
        clip_root / "sub" / "static.mp4").resolve()
    # ... unless the root has a video/ folder of its own (the seed's stage-folder layout).
    stage = tmp_path / "Inference"
    shutil.copytree(clip_root, stage / "video")
    assert resolve_video(stage, "video/pan.mp4") == (stage / "video" / "pan.mp4").resolve()
    with pytest.raises(DataError, match="escapes the video root"):
        resolve_video(clip_root, "video/../../x.mp4")


@pytest.mark.parametrize("path,summary,bad_lines", [
    (RL, "7 records (seed-rl), 4 videos checked, 3 bad",
     ["[4]: id 'camerabench_rl_5': schema: field 'answer'",
      "[5]: id 'camerabench_rl_6': schema: field 'videos': missing",
      "[6]: id 'camerabench_rl_7': video video/missing.mp4: file not found"]),
    (EVAL, "5 records (seed-eval), 3 videos checked, 1 bad",
     ["[4]: id 'Static_5': schema: field 'solution': missing"]),
    (SFT, "4 records (sharegpt), 2 videos checked, 1 bad",
     ["[3]: id 'camerabench_sft_4': schema: field 'messages': assistant turn has no readable"]),
])
def test_data_check_reports_every_bad_record_and_counts_the_rest(path, summary, bad_lines,
                                                                   clip_root):
    r = run_cli(["data", "check", str(path), "--video-root", str(clip_root), "--workers", "1"])
    assert r.returncode == 1, r.stderr
    assert summary in r.stdout
    for line in bad_lines:
        assert f"{path}{line}" in r.stdout, r.stdout


def test_convert_writes_nothing_partial_unless_asked_to_skip(tmp_path):
    out = tmp_path / "rl.jsonl"
    r = run_cli(["data", "convert", str(RL), "--to", "items", "--out", str(out)])
    assert r.returncode == 2 and not out.exists()
    assert "2 of 7 records cannot be read, nothing written" in r.stderr
    assert "camerabench_rl.json[4]" in r.stderr and "camerabench_rl.json[5]" in r.stderr
    r = run_cli(["data", "convert", str(RL), "--to", "items", "--out", str(out), "--skip-bad"])
    assert r.returncode == 0, r.stderr
    assert len(out.read_text().splitlines()) == 5
    skipped = Path(str(out) + ".skipped.txt").read_text().splitlines()
    assert len(skipped) == 2 and "[4]" in skipped[0] and "[5]" in skipped[1]
    assert r.stderr.count("camreasoner: skipped ") == 2 and "2 record(s) skipped" in r.stderr


def test_eval_and_sft_records_convert_to_items_and_sharegpt(tmp_path):
    r = run_cli(["data", "convert", str(good_only(EVAL, tmp_path / "e.json", 4)), "--to",
                 "items", "--out", str(tmp_path / "e.jsonl")])
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in (tmp_path / "e.jsonl").read_text().splitlines()]
    assert [(x["id"], x["video"], x["answer"], x["task"]) for x in rows] == [
        ("Pan_Left_1", "video/pan.mp4", "B", "Pan_Left"), ("Pan_Left_2", "video/tilt.mp4", "A",
                                                           "Pan_Left"),
        ("Tilt_Up_3", "video/tilt.mp4", "B", "Tilt_Up"),
        ("Static_4", "video/sub/static.mp4", "B", "Static")]
    r = run_cli(["data", "convert", str(good_only(SFT, tmp_path / "s.json", 3)), "--to",
                 "sharegpt", "--out", str(tmp_path / "sft" / "sft.json")])
    assert r.returncode == 0, r.stderr
    back = readers.read_sharegpt(tmp_path / "sft" / "sft.json")
    theirs = readers.read_sharegpt(tmp_path / "s.json")
    assert [(b.question, b.options, b.answer, b.extra["response"]) for b in back] == [
        (t.question, t.options, t.answer, t.extra["response"]) for t in theirs]


@pytest.mark.slow
def test_sft_prepares_the_seeds_file_for_llamafactory(tmp_path, clip_root, tiny_model):
    """run_sft.sh's data step on the seed's ShareGPT file: the bad record stops it, named; the
    good ones go to a copy with resolved paths that LLaMA-Factory's own builder loads whole."""
    from camreasoner.sft import prepare_datasets

    data = tmp_path / "lf"
    data.mkdir()
    shutil.copy(SFT, data / "camerabench_sft.json")
    info = json.loads((Path(__file__).parents[1] / "LLaMA-Factory" / "data" /
                       "dataset_info.json").read_text())["camerabench_sft"]
    (data / "dataset_info.json").write_text(json.dumps(
        {"camerabench_sft": {**info, "file_name": "camerabench_sft.json"}}))
    cfg = {"dataset": "camerabench_sft", "dataset_dir": str(data), "media_dir": str(clip_root),
           "output_dir": str(tmp_path / "out")}
    with pytest.raises(DataError, match=r"(?s)1 bad record.*camerabench_sft.json\[3\]"):
        prepare_datasets(cfg)
    good_only(SFT, data / "camerabench_sft.json", 3)
    n, settings = prepare_datasets(cfg)
    copy = json.loads((Path(settings["dataset_dir"]) / "camerabench_sft.json").read_text())
    assert n == 3 and [r["videos"] for r in copy] == [
        [str((clip_root / v).resolve())] for v in ("pan.mp4", "pan.mp4", "sub/static.mp4")]
    assert [r["messages"] for r in copy] == [
        r["messages"] for r in json.loads((data / "camerabench_sft.json").read_text())]

    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    model_args, data_args, training_args, _, _ = get_train_args({
        "model_name_or_path": str(tiny_model), "stage": "sft", "do_train": True,
        "finetuning_type": "full", "template": "qwen2_vl", "cutoff_len": 4096,
        "output_dir": str(tmp_path / "lf_out"), "use_cpu": True, "bf16": False,
        "report_to": "none", "video_fps": 2.0, "video_maxlen": 8, "video_max_pixels": 12544,
        "video_min_pixels": 3136, **{k: settings[k] for k in ("dataset_dir", "media_dir")},
        "dataset": "camerabench_sft", "preprocessing_num_workers": 1,
        "overwrite_cache": True})
    tokenizer_module = load_tokenizer(model_args)
    template = get_template_and_fix_tokenizer(tokenizer_module["tokenizer"], data_args)
    dataset = get_dataset(template, model_args, data_args, training_args, "sft",
                          **tokenizer_module)["train_dataset"]
    assert len(dataset) == 3
    video_pad = tokenizer_module["tokenizer"].convert_tokens_to_ids("<|video_pad|>")
    assert all(video_pad in row["input_ids"] for row in dataset)


@pytest.mark.slow
def test_run_rl_sh_takes_the_seeds_rl_file(tmp_path, clip_root, tiny_model):
    """The seed's RL JSON through run_rl.sh's data step: bad records stop it, all listed; the good
    ones become verl rows (1 fps frames as images) that verl's own RLHFDataset reads whole."""
    import os
    import subprocess
    import sys

    import pyarrow.parquet as pq
    from omegaconf import OmegaConf
    from transformers import AutoProcessor
    from verl.utils.dataset.rl_dataset import RLHFDataset

    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "VENV": str(Path(sys.executable).parents[1]), "MODEL_PATH": str(tiny_model),
           "VIDEO_ROOT": str(clip_root), "WORKERS": "0", "NGPUS": "1"}

    def run(train, out):
        return subprocess.run(["bash", "local_scripts/run_rl.sh", "--dry-run"], cwd=repo,
                              env={**env, "TRAIN_FILE": str(train), "OUTPUT_DIR": str(out)},
                              capture_output=True, text=True, timeout=300, check=False)

    r = run(RL, tmp_path / "bad")
    assert r.returncode == 2 and "bad RL records" in r.stderr
    for where in ("[4]", "[5]", "[6]"):
        assert f"camerabench_rl.json{where}" in r.stderr
    r = run(good_only(RL, tmp_path / "rl.json", 4), tmp_path / "good")
    assert r.returncode == 0, r.stderr[-3000:]
    parquet = tmp_path / "good" / "data" / "train.parquet"
    rows = pq.read_table(parquet).to_pylist()
    # the clips are 1 s: ffmpeg's fps=1 filter keeps 1 frame of each
    assert len(rows) == 4 and [len(r["images"]) for r in rows] == [1, 1, 1, 1]
    assert [r["reward_model"]["ground_truth"] for r in rows] == ["B", "A", "B", "B"]
    processor = AutoProcessor.from_pretrained(tiny_model)
    config = OmegaConf.create({"prompt_key": "prompt", "image_key": "images",
                               "max_prompt_length": 16384, "filter_overlong_prompts": True,
                               "filter_overlong_prompts_workers": 1, "truncation": "error",
                               "return_raw_chat": True, "cache_dir": str(tmp_path / "cache")})
    assert len(RLHFDataset(str(parquet), processor.tokenizer, config, processor)) == 4
