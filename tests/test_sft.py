"""SFT on LLaMA-Factory: recipes through LLaMA-Factory's own parser, and real CPU training of the
tiny model through run_sft.sh (full and LoRA), with the data check, resume and curves."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from camreasoner.vision import DEFAULT_VISION, SEED_SFT_VISION, TINY_VISION

REPO = Path(__file__).resolve().parents[1]
RECIPES = sorted((REPO / "LLaMA-Factory" / "recipes").glob("*.yaml"))
SEED_RECIPES = ("qwen2_5_vl_7b_full_sft", "qwen2_5_vl_3b_full_sft")


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipes_parse_with_llamafactory_and_share_the_vision_spec(recipe, tiny_model):
    from llamafactory.hparams.parser import _parse_train_args

    text = recipe.read_text()
    assert text.startswith("# Launch:"), "every recipe opens with its launch command"
    cfg = yaml.safe_load(text)
    spec = (TINY_VISION if recipe.stem.startswith("tiny") else
            SEED_SFT_VISION if recipe.stem in SEED_RECIPES else DEFAULT_VISION)
    if "image_min_pixels" in cfg:  # a frames-mode recipe (the GPU demo's)
        spec = spec.with_overrides(mode="frames")
    assert {k: cfg[k] for k in spec.llamafactory_args()} == spec.llamafactory_args()
    if "deepspeed" in cfg:
        assert (REPO / cfg["deepspeed"]).is_file()
    # The machine here has no GPU and no DeepSpeed: only those keys are changed for parsing;
    # every other key and value goes through LLaMA-Factory's own dataclasses.
    cfg.update(model_name_or_path=str(tiny_model), bf16=False, use_cpu=True)
    cfg.pop("deepspeed", None)
    _, data_args, _, finetuning_args, _ = _parse_train_args(cfg)
    assert data_args.template == "qwen2_vl" and finetuning_args.stage == "sft"


@pytest.mark.parametrize("stem", SEED_RECIPES)
def test_seed_recipes_pin_the_seeds_settings(stem):
    """The seed's qwen2_5vl_full_sft.yaml (SEED_PROTOCOL.md, "SFT settings"), key by key."""
    cfg = yaml.safe_load((REPO / "LLaMA-Factory" / "recipes" / f"{stem}.yaml").read_text())
    assert {k: cfg[k] for k in (
        "finetuning_type", "freeze_vision_tower", "freeze_multi_modal_projector",
        "freeze_language_model", "template", "cutoff_len", "max_samples",
        "per_device_train_batch_size", "gradient_accumulation_steps", "learning_rate",
        "num_train_epochs", "lr_scheduler_type", "warmup_ratio", "bf16", "image_max_pixels",
        "video_max_pixels")} == {
        "finetuning_type": "full", "freeze_vision_tower": True,
        "freeze_multi_modal_projector": True, "freeze_language_model": False,
        "template": "qwen2_vl", "cutoff_len": 16384, "max_samples": 15000,
        "per_device_train_batch_size": 1, "gradient_accumulation_steps": 2,
        "learning_rate": 1.0e-5, "num_train_epochs": 3.0, "lr_scheduler_type": "cosine",
        "warmup_ratio": 0.03, "bf16": True, "image_max_pixels": 262144,
        "video_max_pixels": 16384}
    assert "ds_z3" in cfg["deepspeed"]
    assert not {"enable_liger_kernel", "warmup_steps"} & set(cfg)


def test_seed_sft_video_keys_are_llamafactorys_own_defaults():
    """The seed set only video_max_pixels; the rest of SEED_SFT_VISION must be what
    LLaMA-Factory 0.9.5 uses when a recipe leaves them out."""
    import dataclasses

    from llamafactory.hparams import DataArguments, ModelArguments

    wanted = ("video_fps", "video_maxlen", "video_min_pixels")
    defaults = {f.name: f.default for cls in (DataArguments, ModelArguments)
                for f in dataclasses.fields(cls) if f.name in wanted}
    assert defaults == {"video_fps": 2.0, "video_maxlen": 128, "video_min_pixels": 256}
    assert SEED_SFT_VISION.llamafactory_args() == {
        "video_fps": 2.0, "video_maxlen": 128, "video_min_pixels": 256, "video_max_pixels": 16384}


