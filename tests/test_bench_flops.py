"""The SFT benchmark's MFU numerator (benchmarks/bench_sft_throughput.py), checked by hand."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from bench_sft_throughput import failure_line, model_flops

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
