"""The video M-RoPE positions of Qwen2.5-VL under our pinned transformers, made right.

transformers 5.5.4 (the newest that both llamafactory 0.9.5, <= 5.6.0, and verl 0.9.1, != 5.6.0,
accept) builds the language model's 3-D positions of a video's tokens wrongly in
``Qwen2_5_VLModel.get_vision_position_ids``: every token of a video gets one temporal position,
and the height index runs over the whole clip instead of each temporal patch. So the model cannot
tell the first frames from the last, nor place a token in its frame. Upstream fixed it in 5.6.0
(huggingface/transformers PR #45400). Images (one temporal patch) came out right, so the seed's
RL and evaluation on frames were not touched; its SFT on videos (LLaMA-Factory) and our
transformers evaluation of videos were.

:func:`fix_video_positions` puts 5.6.0's function in place when the installed one gives the wrong
positions (checked on a small grid, not by version), once a process. Our processes that build
Qwen2.5-VL inputs call it: the transformers evaluation backend, the TRL GRPO backend, and
LLaMA-Factory's SFT through ``camreasoner.lf_cli`` (and in its torchrun workers). verl computes
positions with its own function, and vLLM with its own.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def _fixed_vision_position_ids(self, start_position, grid_thw, temp_merge_size: int = 1,
                               spatial_merge_size: int = 1, time_interval: int = 1,
                               device=None):
    """transformers 5.6.0's ``get_vision_position_ids``: (3, T*H*W) temporal, height and width
    positions of one image or video's tokens, in the order the vision tower emits them (t, h, w),
    offset by ``start_position``; temporal patches ``time_interval`` apart."""
    import torch

    t, h, w = (int(grid_thw[0]) // temp_merge_size, int(grid_thw[1]) // spatial_merge_size,
               int(grid_thw[2]) // spatial_merge_size)
    temporal = (torch.arange(t, device=device) * time_interval).repeat_interleave(h * w)
    height = torch.arange(h, device=device).repeat_interleave(w).repeat(t)
    width = torch.arange(w, device=device).repeat(h * t)
    return torch.stack([temporal, height, width], dim=0) + start_position


def video_positions_are_right(model_cls=None) -> bool:
    """Whether ``model_cls.get_vision_position_ids`` (Qwen2_5_VLModel's by default) gives a
    2 x 2 x 2 grid its 8 distinct (t, h, w) positions in t, h, w order."""
    import torch

    if model_cls is None:
        from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLModel as model_cls
    got = model_cls.get_vision_position_ids(None, 10, torch.tensor([2, 2, 2]), 1, 1, 1)
    want = _fixed_vision_position_ids(None, 10, torch.tensor([2, 2, 2]))
    return bool(torch.equal(got.cpu().long(), want))


def fix_video_positions() -> bool:
    """Replace Qwen2.5-VL's ``get_vision_position_ids`` with 5.6.0's when the installed one is
    wrong. Returns whether it replaced it (False: already right, or fixed before)."""
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLModel

    if video_positions_are_right(Qwen2_5_VLModel):
        return False
    Qwen2_5_VLModel.get_vision_position_ids = _fixed_vision_position_ids
    log.info("Qwen2.5-VL video positions: the installed transformers' get_vision_position_ids "
             "is replaced by 5.6.0's (camreasoner.qwen_positions says why)")
    return True