def test_sft_uses_every_visible_gpu_unless_told(monkeypatch):
    from camreasoner import sft

    monkeypatch.setattr(sft, "visible_gpus", lambda: 8)
    env = sft.sft_env({}, {})
    assert env["NPROC_PER_NODE"] == "8" and env["FORCE_TORCHRUN"] == "1"
    assert sft.sft_env({}, {"NPROC_PER_NODE": "2"})["NPROC_PER_NODE"] == "2"
    monkeypatch.setattr(sft, "visible_gpus", lambda: 1)
    assert "FORCE_TORCHRUN" not in sft.sft_env({}, {})


@pytest.fixture(scope="module")
def synth_sft(tmp_path_factory):
    from camreasoner.synth.build import build

    out = tmp_path_factory.mktemp("synth_sft")
    build(out, clips=16, seed=1, size=96, frames=8, fps=2, progress=False)
    return out


def _run_sft(recipe, tiny_model, data_dir, out, *extra, media=None):
    env = {**os.environ, "VENV": str(Path(sys.executable).parents[1]), "RECIPE": recipe,
           "MODEL_PATH": str(tiny_model), "DATASET_DIR": str(data_dir),
           "MEDIA_DIR": str(media or data_dir / "videos"), "DATA": "synthetic_ota",
           "OUTPUT_DIR": str(out)}
    return subprocess.run(["bash", "local_scripts/run_sft.sh", *extra], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900, check=False)


def _losses(out):
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    return [h["loss"] for h in history if "loss" in h]


