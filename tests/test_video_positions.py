"""The frames' order reaches the language model: every temporal patch of a clip gets its own
M-RoPE position under the video specs the tiny stages use.

transformers 5.5's Qwen2.5-VL ``get_rope_index`` spaces temporal patches by
``tokens_per_second * int(second_per_grid_ts)``. At 4 fps a patch of 2 frames lasts 0.5 s, which
truncates to 0: all patches of a clip then share one position and the language model cannot tell
the first frames from the last (a pan left from a pan right, once the tower's 2-frame patches are
pooled). The tiny specs sample 2 fps for that reason (camreasoner.vision.TINY_VISION)."""

from __future__ import annotations

import numpy as np
import pytest

from camreasoner.demo import PRESET_NAMES, load_preset
from camreasoner.vision import TINY_VISION


def _temporal_positions(model_dir, fps: float) -> list[int]:
    """The distinct temporal M-RoPE positions of one 8-frame clip's video tokens."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from transformers.video_utils import VideoMetadata

    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    frames = np.random.default_rng(0).integers(0, 255, (8, 56, 56, 3), dtype=np.uint8)
    text = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "hi"}]}],
        tokenize=False, add_generation_prompt=True)
    inputs = processor(text=[text], videos=[frames], return_tensors="pt", do_sample_frames=False,
                       video_metadata=[VideoMetadata(total_num_frames=8, fps=fps,
                                                     frames_indices=list(range(8)))])
    with torch.no_grad():
        positions, _ = model.model.get_rope_index(
            inputs["input_ids"], inputs["mm_token_type_ids"],
            video_grid_thw=inputs["video_grid_thw"],
            second_per_grid_ts=inputs["second_per_grid_ts"],
            attention_mask=inputs["attention_mask"])
    video = inputs["input_ids"][0] == processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    return sorted(set(positions[0, 0, video].tolist()))


def test_the_fix_gives_a_grid_its_positions_in_the_towers_order():
    import torch

    from camreasoner.qwen_positions import (
        _fixed_vision_position_ids,
        fix_video_positions,
        video_positions_are_right,
    )

    # hand-written: grid t=2, h=2, w=3 at start 5, patches 2 apart; tokens in t, h, w order
    got = _fixed_vision_position_ids(None, 5, torch.tensor([2, 2, 3]), time_interval=2)
    assert got.tolist() == [[5, 5, 5, 5, 5, 5, 7, 7, 7, 7, 7, 7],
                            [5, 5, 5, 6, 6, 6, 5, 5, 5, 6, 6, 6],
                            [5, 6, 7, 5, 6, 7, 5, 6, 7, 5, 6, 7]]
    fix_video_positions()
    assert video_positions_are_right()
    assert not fix_video_positions()  # once a process


def test_each_temporal_patch_gets_its_own_position_at_the_tiny_specs_fps(tiny_model):
    from camreasoner.qwen_positions import fix_video_positions

    fix_video_positions()
    # 8 frames in patches of 2: 4 temporal patches, 2 positions apart (tokens_per_second 2 x 1 s)
    at_2fps = _temporal_positions(tiny_model, TINY_VISION.fps)
    assert len(at_2fps) == 4 and np.all(np.diff(at_2fps) == 2), at_2fps
    # at 4 fps, int(0.5 s) = 0 in get_rope_index (5.6.0 too): one position for all four
    # patches, the order lost: why the tiny specs sample 2 fps
    assert len(_temporal_positions(tiny_model, 4.0)) == 1


@pytest.mark.parametrize("name", ["TINY_VISION", *PRESET_NAMES])
def test_tiny_specs_and_presets_sample_at_a_rate_whose_patches_span_whole_seconds(name):
    # the tiny recipes' video_fps equals TINY_VISION's (tests/test_sft.py checks)
    fps = TINY_VISION.fps if name == "TINY_VISION" else load_preset(name).data.fps
    assert (2 / fps).is_integer(), f"{name}: {fps} fps gives {2 / fps} s a temporal patch"


def test_llamafactory_runs_with_the_fix_in_its_process_and_its_torchrun_workers(monkeypatch):
    """camreasoner.lf_cli (what run_sft calls) fixes the positions, then starts LLaMA-Factory's
    launcher with torchrun pointed at lf_cli itself, whose workers fix them again and train."""
    from llamafactory import launcher
    from llamafactory.train import tuner

    from camreasoner import lf_cli
    from camreasoner.qwen_positions import video_positions_are_right
    from camreasoner.sft import _LF_CLI

    seen = {}
    monkeypatch.setattr(launcher, "__file__", launcher.__file__)  # restored after the test
    monkeypatch.setattr(launcher, "launch", lambda: seen.update(
        file=launcher.__file__, right=video_positions_are_right()))
    lf_cli.main()
    assert seen == {"file": lf_cli.__file__, "right": True}
    assert _LF_CLI[1:] == ("-m", "camreasoner.lf_cli")
    monkeypatch.setattr(tuner, "run_exp", lambda: seen.update(trained=video_positions_are_right()))
    lf_cli.worker()
    assert seen["trained"] is True
