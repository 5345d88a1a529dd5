"""Qwen2.5-VL's vision attention under our pinned transformers, batched by window length.

transformers 5.5.4's ``Qwen2_5_VLVisionAttention`` runs, for any attention implementation but
FlashAttention's varlen, one attention call per window: the tower attends within 112-pixel
windows (28 of its 32 layers) and within each frame (the other 4), so a batch of 16 clips of
32 frames at 448x252 is 15,432 SDPA calls a step (profiled on an H200, issue #20), each a few
microseconds of GPU work behind tens of microseconds of Python and launch. The GPU sat idle 61%
of a 3B SFT step. No FlashAttention wheel matches the GPU image, so the varlen path is not an
option there.

:func:`batch_vision_windows` replaces that per-window loop: windows of equal length (in a clip
almost all are: a 448x252 frame has 8 windows of 64 patches and 4 of 16) are stacked into one
batch and attended in one call per distinct length, then put back in order. Each window still
attends only to itself, with the same implementation (SDPA), so the outputs equal the loop's
(tests/test_vision_attention.py compares them, gradients too). FlashAttention's varlen branch,
where installed, is left as it is. Applied once a process by the processes that run the tower
through transformers: LLaMA-Factory's SFT (``camreasoner.lf_cli``) and the transformers
evaluation backend.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

_PATCHED = "_camreasoner_batched_windows"


def attend_windows_batched(attention_interface, module, query, key, value, cu_seqlens, **kwargs):
    """Attention of ``query``/``key``/``value`` ([1, heads, S, dim]) within each window that
    ``cu_seqlens`` (cumulative lengths, starting at 0) marks, one call per distinct window
    length. Returns [1, S, heads, dim], as the per-window loop's ``torch.cat`` does."""
    import torch

    lengths = (cu_seqlens[1:] - cu_seqlens[:-1]).tolist()
    starts = cu_seqlens[:-1].tolist()
    groups: dict[int, list[int]] = {}
    for start, length in zip(starts, lengths):
        if length > 0:
            groups.setdefault(length, []).append(start)
    heads, dim = query.shape[1], query.shape[3]
    outputs, order = [], []
    for length, group_starts in groups.items():
        # token indices of every window in the group: [windows, length], flattened
        index = (torch.tensor(group_starts, device=query.device)[:, None]
                 + torch.arange(length, device=query.device)).reshape(-1)

        n = len(group_starts)
        q, k, v = (t[0][:, index].reshape(heads, n, length, dim).transpose(0, 1)  # [n, h, L, d]
                   for t in (query, key, value))
        out = attention_interface(module, q, k, v,
                                  attention_mask=None, **kwargs)[0]  # [n, length, heads, dim]
        outputs.append(out.reshape(-1, heads, dim))
        order.append(index)
    stacked, order_all = torch.cat(outputs), torch.cat(order)
    inverse = torch.empty_like(order_all)
    inverse[order_all] = torch.arange(order_all.numel(), device=order_all.device)
    return stacked[inverse].unsqueeze(0)


def _batched_forward(self, hidden_states, cu_seqlens, rotary_pos_emb=None,
                     position_embeddings=None, **kwargs):
    """``Qwen2_5_VLVisionAttention.forward`` of transformers 5.5.4 with the per-window loop
    replaced by :func:`attend_windows_batched` (the FlashAttention branch unchanged)."""
    from transformers.models.qwen2_5_vl import modeling_qwen2_5_vl as mq
    from transformers.utils.generic import is_flash_attention_requested

    if is_flash_attention_requested(self.config):
        return self._camreasoner_original_forward(hidden_states, cu_seqlens, rotary_pos_emb,
                                                  position_embeddings, **kwargs)
    seq_length = hidden_states.shape[0]
    query, key, value = (self.qkv(hidden_states).reshape(seq_length, 3, self.num_heads, -1)
                         .permute(1, 0, 2, 3).unbind(0))
    cos, sin = position_embeddings
    query, key = mq.apply_rotary_pos_emb_vision(query, key, cos, sin)
    query, key, value = (t.transpose(0, 1).unsqueeze(0) for t in (query, key, value))
    attention_interface = mq.ALL_ATTENTION_FUNCTIONS.get_interface(
        self.config._attn_implementation, mq.eager_attention_forward)
    out = attend_windows_batched(attention_interface, self, query, key, value, cu_seqlens,
                                 scaling=self.scaling,
                                 dropout=0.0 if not self.training else self.attention_dropout,
                                 is_causal=False, **kwargs)
    return self.proj(out.reshape(seq_length, -1).contiguous())


def batch_vision_windows() -> bool:
    """Put :func:`_batched_forward` in place of the installed vision attention's forward, once a
    process. Returns whether it is in place (False where transformers has no Qwen2.5-VL)."""
    try:
        from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLVisionAttention
    except ImportError:
        return False
    cls = Qwen2_5_VLVisionAttention
    if getattr(cls, _PATCHED, False):
        return True
    cls._camreasoner_original_forward = cls.forward
    cls.forward = _batched_forward
    setattr(cls, _PATCHED, True)
    log.info("Qwen2.5-VL vision attention: windows of equal length batched into one call")
    return True