@pytest.mark.slow
def test_full_sft_trains_and_the_model_answers_in_ota(synth_sft, tiny_model, tmp_path):
    out = tmp_path / "sft"
    r = _run_sft("tiny_cpu_sft", tiny_model, synth_sft, out, "num_train_epochs=10",
                 "save_steps=1000")
    assert r.returncode == 0, r.stderr[-4000:]
    losses = _losses(out)
    assert len(losses) == 120  # 48 chains / batch 4 x 10 epochs
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10 - 3.0  # 6.9 -> ~1 when measured
    assert (out / "training_curves.png").stat().st_size > 10_000
    run = subprocess.run([sys.executable, "-m", "camreasoner", "eval", "run", "--model", str(out),
                          "--items", str(synth_sft / "items_mc.jsonl"), "--video-root",
                          str(synth_sft / "videos"), "--out", str(tmp_path / "eval"), "--vision",
                          "tiny", "--max-new-tokens", "120", "--workers", "0", "--no-progress"],
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    preds = [json.loads(x) for x in (tmp_path / "eval" / "predictions.jsonl").open()]
    assert sum(p["response"].startswith("<observation>") for p in preds) >= 12


@pytest.mark.slow
def test_lora_sft_trains_and_its_merged_export_loads(synth_sft, tiny_model, tmp_path):
    out, merged = tmp_path / "lora", tmp_path / "merged"
    r = _run_sft("tiny_cpu_lora_sft", tiny_model, synth_sft, out, "--export-lora-to", str(merged),
                 "num_train_epochs=1")
    assert r.returncode == 0, r.stderr[-4000:]
    assert (out / "adapter_model.safetensors").is_file()
    losses = _losses(out)
    assert len(losses) == 12 and losses[-1] < losses[0]
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(merged)
    base = load_file(tiny_model / "model.safetensors")
    after = {k: v for k, v in model.state_dict().items()}
    assert any(not torch.equal(base[k], after[k]) for k in base if k in after)


@pytest.mark.slow
def test_resume_and_the_data_check(synth_sft, tiny_model, tmp_path):
    out = tmp_path / "resume"
    r = _run_sft("tiny_cpu_sft", tiny_model, synth_sft, out, "max_steps=4", "save_steps=2")
    assert r.returncode == 0, r.stderr[-4000:]
    r = _run_sft("tiny_cpu_sft", tiny_model, synth_sft, out, "max_steps=6", "save_steps=2")
    assert r.returncode == 0, r.stderr[-4000:]
    assert "Resuming training from" in r.stdout + r.stderr and "checkpoint-4" in r.stdout + r.stderr
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 6
    # A missing video stops the run before training, naming the item.
    videos = tmp_path / "videos"
    videos.mkdir()
    import shutil

    for f in (synth_sft / "videos").iterdir():
        if f.name != "clip000003.mp4":
            shutil.copy(f, videos / f.name)
    r = _run_sft("tiny_cpu_sft", tiny_model, synth_sft, tmp_path / "bad", media=videos)
    assert r.returncode == 2
    assert "has 3 bad record(s)" in r.stderr and "clip000003.mp4: file not found" in r.stderr
    assert r.stderr.count("file not found") == 3  # its 3 chains (1 MC + 2 binary), nothing else


def test_frames_datasets_are_checked_before_training(synth_sft, tmp_path):
    from camreasoner.data.convert import sharegpt_as_frames
    from camreasoner.data.schema import DataError
    from camreasoner.sft import prepare_datasets

    spec = TINY_VISION.with_overrides(mode="frames")
    data = tmp_path / "data"
    sharegpt_as_frames(synth_sft / "sft.json", synth_sft / "videos", spec,
                       data / "sft_frames.json", "frames_set")
    cfg = {"dataset": "frames_set", "dataset_dir": str(data), "media_dir": str(data),
           "output_dir": str(tmp_path / "out")}
    n = len(json.loads((synth_sft / "sft.json").read_text()))
    total, settings = prepare_datasets(cfg)
    assert total == n
    # LLaMA-Factory gets a copy whose images are absolute paths that exist
    copy = json.loads((Path(settings["dataset_dir"]) / "frames_set.json").read_text())
    assert len(copy) == n and all(Path(i).is_absolute() and Path(i).is_file()
                                  for rec in copy for i in rec["images"])
    recs = json.loads((data / "sft_frames.json").read_text())
    (data / recs[0]["images"][1]).unlink()  # a lost frame
    recs[2]["messages"][0]["content"] = recs[2]["messages"][0]["content"].replace("<image>", "", 1)
    (data / "sft_frames.json").write_text(json.dumps(recs))
    with pytest.raises(DataError) as e:
        prepare_datasets(cfg)
    msg = str(e.value)
    assert f"[0]: item {recs[0]['id']!r}: field 'images': {recs[0]['images'][1]}" in msg
    assert (f"[2]: item {recs[2]['id']!r}: field 'images': 8 images but a different number of "
            "<image> tags") in msg


def test_curves_are_skipped_with_a_warning_when_no_step_was_logged(tmp_path, caplog):
    import json
    import logging

    from camreasoner.sft import plot_curves

    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": [
        {"train_runtime": 3.1, "step": 2}]}))  # 2 steps, logging_steps 5: only the summary
    with caplog.at_level(logging.WARNING):
        assert plot_curves(tmp_path) is None
    assert "no per-step logs" in caplog.text and not (tmp_path / "training_curves.png").exists()
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": [
        {"loss": 2.0, "step": 1}, {"loss": 1.5, "step": 2, "learning_rate": 1e-3}]}))
    assert plot_curves(tmp_path) == tmp_path / "training_curves.png"


def test_sft_env_gives_forked_tokenizer_workers_one_thread_each():
    from camreasoner.sft import sft_env

    # 8 forked workers: each one torch thread, unless the caller chose
    assert sft_env({"preprocessing_num_workers": 8}, {})["OMP_NUM_THREADS"] == "1"
    assert sft_env({"preprocessing_num_workers": 8}, {"OMP_NUM_THREADS": "4"})["OMP_NUM_THREADS"] == "4"
    # one process: left alone
    assert "OMP_NUM_THREADS" not in sft_env({"preprocessing_num_workers": 1}, {})
    assert "OMP_NUM_THREADS" not in sft_env({}, {})
    # several GPUs go through torchrun; NVLink multicast stays off (KINDS.md)
    env = sft_env({}, {"NPROC_PER_NODE": "2"})
    assert env["FORCE_TORCHRUN"] == "1" and env["NCCL_NVLS_ENABLE"] == "0"
    assert "FORCE_TORCHRUN" not in sft_env({}, {"NPROC_PER_NODE": "1"})
