import json

from camreasoner import prompts
from camreasoner.dev.tiny_model import SPECIAL_TOKENS, TinyModelSpec
from camreasoner.media.video import read_frames
from camreasoner.vision import TINY_VISION


def test_mrope_sections_sum_to_half_head_dim():
    spec = TinyModelSpec()
    assert spec.head_dim == 16 and spec.mrope_section == [2, 3, 3]
    assert sum(TinyModelSpec(hidden_size=128, num_heads=4).mrope_section) == 16


def test_tiny_model_loads_and_generates_from_a_video(tiny_model, clip_root):
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from transformers.video_utils import VideoMetadata

    meta = json.loads((tiny_model / "camreasoner_tiny.json").read_text())
    assert meta["parameters"] < 1_000_000
    processor = AutoProcessor.from_pretrained(tiny_model)
    model = AutoModelForImageTextToText.from_pretrained(tiny_model)
    tok = processor.tokenizer
    config = model.config
    assert config.video_token_id == tok.convert_tokens_to_ids("<|video_pad|>")
    assert config.vision_start_token_id == tok.convert_tokens_to_ids("<|vision_start|>")
    for t in SPECIAL_TOKENS:
        assert tok.convert_tokens_to_ids(t) is not None and tok.convert_tokens_to_ids(t) < len(tok)
    text = "<observation>The scene slides left.</observation><answer>B</answer>"
    assert tok.decode(tok(text)["input_ids"]) == text

    video = read_frames(clip_root / "pan.mp4", TINY_VISION)
    prompt = prompts.render_prompt("Does the camera pan to the left?", prompts.YES_NO_OPTIONS)
    chat = processor.apply_chat_template(prompts.chat_messages(prompt), tokenize=False,
                                         add_generation_prompt=True)
    inputs = processor(text=[chat], videos=[video.frames], return_tensors="pt",
                       video_metadata=[VideoMetadata(**video.metadata())], do_sample_frames=False)
    n_video_tokens = int((inputs["input_ids"] == config.video_token_id).sum())
    t, h, w = inputs["video_grid_thw"][0].tolist()
    assert n_video_tokens == t * h * w // 4  # 2x2 spatial merge
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    new = out[0, inputs["input_ids"].shape[1]:]
    assert 1 <= len(new) <= 12
    assert isinstance(processor.decode(new, skip_special_tokens=True), str)


def test_tiny_model_is_deterministic_per_seed(tmp_path):
    from safetensors.torch import load_file

    from camreasoner.dev.tiny_model import build_tiny_model

    a = load_file(build_tiny_model(tmp_path / "a") / "model.safetensors")
    b = load_file(build_tiny_model(tmp_path / "b") / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(bool((a[k] == b[k]).all()) for k in a)


def test_cli_builds_it(tmp_path):
    from camreasoner.cli import main

    assert main(["dev", "tiny-model", "--out", str(tmp_path / "m")]) == 0
    assert (tmp_path / "m" / "config.json").is_file()
