"""The SFT benchmark's MFU numerator (benchmarks/bench_sft_throughput.py), checked by hand."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from bench_sft_throughput import failure_line, kernel_class, model_flops, summarize_kernels

# h 4, 2 heads of 2 with 1 KV head (kv width 2), I 8, one layer, vocab 10; no video tokens, so
# the vision tower adds nothing.
CFG = {"text_config": {"hidden_size": 4, "intermediate_size": 8, "num_hidden_layers": 1,
                       "vocab_size": 10, "num_attention_heads": 2, "num_key_value_heads": 1},
       "vision_config": {"hidden_size": 2, "intermediate_size": 2, "depth": 1,
                         "out_hidden_size": 4, "fullatt_block_indexes": [0]}}


def test_full_fine_tune_flops_by_hand():
    # N = 4*(4 + 2*2) + 4*4 + 3*4*8 + 4*10 = 32 + 16 + 96 + 40 = 184 parameters
    # 6 * N * T + 6 * L * T^2 * h = 6*184*2 + 6*1*4*4 = 2208 + 96
    assert model_flops(CFG, text_tokens=2, video_tokens=0, train_vision=False) == 2304


def test_lora_flops_by_hand():
    # adapters, r = 1: 9h + 2kv + 3I = 36 + 4 + 24 = 64 parameters
    # 4 * N * T + 6 * 64 * T + attention = 4*184*2 + 6*64*2 + 96 = 1472 + 768 + 96
    assert model_flops(CFG, text_tokens=2, video_tokens=0, train_vision=False,
                       lora_rank=1) == 2336


def test_a_failed_arm_reports_its_exception_not_the_progress_bar_after_it():
    # the 2026-12-03 torch.compile arm: the traceback, then a tqdm line as the output's last
    out = ("Traceback (most recent call last):\n  File \"x.py\", line 1\n"
           "torch._dynamo.exc.Unsupported: first\nAssertionError: \n\n"
           "  0%|          | 0/8 [03:50<?, ?it/s]\n")
    assert failure_line(out) == "AssertionError:"
    assert failure_line("only this line\n") == "only this line"
    assert failure_line("\n \n") == "failed"


def test_profiled_step_summary_counts_overlapping_kernels_once():
    # (name, start_us, end_us): two overlapping GEMMs on two streams (0-10, 5-15: busy 0-15),
    # a Triton kernel 20-30, an aten elementwise kernel 40-44; wall 100 us
    kernels = [("sm90_xmma_gemm_bf16bf16", 0.0, 10.0), ("nvjet_tst_128x256", 5.0, 15.0),
               ("_rms_norm_forward_kernel", 20.0, 30.0),
               ("void at::native::vectorized_elementwise_kernel<4, add>", 40.0, 44.0)]
    got = summarize_kernels(kernels, wall_s=100e-6)
    assert got["gpu_busy_s"] == pytest.approx(29e-6)  # 15 + 10 + 4
    assert got["gpu_idle_fraction"] == pytest.approx(0.71)
    assert got["kernel_s_by_class"] == pytest.approx(
        {"gemm": 20e-6, "triton (liger)": 10e-6, "aten elementwise/reduce": 4e-6})
    assert [k[0] for k in got["top_kernels"]][:2] == ["sm90_xmma_gemm_bf16bf16", "nvjet_tst_128x256"]


def test_kernel_classes():
    assert kernel_class("void multi_tensor_apply_kernel<FusedAdamMathFunctor>") == "optimizer"
    assert kernel_class("Memcpy DtoD (Device -> Device)") == "copy"
    assert kernel_class("pytorch_flash::flash_fwd_kernel") == "attention"
    assert kernel_class("void at::native::reduce_kernel<512>") == "aten elementwise/reduce"
    assert kernel_class("_cross_entropy_kernel") == "triton (liger)"
