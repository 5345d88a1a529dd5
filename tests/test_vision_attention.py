"""The batched vision-window attention (camreasoner.qwen_vision_attention) against
transformers' own per-window loop: the same outputs and gradients, windows of unequal length."""

import pytest

torch = pytest.importorskip("torch")

from transformers import Qwen2_5_VLConfig
from transformers.models.qwen2_5_vl import modeling_qwen2_5_vl as mq

from camreasoner.qwen_vision_attention import (
    attend_windows_batched,
    batch_vision_windows,
)


def _attention(impl: str):
    cfg = Qwen2_5_VLConfig(vision_config={"hidden_size": 16, "num_heads": 2, "depth": 1,
                                          "intermediate_size": 32, "out_hidden_size": 16})
    vcfg = cfg.vision_config
    vcfg._attn_implementation = impl
    torch.manual_seed(0)
    return mq.Qwen2_5_VLVisionAttention(config=vcfg)


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_batched_windows_equal_the_per_window_loop(impl):
    batch_vision_windows()
    attn = _attention(impl)
    # windows of 4, 4, 2, 4, 1 tokens: three lengths, in an order that interleaves them
    cu = torch.tensor([0, 4, 8, 10, 14, 15], dtype=torch.int32)
    seq = int(cu[-1])
    torch.manual_seed(1)
    x = torch.randn(seq, 16, requires_grad=True)
    head_dim = 16 // 2
    rot = torch.randn(seq, head_dim // 2)
    emb = torch.cat([rot, rot], dim=-1)
    pos = (emb.cos(), emb.sin())

    want = attn._camreasoner_original_forward(x, cu, position_embeddings=pos)
    (gx_want,) = torch.autograd.grad(want.square().sum(), x)
    got = attn(x, cu, position_embeddings=pos)  # the patched forward
    (gx_got,) = torch.autograd.grad(got.square().sum(), x)
    assert got.shape == want.shape == (seq, 16)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gx_got, gx_want, rtol=1e-5, atol=1e-6)


def test_each_window_attends_only_to_itself():
    # values 1 in the first window and 10 in the second: uniform attention (zero queries and
    # keys) averages within a window, so each window's output is its own value exactly
    q = torch.zeros(1, 1, 5, 2)
    v = torch.tensor([1.0, 1.0, 1.0, 10.0, 10.0]).reshape(1, 1, 5, 1).expand(1, 1, 5, 2)
    cu = torch.tensor([0, 3, 5])

    def uniform_sdpa(module, q, k, v, attention_mask=None, **kw):
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        return out.transpose(1, 2), None

    out = attend_windows_batched(uniform_sdpa, None, q, q, v, cu)
    assert out.shape == (1, 5, 1, 2)
    assert out[0, :, 0, 0].tolist() == [1.0, 1.0, 1.0, 10.0, 10.0]


def test_patch_is_idempotent():
    assert batch_vision_windows() and batch_vision_windows()
    assert mq.Qwen2_5_VLVisionAttention._camreasoner_original_forward is not \
        mq.Qwen2_5_VLVisionAttention.forward
