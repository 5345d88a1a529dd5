"""The RL launchers: run_rl.sh / `camreasoner rl --backend verl` (data preparation and the exact
verl command; the run itself needs GPUs and vLLM), and the single-node TRL backend for real."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from camreasoner.rl.launch import latest_actor_checkpoint

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def synth_rl(tmp_path_factory):
    from camreasoner.synth.build import build

    out = tmp_path_factory.mktemp("synth_rl")
    build(out, clips=4, seed=9, size=96, frames=8, fps=2, motions=["Pan_Left", "Pan_Right"],
          progress=False)
    return out


def _dry_run(env_extra, tmp_path, *args):
    env = {**os.environ, "VENV": str(Path(sys.executable).parents[1]),
           "NGPUS": "2", "TP": "2", "OUTPUT_DIR": str(tmp_path / "rl"), "WORKERS": "0",
           **env_extra}
    r = subprocess.run(["bash", "local_scripts/run_rl.sh", "--dry-run", *args],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    cmd = r.stdout.strip().splitlines()[-1].split()
    value = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in cmd if "=" in a}
    return cmd, value


@pytest.mark.slow
def test_run_rl_sh_ours_prepares_videos_and_builds_the_verl_command(synth_rl, tmp_path):
    import pyarrow.parquet as pq

    cmd, value = _dry_run({"PROTOCOL": "camreasoner", "MODEL_PATH": "/m/sft",
                           "TRAIN_FILE": str(synth_rl / "items_mc.jsonl"),
                           "VIDEO_ROOT": str(synth_rl / "videos")}, tmp_path,
                          "trainer.total_epochs=3")
    assert cmd[1:3] == ["-m", "verl.trainer.main_ppo"]
    assert f"--config-path={REPO / 'EasyR1'}" in cmd
    assert "--config-name=qwen2_5_vl_7b_grpo_camreasoner" in cmd
    assert "actor_rollout_ref.model.path=/m/sft" in cmd and "trainer.n_gpus_per_node=2" in cmd
    assert "actor_rollout_ref.rollout.tensor_model_parallel_size=2" in cmd
    assert cmd[-1] == "trainer.total_epochs=3"  # the user's overrides come last
    rows = pq.read_table(value["data.train_files"]).to_pylist()
    assert len(rows) == 4 and all(len(r["videos"]) == 1 and "<video>" in r["prompt"][0]["content"]
                                  for r in rows)
    # no VAL_FILE: verl's (unused) validation set is a sample of the training rows, not all
    assert value["data.val_files"] != value["data.train_files"]
    assert pq.read_table(value["data.val_files"]).num_rows == 4  # all of them: fewer than 128


@pytest.mark.slow
def test_run_rl_sh_defaults_to_the_seeds_protocol(synth_rl, tiny_model, tmp_path):
    import pyarrow.parquet as pq

    cmd, value = _dry_run({"MODEL_PATH": str(tiny_model),
                           "TRAIN_FILE": str(synth_rl / "items_mc.jsonl"),
                           "VIDEO_ROOT": str(synth_rl / "videos")}, tmp_path)
    assert "--config-name=qwen2_5_vl_7b_grpo" in cmd
    rows = pq.read_table(value["data.train_files"]).to_pylist()
    # 1 fps frames of the 4 s clips (8 frames at 2 fps) as images: ffmpeg's fps filter keeps 4
    assert len(rows) == 4 and all(len(r["images"]) == 4 for r in rows)
    assert all(r["prompt"][0]["content"].startswith("<image>" * 4 + "Which") for r in rows)
    assert "videos" not in rows[0]


def test_bad_rl_items_stop_before_training(synth_rl, tmp_path):
    from camreasoner.data.schema import read_items, write_items

    items = read_items(synth_rl / "items_mc.jsonl")
    items[1].video = "missing.mp4"
    write_items(tmp_path / "bad.jsonl", items)
    r = subprocess.run([sys.executable, "-m", "camreasoner", "rl", "--model", "m", "--train-file",
                        str(tmp_path / "bad.jsonl"), "--video-root", str(synth_rl / "videos"),
                        "--out", str(tmp_path / "o"), "--dry-run"],
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 2
    assert "bad RL records" in r.stderr and "missing.mp4: file not found" in r.stderr


def test_latest_checkpoint(tmp_path):
    assert latest_actor_checkpoint(tmp_path) is None
    for step in (5, 20, 10):
        (tmp_path / f"global_step_{step}" / "actor").mkdir(parents=True)
    (tmp_path / "global_step_30").mkdir()  # no actor folder: an interrupted save
    assert latest_actor_checkpoint(tmp_path) == tmp_path / "global_step_20" / "actor"


def _tiny_spec(mode="video"):
    from camreasoner.vision import VisionSpec

    return VisionSpec(fps=2.0, max_frames=4, min_pixels=3136, max_pixels=12544, mode=mode)


@pytest.fixture(scope="module")
def warm_tiny(tiny_model, synth_rl, tmp_path_factory):
    """The tiny model after a few plain teacher-forced steps on O-T-A answers (both letters, each
    clip as a video and as frames), so its samples are well formed and differ in the letter:
    GRPO then has reward variance to learn from. (A random model never writes the format, every
    reward is 0 and no gradient flows.)"""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from camreasoner.media.model_inputs import chat_text, processor_inputs
    from camreasoner.rl.trl_backend import TrlConfig, build_dataset

    cfg = TrlConfig(model=str(tiny_model), items=str(synth_rl / "items_mc.jsonl"),
                    video_root=str(synth_rl / "videos"), output_dir="unused", vision=_tiny_spec())
    data = build_dataset(cfg)
    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_pretrained(tiny_model)
    proc = AutoProcessor.from_pretrained(tiny_model)
    batches = []
    for row in data.rows:
        clip = data.clips[row["clip"]]
        for frames_mode in (False, True):
            chat = chat_text(proc, row["prompt"], len(clip.frames) if frames_mode else None)
            n = processor_inputs(proc, [chat], [clip], frames_mode)["input_ids"].shape[1]
            for letter in "AB":
                target = (f"<observation>o</observation><think>t</think><answer>{letter}"
                          "</answer><|im_end|>")
                enc = processor_inputs(proc, [chat + target], [clip], frames_mode)
                labels = enc["input_ids"].clone()
                labels[:, :n] = -100
                batches.append((enc, labels))
    # 1e-3: at 3e-3 the warm-up did not fit the targets on the MC items of 2026-12-03 (its
    # greedy chains repeated <think>, without <answer>)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for step in range(240):
        enc, labels = batches[step % len(batches)]
        loss = model(**enc, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    out = tmp_path_factory.mktemp("warm")
    model.save_pretrained(out)
    proc.save_pretrained(out)
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "freeze"), [("video", False), ("frames", False), ("video", True)])
def test_trl_backend_trains_for_real_and_evaluates_on_its_input(warm_tiny, synth_rl, tmp_path,
                                                                 mode, freeze):
    import torch
    from safetensors.torch import load_file

    from camreasoner.rl.trl_backend import TrlConfig, train

    cfg = TrlConfig(model=str(warm_tiny), items=str(synth_rl / "items_mc.jsonl"),
                    video_root=str(synth_rl / "videos"), output_dir=str(tmp_path / "trl"),
                    vision=_tiny_spec(mode), max_steps=4, learning_rate=1e-3, num_generations=4,
                    per_device_batch=4, max_completion_length=24, temperature=0.7, use_cpu=True,
                    freeze_vision_tower=freeze)
    trainer = train(cfg)
    before = load_file(warm_tiny / "model.safetensors")
    after = load_file(tmp_path / "trl" / "final" / "model.safetensors")
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    # the vision tower learns from the clip, unless frozen
    assert any("visual" in k for k in changed) != freeze, changed
    assert any("visual" not in k for k in changed)
    logs = [h for h in trainer.state.log_history if "rewards/format_reward/mean" in h]
    assert len(logs) == 4 and any(h["reward_std"] > 0 for h in logs)
    assert all(0 <= h["rewards/consistency_reward/mean"] <= 1 for h in logs)
    # The trained model answers through the eval runner on the input it trained on.
    r = subprocess.run([sys.executable, "-m", "camreasoner", "eval", "run", "--model",
                        str(tmp_path / "trl" / "final"), "--items", cfg.items, "--video-root",
                        cfg.video_root, "--out", str(tmp_path / "run"), "--vision", "tiny",
                        "--protocol", "camreasoner",  # TRL trained on our prompt, not the seed's
                        "--vision-mode", mode, "--max-new-tokens", "24", "--workers", "0",
                        "--no-progress"], capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    preds = [json.loads(x) for x in (tmp_path / "run" / "predictions.jsonl").open()]
    assert len(preds) == 4 and all("<answer>" in p["response"] for p in preds)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["video", "frames"])
def test_grpo_loss_pass_scores_each_row_as_a_lone_forward_on_the_clip_does(synth_rl, tmp_path,
                                                                          mode):
    """The log-probabilities GRPO's loss uses, from the batches TRL buffers (two steps' worth,
    shuffled and split) whose rows differ in length, equal each row's own forward pass on its
    clip, as the evaluation builds it. Without
    ``mm_token_type_ids`` (TRL 0.24's own loss pass) the vision tokens get text positions and the
    numbers differ: the test tells the two apart. The model is the shipped captioner, which
    reads the clip through its positions (a random tiny model hardly does)."""
    import torch

    from camreasoner.dev.base_models import base_model_path
    from camreasoner.media.model_inputs import chat_text, processor_inputs
    from camreasoner.rl.trl_backend import TrlConfig, make_trainer
    from camreasoner.rl.trl_clip_trainer import CLIP_KEYS

    cfg = TrlConfig(model=str(base_model_path("motion_captioner")),
                    items=str(synth_rl / "items_mc.jsonl"), video_root=str(synth_rl / "videos"),
                    output_dir=str(tmp_path / "trl"), vision=_tiny_spec(mode), max_steps=1,
                    num_generations=2, per_device_batch=4, max_completion_length=6,
                    temperature=0.7, use_cpu=True, extra={"steps_per_generation": 2})
    trainer = make_trainer(cfg)
    # four prompts of different lengths (so the batch is padded), each sampled twice: the
    # generation batch of two steps, which TRL shuffles and splits into two buffered batches
    rows = [dict(trainer.train_dataset[i]) for i in range(4)]
    rows = [{**row, "prompt": row["prompt"] + " Think it over." * k} for k, row in enumerate(rows)]
    batch = [row for row in rows for _ in range(cfg.num_generations)]
    torch.manual_seed(0)
    trainer.model.train()  # TRL buffers, shuffles and splits only in training (no dropout here)
    buffered = [trainer._prepare_inputs(batch) for _ in range(2)]
    proc, model = trainer.processing_class, trainer.model
    lone_inputs = []
    for row in rows:
        clip = trainer.clips[row["clip"]]
        chat = chat_text(proc, row["prompt"], len(clip.frames) if mode == "frames" else None)
        lone_inputs.append(dict(processor_inputs(proc, [chat], [clip], mode == "frames")))
    scored = 0
    for chunk in buffered:
        assert chunk["prompt_mask"].sum(1).unique().numel() > 1
        ids = torch.cat([chunk["prompt_ids"], chunk["completion_ids"]], dim=1)
        mask = torch.cat([chunk["prompt_mask"], chunk["completion_mask"]], dim=1)
        keep = chunk["completion_ids"].size(1)
        # as _compute_loss hands the batch's clip tensors to the pass
        trainer._loss_clip_inputs = {k: chunk[k] for k in CLIP_KEYS}
        try:
            with torch.no_grad():
                batched, _ = trainer._get_per_token_logps_and_entropies(
                    model, ids, mask, keep, batch_size=3)  # chunks of 3 rows and 1
        finally:
            trainer._loss_clip_inputs = None
        for j in range(ids.size(0)):
            prompt = chunk["prompt_ids"][j][chunk["prompt_mask"][j].bool()]
            (k,) = [k for k, x in enumerate(lone_inputs) if torch.equal(x["input_ids"][0], prompt)]
            completion = chunk["completion_ids"][j][chunk["completion_mask"][j].bool()]
            n = completion.numel()
            lone = _lone_log_probs(model, lone_inputs[k], completion, cfg.temperature,
                                   positions=True)
            torch.testing.assert_close(batched[j, :n], lone, rtol=1e-4, atol=1e-4)
            text_positions = _lone_log_probs(model, lone_inputs[k], completion, cfg.temperature,
                                             positions=False)
            assert (text_positions - batched[j, :n]).abs().max() > 1e-3, "positions should matter"
            scored += 1
    assert scored == len(batch)


def _lone_log_probs(model, inputs, completion, temperature, positions):
    """One row's completion log-probabilities at ``temperature`` from its own unpadded forward
    pass; ``positions``: with ``mm_token_type_ids`` (the vision tokens' positions) or without
    (transformers then gives every token a text position)."""
    import torch

    n = completion.numel()
    ids = torch.cat([inputs["input_ids"][0], completion])[None]
    kw = {key: v for key, v in inputs.items()
          if key not in ("input_ids", "attention_mask", "mm_token_type_ids")}
    if positions:
        kw["mm_token_type_ids"] = torch.cat([inputs["mm_token_type_ids"][0],
                                             torch.zeros(n, dtype=ids.dtype)])[None]
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids), **kw).logits
    logits = logits[0, -n - 1:-1] / temperature
    return torch.log_softmax(logits.float(), -1).gather(1, completion[:, None])[:, 0]


@pytest.mark.slow
def test_reward_weights_follow_recipe_and_overrides():
    from camreasoner.rl.launch import VerlLaunch, reward_weights

    cfg = VerlLaunch(model="m", train_file="t.parquet", val_file=None, output_dir="o",
                     recipe="tiny_gpu_grpo")
    assert reward_weights(cfg) == {"accuracy": 0.8, "format": 0.1, "consistency": 0.1}
    seed = VerlLaunch(model="m", train_file="t.parquet", val_file=None, output_dir="o")
    assert seed.recipe_name() == "qwen2_5_vl_7b_grpo"
    assert reward_weights(seed) == {"accuracy": 0.9, "format": 0.1, "consistency": 0.0}
    cfg.overrides = ["reward.custom_reward_function.reward_kwargs.w_format=0.2"]
    assert reward_weights(cfg)["format"] == 0.2


def test_parquet_takes_a_vision_preset_name_or_the_spec_itself(synth_rl, tmp_path):
    """The demo hands its own sampling spec to verl; run_rl.sh hands a preset name (VISION)."""
    import pyarrow.parquet as pq

    from camreasoner.rl.launch import VerlLaunch, prepare_parquet
    from camreasoner.vision import VisionSpec

    items, videos = str(synth_rl / "items_mc.jsonl"), str(synth_rl / "videos")

    def launch(vision):
        return VerlLaunch(model="m", train_file=items, val_file=None, output_dir="o",
                          protocol="camreasoner", vision=vision)

    by_name = prepare_parquet(items, videos, tmp_path / "a", "train", launch("tiny"))
    own = VisionSpec(fps=2.0, max_frames=6, min_pixels=4 * 784, max_pixels=8 * 784)
    by_spec = prepare_parquet(items, videos, tmp_path / "b", "train", launch(own))
    tiny = pq.read_table(by_name).to_pylist()[0]["videos"][0]
    mine = pq.read_table(by_spec).to_pylist()[0]["videos"][0]
    assert (tiny["fps"], tiny["max_frames"], tiny["max_pixels"]) == (2.0, 8, 16 * 784)
    assert (mine["fps"], mine["max_frames"], mine["max_pixels"]) == (2.0, 6, 8 * 784)


@pytest.mark.slow
def test_trl_dataset_decoded_in_workers_through_the_cache_equals_the_serial_one(synth_rl, tmp_path):
    import numpy as np

    from camreasoner.rl.trl_backend import TrlConfig, build_dataset

    base = {"model": "unused", "items": str(synth_rl / "items_binary.jsonl"),
            "video_root": str(synth_rl / "videos"), "output_dir": "unused", "vision": _tiny_spec()}
    serial = build_dataset(TrlConfig(**base))
    cache = tmp_path / "cache"
    parallel = build_dataset(TrlConfig(**base, workers=2, cache_dir=str(cache)))
    from_cache = build_dataset(TrlConfig(**base, cache_dir=str(cache)))  # decodes nothing now
    videos = {json.loads(x)["video"] for x in
              (synth_rl / "items_binary.jsonl").read_text().splitlines()}
    # one decode a clip, though each clip has 15 binary items
    assert len(list(cache.glob("*.npy"))) == len(serial.clips) == len(videos) < len(serial.rows)
    for data in (parallel, from_cache):
        assert list(data.rows) == list(serial.rows)
        assert data.clips.keys() == serial.clips.keys()
        for key, clip in serial.clips.items():
            assert np.array_equal(data.clips[key].frames, clip.frames)
            assert data.clips[key].metadata() == clip.metadata()


def test_trl_dataset_max_items_takes_a_seeded_sample_of_that_many(synth_rl):
    from camreasoner.rl.trl_backend import TrlConfig, build_dataset

    base = {"model": "unused", "items": str(synth_rl / "items_mc.jsonl"),
            "video_root": str(synth_rl / "videos"), "output_dir": "unused", "vision": _tiny_spec()}
    lines = (synth_rl / "items_mc.jsonl").read_text().splitlines()
    every = build_dataset(TrlConfig(**base))
    assert len(every.rows) == len(lines) > 3
    a = build_dataset(TrlConfig(**base, max_items=3))
    b = build_dataset(TrlConfig(**base, max_items=3))

    def rows(data):  # what tells items apart: the clip's pixels, the question and the answer
        return [(data.clips[r["clip"]].frames.tobytes(), r["question"], r["answer"])
                for r in data.rows]

    assert len(a.rows) == 3 and rows(a) == rows(b)  # the same seed takes the same items
    assert len(set(rows(a))) == 3 and set(rows(a)) <= set(rows(every))
    assert len(a.clips) == 3  # only the sampled items' clips are decoded
    assert len(build_dataset(TrlConfig(**base, max_items=len(lines) + 5)).rows) == len(lines)


def test_trl_dataset_names_the_item_whose_clip_cannot_be_decoded(synth_rl, tmp_path):
    import shutil

    from camreasoner.rl.trl_backend import TrlConfig, build_dataset

    videos = tmp_path / "videos"
    shutil.copytree(synth_rl / "videos", videos)
    first = json.loads((synth_rl / "items_mc.jsonl").read_text().splitlines()[0])
    (videos / first["video"]).write_bytes(b"not a video")
    with pytest.raises(ValueError, match=rf"item '{first['id']}'"):
        build_dataset(TrlConfig(model="unused", items=str(synth_rl / "items_mc.jsonl"),
                                video_root=str(videos), output_dir="unused", workers=2))
