"""The shipped pre-trained bases (camreasoner.dev.base_models) and the demo's base_model key."""

from __future__ import annotations

import dataclasses
import json
import logging
import re

import pytest

from camreasoner.dev.base_models import SHIPPED_BASES, base_model_path, parameter_count
from camreasoner.errors import UserError


def test_parameter_count_reads_the_safetensors_headers(tmp_path):
    import torch
    from safetensors.torch import save_file

    save_file({"a": torch.zeros(2, 3), "b": torch.zeros(4)}, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text("{}")
    assert parameter_count(tmp_path) == 2 * 3 + 4


def test_an_unknown_base_is_one_error_naming_it(tmp_path):
    with pytest.raises(UserError, match=r"base model 'motion_bsae': no config.json .*motion_captioner"):
        base_model_path("motion_bsae")
    (tmp_path / "config.json").write_text("{}")
    assert base_model_path(str(tmp_path)) == tmp_path  # a folder of one's own
    with pytest.raises(UserError, match="no \\*.safetensors"):
        parameter_count(tmp_path)


def test_motion_captioner_is_the_shape_its_readme_states():
    path = base_model_path("motion_captioner")
    assert SHIPPED_BASES == ("motion_captioner",)
    cfg = json.loads((path / "config.json").read_text())
    text, vision = cfg["text_config"], cfg["vision_config"]
    assert (text["hidden_size"], text["num_hidden_layers"], text["num_attention_heads"]) == (128, 2, 2)
    assert (vision["hidden_size"], vision["depth"], vision["num_heads"]) == (128, 4, 4)
    # 1.9M parameters, as the README and camreasoner.dev.base_models say
    assert parameter_count(path) == 1_884_544
    assert "1.9M" in (path / "README.md").read_text()


def test_the_default_demo_starts_from_the_shipped_base():
    """The cpu preset (the schema's defaults) names the shipped base and SFTs it with the
    pre-trained base's recipe, which keeps the vision tower the base learnt."""
    from pathlib import Path

    import yaml

    from camreasoner.demo import DemoConfig, load_preset

    cfg = load_preset("cpu")
    assert cfg == DemoConfig() and cfg.base_model == "motion_captioner"
    assert base_model_path(cfg.base_model).is_dir()
    recipe = Path(__file__).resolve().parents[1] / "LLaMA-Factory" / "recipes" / f"{cfg.sft.recipe}.yaml"
    assert yaml.safe_load(recipe.read_text())["freeze_vision_tower"] is True
    # the clips are the size the base was trained on (its README's rebuild command)
    assert f"--size {cfg.data.size}" in (base_model_path(cfg.base_model) / "README.md").read_text()


@pytest.mark.slow
def test_motion_captioner_describes_the_motion_of_clips_it_never_saw(tmp_path):
    """The base, through the evaluation's own backend and prompt (its processor, the fixed video
    positions, the training prompt of each multiple-choice item), writes the movement its chain
    would (the think's summary, "the camera pans right") for the demo's test clips (seed 10000;
    it was trained on seed 7) far above the commonest motion's rate: 17 of 24, the commonest
    motion 3 (2026-12-03). It fails if the asset, the prompt, the positions or the clips' pixels
    drift from what it was trained on."""
    from camreasoner import prompts
    from camreasoner.data.schema import read_items
    from camreasoner.eval.backends import HFBackend, Request
    from camreasoner.media.video import read_frames, resize_for_model
    from camreasoner.synth.build import build
    from camreasoner.vision import TINY_VISION

    clips = tmp_path / "clips"
    build(clips, 24, seed=10_000, size=112, frames=8, fps=2, chain_style="short")
    items = read_items(clips / "items_mc.jsonl")
    hf = HFBackend(str(base_model_path("motion_captioner")), device="cpu", max_new_tokens=48,
                   p_yes="letters")
    requests = []
    for item in items:
        video = read_frames(clips / "videos" / item.video, TINY_VISION)
        video = dataclasses.replace(video, frames=resize_for_model(video.frames, TINY_VISION))
        requests.append(Request(item.id, prompts.render_eval_prompt(item, "camreasoner"), video))
    said = [re.search(r"<think>(.*?)</think>", r.response) for r in hf.generate(requests)]
    truth = [re.search(r"<think>(.*?)</think>", i.extra["response"]).group(1) for i in items]
    hits = sum(bool(s) and s.group(1).strip() == t for s, t in zip(said, truth, strict=True))
    motions = [i.extra["motion"] for i in items]
    commonest = max(motions.count(m) for m in set(motions))
    assert hits >= max(12, 3 * commonest), (hits, commonest, [s and s.group(1) for s in said])


@pytest.mark.slow
def test_demo_starts_from_the_base_it_names(tmp_path, caplog):
    from camreasoner.demo import config_with, load_preset, run_demo
    from camreasoner.demo.config import DemoError

    cfg = config_with(load_preset("ci"), ["base_model=motion_captioner"])
    with caplog.at_level(logging.WARNING, logger="camreasoner.demo.run"):
        out = run_demo(tmp_path / "demo", cfg, until="model")
    assert not caplog.records  # the ci preset's model section is the schema's: nothing unread
    model = json.loads((out / "model" / ".done").read_text())  # the stage's result
    assert model["parameters"] == 1_884_544
    assert (tmp_path / "demo" / "model" / "motion_captioner" / "model.safetensors").read_bytes() == \
        (base_model_path("motion_captioner") / "model.safetensors").read_bytes()
    # a model section changed beside a base is not read: the log says so
    wider = config_with(cfg, ["model.hidden_size=96"])
    with caplog.at_level(logging.WARNING, logger="camreasoner.demo.run"):
        run_demo(tmp_path / "wider", wider, until="model")
    assert any("model section not used" in r.getMessage() for r in caplog.records)
    # a name that is neither shipped nor a folder: one error naming it, before any work
    bad = config_with(load_preset("ci"), ["base_model=motion_bsae"])
    with pytest.raises(DemoError, match="^base_model: base model 'motion_bsae': no config.json"):
        run_demo(tmp_path / "bad", bad, until="model")
    assert not (tmp_path / "bad").exists()
