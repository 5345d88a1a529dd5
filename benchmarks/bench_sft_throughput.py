"""SFT training-step throughput on one GPU: plain transformers against our LLaMA-Factory recipe.

    python benchmarks/bench_sft_throughput.py --out-json sft_throughput.json

One run, one random Qwen2.5-VL-7B-shaped model on disk (benchmarks/_qwen7b.py), one video sample
for every arm: a 32-frame clip at 448x252 (16 temporal patches x 144 = 2,304 video tokens) and an
O-T-A conversation of ~400 text tokens. Each arm runs in its own process (the GPU starts empty):

* ``plain*``: ``model(**inputs, labels=...)`` + ``loss.backward()``, every parameter trainable,
  SDPA, batch 1 -- the reference the SFT issue quotes (2,401 tokens/s without gradient
  checkpointing, 894 with it).
* ``lf*``: ``llamafactory.train.tuner.run_exp`` on LLaMA-Factory/recipes/qwen2_5_vl_7b_full_sft.yaml
  with the arm's overrides -- LF's dataset pipeline, its collator (PyAV decoding, mrope indices),
  HF Trainer's step including the optimizer. One GPU holds no AdamW state for 8.3B parameters
  (66 GB), so the recipe's ZeRO-3 is dropped and the optimizer is SGD (no state; its update is
  one pass over the weights, ~10 ms). Everything else is the recipe.

Per arm: median step time over ``--steps`` steps after ``--warmup``, tokens/s (tokens in the
batch / step time), MFU against 798 TFLOP/s (the bf16 GEMM rate measured on an H100) with
model FLOPs counted as below, and peak allocated GPU memory; for lf arms also the step split at
HF Trainer's callbacks (forward + backward + clip, optimizer, the rest) and, with
``--profile``, one more step's CUDA kernels (GPU busy vs wall time, time by kernel class).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger("bench_sft")
ROOT = Path(__file__).resolve().parents[1]
RECIPES = {"7b": ROOT / "LLaMA-Factory" / "recipes" / "qwen2_5_vl_7b_full_sft_camreasoner.yaml",
           "3b": ROOT / "LLaMA-Factory" / "recipes" / "qwen2_5_vl_3b_full_sft.yaml",
           "7b_lora": ROOT / "LLaMA-Factory" / "recipes" / "qwen2_5_vl_7b_lora_sft.yaml"}
SHAPE = {"7b": "7b", "3b": "3b", "7b_lora": "7b"}  # --size -> benchmarks/_qwen7b.py shape
PEAK_TFLOPS = 798.0
# an LF arm's optimizer step, between HF Trainer's callbacks: step begin -> pre-optimizer (every
# micro-batch's forward and backward, then the gradient clip) -> optimizer step -> step end
# (scheduler, zero_grad)
PHASES = ("fwd_bwd_clip", "optimizer", "rest")
FRAMES, WIDTH, HEIGHT, FPS = 32, 448, 252, 2

# The recipe's training keys as the seed had them: every "lf" arm starts from these, so the arms
# measure the same settings now that the recipe's defaults are the fastest ones (lf_recipe).
SEED_SETTINGS = {"enable_liger_kernel": False, "per_device_train_batch_size": 1}

# name -> settings. "lf" arms are overrides of the recipe + SEED_SETTINGS; "plain" arms are this
# script's own loop.
ARMS = {
    "plain": {"kind": "plain", "checkpointing": False},
    "plain_ckpt": {"kind": "plain", "checkpointing": True},
    "lf_seed": {"kind": "lf"},  # the recipe as the seed set it: frozen ViT, checkpointing on
    "lf_recipe": {"kind": "lf", "recipe_defaults": True},  # the recipe as committed now
    "lf_nockpt": {"kind": "lf", "disable_gradient_checkpointing": True},
    "lf_liger": {"kind": "lf", "disable_gradient_checkpointing": True, "enable_liger_kernel": True},
    "lf_liger_bs2": {"kind": "lf", "disable_gradient_checkpointing": True,
                     "enable_liger_kernel": True, "per_device_train_batch_size": 2},
    "lf_liger_ckpt_bs4": {"kind": "lf", "enable_liger_kernel": True,
                          "per_device_train_batch_size": 4},
    "lf_liger_ckpt_bs8": {"kind": "lf", "enable_liger_kernel": True,
                          "per_device_train_batch_size": 8},
    "lf_liger_bs2_compile": {"kind": "lf", "disable_gradient_checkpointing": True,
                             "enable_liger_kernel": True, "per_device_train_batch_size": 2,
                             "torch_compile": True},
    # The ViT trained too (FLOP-equal to plain); without checkpointing it does not fit in 80 GB.
    "lf_liger_vit_ckpt": {"kind": "lf", "enable_liger_kernel": True, "freeze_vision_tower": False,
                          "freeze_multi_modal_projector": False},
    # --size 3b (the seed's 3B recipe with AdamW): the recipe as it is, then what LF offers
    "lf3b_seed": {"kind": "lf", "recipe_defaults": True},
    "lf3b_liger": {"kind": "lf", "recipe_defaults": True, "enable_liger_kernel": True},
    "lf3b_liger_bs8": {"kind": "lf", "recipe_defaults": True, "enable_liger_kernel": True,
                       "per_device_train_batch_size": 8},
    "lf3b_liger_bs16": {"kind": "lf", "recipe_defaults": True, "enable_liger_kernel": True,
                        "per_device_train_batch_size": 16},
    "lf3b_liger_nockpt_bs8": {"kind": "lf", "recipe_defaults": True, "enable_liger_kernel": True,
                              "per_device_train_batch_size": 8,
                              "disable_gradient_checkpointing": True},
    "lf3b_liger_bs32": {"kind": "lf", "recipe_defaults": True, "enable_liger_kernel": True,
                        "per_device_train_batch_size": 32},
    "lf3b_liger_bs64": {"kind": "lf", "recipe_defaults": True, "enable_liger_kernel": True,
                        "per_device_train_batch_size": 64},
    "lf3b_liger_nockpt_bs32": {"kind": "lf", "recipe_defaults": True, "enable_liger_kernel": True,
                               "per_device_train_batch_size": 32,
                               "disable_gradient_checkpointing": True},
    "lf3b_liger_nockpt_bs16": {"kind": "lf", "recipe_defaults": True, "enable_liger_kernel": True,
                               "per_device_train_batch_size": 16,
                               "disable_gradient_checkpointing": True},
    "lf3b_liger_bs16_compile": {"kind": "lf", "recipe_defaults": True,
                                "enable_liger_kernel": True, "per_device_train_batch_size": 16,
                                "torch_compile": True},
    "lf3b_liger_bs32_compile": {"kind": "lf", "recipe_defaults": True,
                                "enable_liger_kernel": True, "per_device_train_batch_size": 32,
                                "torch_compile": True},
    # where the best arm's step goes, and what amortises or trims it (issue #20, 2026-12-03):
    # accumulation (one clip + AdamW step per 4 micro-batches), AdamW on bf16 weights without
    # fp32 master copies (LF's pure_bf16, a different numeric recipe), non-reentrant checkpointing
    "lf3b_liger_bs16_ga4": {"kind": "lf", "recipe_defaults": True, "enable_liger_kernel": True,
                            "per_device_train_batch_size": 16, "gradient_accumulation_steps": 4},
    "lf3b_liger_bs16_pure_bf16": {"kind": "lf", "recipe_defaults": True,
                                  "enable_liger_kernel": True, "per_device_train_batch_size": 16,
                                  "pure_bf16": True},
    "lf3b_liger_bs16_noreentrant": {"kind": "lf", "recipe_defaults": True,
                                    "enable_liger_kernel": True,
                                    "per_device_train_batch_size": 16, "use_reentrant_gc": False},
    # the vision tower's windows attended in one call per length (camreasoner.qwen_vision_attention,
    # as run_sft.sh's launcher and the transformers eval backend do), not one call per window
    "lf3b_liger_bs16_vitbatch": {"kind": "lf", "recipe_defaults": True, "enable_liger_kernel": True,
                                 "per_device_train_batch_size": 16, "vision_windows": "batched"},
    "lf3b_liger_bs16_pure_bf16_vitbatch": {"kind": "lf", "recipe_defaults": True,
                                           "enable_liger_kernel": True,
                                           "per_device_train_batch_size": 16, "pure_bf16": True,
                                           "vision_windows": "batched"},
    "lf3b_liger_bs32_vitbatch": {"kind": "lf", "recipe_defaults": True, "enable_liger_kernel": True,
                                 "per_device_train_batch_size": 32, "vision_windows": "batched"},
    "lf3b_pack": {"kind": "lf", "recipe_defaults": True, "packing": True, "neat_packing": True,
                  "cutoff_len": 16384, "per_device_train_batch_size": 1},
    "lf3b_liger_pack": {"kind": "lf", "recipe_defaults": True, "enable_liger_kernel": True,
                        "packing": True, "neat_packing": True, "cutoff_len": 8192,
                        "per_device_train_batch_size": 1},
    # --size 7b_lora (our LoRA recipe, rank 64 on every linear layer of the LM, AdamW): the
    # recipe as committed (liger, batch 4, checkpointing), the seed's batch 1 without liger, and
    # batch 8
    "lora_recipe": {"kind": "lf", "recipe_defaults": True},
    "lora_bs1": {"kind": "lf"},
    "lora_bs8": {"kind": "lf", "recipe_defaults": True, "per_device_train_batch_size": 8},
    "lora_nockpt_bs4": {"kind": "lf", "recipe_defaults": True,
                        "disable_gradient_checkpointing": True},
}


def failure_line(output: str) -> str:
    """The line that says why a child run failed: the last exception line of its output (a
    progress bar often prints after the traceback), else its last line."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if re.match(r"^[\w.]*(Error|Exception)\b", ln)]
    return (errors or lines or ["failed"])[-1]


def model_flops(cfg: dict, text_tokens: int, video_tokens: int, train_vision: bool,
                lora_rank: int = 0) -> float:
    """Model FLOPs of one fwd+bwd of one sample (6 per parameter per token trained, 2 for a
    frozen forward-only part), attention included; padding and recomputation excluded.

    LLM, T = text + video tokens: 6 * N * T, N = layers * (h*(h + 2*kv) + h*h + 3*h*I) + h*V,
    plus causal attention 6 * L * T^2 * h (QK^T and AV are 2*T^2*h each, halved by the mask).
    ViT, P = 4 patches per video token (2x2 merge): per layer 4*d^2 + 3*d*I_v on every patch,
    the merger (4d -> 4d -> out) on every video token, attention 4*P*S*d with S = 64 patches
    (112-px windows) or 576 (a whole 448x252 frame pair) in the 4 full-attention layers.
    LoRA (``lora_rank`` r > 0 on every linear layer of the LM): the frozen LM costs 4 per
    parameter per token (forward, and the input gradients of the backward; no weight
    gradients), the adapters 6 per parameter: r * (9h + 2kv + 3I) per layer (q, k, v, o, gate,
    up, down: r * (in + out) each).
    """
    t = cfg.get("text_config", cfg)
    v = cfg["vision_config"]
    h, inter, layers, vocab = t["hidden_size"], t["intermediate_size"], t["num_hidden_layers"], t["vocab_size"]
    kv = t["num_key_value_heads"] * h // t["num_attention_heads"]
    n_llm = layers * (h * (h + 2 * kv) + h * h + 3 * h * inter) + h * vocab
    tokens = text_tokens + video_tokens
    if lora_rank:
        n_lora = layers * lora_rank * (9 * h + 2 * kv + 3 * inter)
        llm = 4 * n_llm * tokens + 6 * n_lora * tokens + 6 * layers * tokens**2 * h
    else:
        llm = 6 * n_llm * tokens + 6 * layers * tokens**2 * h
    d, vi, depth = v["hidden_size"], v["intermediate_size"], v["depth"]
    patches = 4 * video_tokens
    merger = (4 * d) * (4 * d) + (4 * d) * v["out_hidden_size"]
    full = len(v["fullatt_block_indexes"])
    per_frame = (HEIGHT // 14) * (WIDTH // 14)
    vit_fwd = (2 * depth * (4 * d * d + 3 * d * vi) * patches + 2 * merger * video_tokens
               + 4 * patches * d * (64 * (depth - full) + per_frame * full))
    return llm + (3 if train_vision else 1) * vit_fwd


# ----------------------------------------------------------------------------- shared inputs


def write_inputs(work: Path, rows: int) -> dict:
    """The clip, an LF ShareGPT dataset of ``rows`` copies of one conversation, and that
    conversation for the plain arm."""
    from camreasoner import prompts
    from camreasoner.data.convert import dataset_info_entry
    from camreasoner.dev.clips import write_clip

    data = work / "data"
    write_clip(data / "clip.mp4", frames=FRAMES, width=WIDTH, height=HEIGHT, fps=FPS,
               shift=(3, 0), seed=1)
    question = prompts.render_prompt(
        "How does the camera move in this video?",
        ["A. Pan left", "B. Pan right", "C. Truck left", "D. Truck right", "E. Dolly in",
         "F. No camera movement"])
    # ~400 text tokens in all with the chat template: a long-ish chain, as in the 18k SFT set.
    observation = " ".join([("The whole frame slides to the left at a steady rate, and the near "
                             "objects slide faster than the far ones.")] * 4)
    think = " ".join([("Parallax between near and far objects means the camera translates "
                       "rather than rotates, so this is a truck, not a pan.")] * 4)
    answer = f"<observation>{observation}</observation><think>{think}</think><answer>D</answer>"
    conv = {"messages": [{"role": "user", "content": prompts.with_video_placeholder(question)},
                         {"role": "assistant", "content": answer}],
            "videos": ["clip.mp4"]}
    (data / "bench.json").write_text(json.dumps([conv] * rows))
    (data / "dataset_info.json").write_text(json.dumps({"bench": dataset_info_entry("bench.json")}))
    return {"question": question, "answer": answer}


# ----------------------------------------------------------------------------- arms (child side)

# Kernel classes of a profiled step, by the first pattern a CUDA kernel's name matches.
KERNEL_CLASSES = (
    ("gemm", ("gemm", "nvjet", "cutlass", "cublas", "xmma", "wgmma")),
    ("attention", ("flash", "fmha", "attention", "sdpa")),
    ("optimizer", ("adam", "multi_tensor")),
    ("copy", ("memcpy", "memset", "copy")),
    ("aten elementwise/reduce", ("at::native",)),
    ("triton (liger)", ("kernel", "triton", "liger")),  # Triton's names: _rms_norm_forward_kernel
    ("other", ("",)),
)


def kernel_class(name: str) -> str:
    low = name.lower()
    return next(cls for cls, pats in KERNEL_CLASSES if any(p in low for p in pats))


def summarize_kernels(kernels: list[tuple[str, float, float]], wall_s: float, top: int = 20) -> dict:
    """A profiled step's GPU time from its kernels, (name, start_us, end_us) each: the summed
    kernel time by class, the time the GPU was busy at all (the union of the intervals, so
    overlapping streams count once) against the step's wall time, and the ``top`` kernels."""
    by_class: dict[str, float] = {}
    by_name: dict[str, list[float]] = {}
    for name, start, end in kernels:
        us = end - start
        by_class[kernel_class(name)] = by_class.get(kernel_class(name), 0.0) + us
        entry = by_name.setdefault(name, [0.0, 0])
        entry[0] += us
        entry[1] += 1
    busy, last = 0.0, float("-inf")
    for start, end in sorted((s, e) for _, s, e in kernels):
        if end > last:
            busy += end - max(start, last)
            last = end
    ranked = sorted(by_name.items(), key=lambda kv: -kv[1][0])[:top]
    return {"wall_s": wall_s, "gpu_busy_s": busy / 1e6,
            "gpu_idle_fraction": max(0.0, 1 - busy / 1e6 / wall_s) if wall_s > 0 else 0.0,
            "kernel_s_by_class": {k: v / 1e6 for k, v in sorted(by_class.items(), key=lambda kv: -kv[1])},
            "top_kernels": [[n[:120], us / 1e6, calls] for n, (us, calls) in ranked]}


def _start_profiler():
    import torch

    prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA])
    prof.__enter__()
    return prof


def _stop_profiler(prof, wall_s: float) -> dict:
    import torch

    try:  # a profiler that cannot report must not cost the arm its timings
        prof.__exit__(None, None, None)
        kernels = [(e.name, e.time_range.start, e.time_range.end) for e in prof.events()
                   if e.device_type == torch.autograd.DeviceType.CUDA]
    except (RuntimeError, AttributeError) as e:
        log.warning("the profiler did not report: %s", e)
        return {"error": f"{type(e).__name__}: {e}"}
    return summarize_kernels(kernels, wall_s)



def _sync_time() -> float:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter()


def _peak_gib() -> float:
    import torch

    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else 0.0


def run_plain(model_dir: Path, work: Path, arm: dict, steps: int, warmup: int) -> dict:
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from transformers.video_utils import VideoMetadata

    from camreasoner import prompts
    from camreasoner.media.frames import load_frames
    from camreasoner.vision import DEFAULT_VISION

    conv = json.loads((work / "conv.json").read_text())
    processor = AutoProcessor.from_pretrained(model_dir)
    video = load_frames(work / "data" / "clip.mp4", DEFAULT_VISION)
    messages = prompts.chat_messages(conv["question"])
    messages.append({"role": "assistant", "content": [{"type": "text", "text": conv["answer"]}]})
    text = processor.apply_chat_template(messages, tokenize=False)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    inputs = processor(text=[text], videos=[video.frames], return_tensors="pt",
                       video_metadata=[VideoMetadata(**video.metadata())],
                       do_sample_frames=False).to(device)
    model = AutoModelForImageTextToText.from_pretrained(
        model_dir, dtype=torch.bfloat16, attn_implementation="sdpa").to(device)
    model.train()
    model.config.use_cache = False
    if arm["checkpointing"]:
        model.gradient_checkpointing_enable()
    n_tokens = int(inputs["input_ids"].numel())
    n_video = int((inputs["input_ids"] == model.config.video_token_id).sum())
    times = []
    for step in range(warmup + steps):
        t0 = _sync_time()
        loss = model(**inputs, labels=inputs["input_ids"]).loss
        loss.backward()
        model.zero_grad(set_to_none=False)
        dt = _sync_time() - t0
        if step >= warmup:
            times.append(dt)
    return {"times": times, "tokens_per_step": n_tokens, "video_tokens_per_sample": n_video,
            "samples_per_step": 1, "train_vision": True, "loss": float(loss.detach()),
            "peak_gib": _peak_gib()}


def run_lf(model_dir: Path, work: Path, name: str, arm: dict, steps: int, warmup: int,
           extra: dict, out: Path, size: str = "7b", profile: bool = False) -> None:
    """Writes the result to ``out`` and exits the process at the end of training."""
    import yaml
    from llamafactory.train.tuner import run_exp
    from transformers import TrainerCallback

    recipe = yaml.safe_load(RECIPES[size].read_text())
    recipe.pop("deepspeed")
    overrides = {k: v for k, v in arm.items() if k not in ("kind", "recipe_defaults", "vision_windows")}
    if arm.get("vision_windows") == "batched":
        from camreasoner.qwen_vision_attention import batch_vision_windows

        batch_vision_windows()
    base = {} if arm.get("recipe_defaults") else SEED_SETTINGS
    lf_args = {**recipe, "model_name_or_path": str(model_dir), "dataset": "bench",
            "dataset_dir": str(work / "data"), "media_dir": str(work / "data"),
            "output_dir": str(work / f"out_{name}"), "overwrite_output_dir": True,
            # one more step when profiling: profiled, not timed
            "max_steps": warmup + steps + (1 if profile else 0), "save_strategy": "no", "logging_steps": 1,
            "plot_loss": False, "report_to": "none", "warmup_steps": 0, "warmup_ratio": 0.0,
            # the 7B's AdamW state (66 GB) does not fit one GPU beside the model: SGD there
            **({"optim": "sgd"} if size == "7b" else {}),  # LoRA (7b_lora): AdamW fits
            "gradient_accumulation_steps": 1, "preprocessing_num_workers": 8,
            "dataloader_num_workers": 4, **base, **overrides, **extra}
    train_vision = not lf_args.get("freeze_vision_tower", True)
    result: dict = {"times": [], "phases": []}
    ga = int(lf_args.get("gradient_accumulation_steps", 1))

    class StepTimer(TrainerCallback):
        def on_train_begin(self, args, state, control, train_dataloader=None, **kw):
            ds = train_dataloader.dataset
            result["tokens_per_sample"] = len(ds[0]["input_ids"])
            video_id = json.loads((model_dir / "config.json").read_text())["video_token_id"]
            result["video_tokens_per_sample"] = sum(1 for t in ds[0]["input_ids"]
                                                    if t == video_id)
            self.t0 = None

        def on_step_begin(self, args, state, control, **kw):
            if profile and state.global_step == warmup + steps:  # one extra step, untimed
                self.prof = _start_profiler()
            self.t0 = _sync_time()

        def on_pre_optimizer_step(self, args, state, control, **kw):
            self.t1 = _sync_time()  # forward + backward of every micro-batch, and the clip

        def on_optimizer_step(self, args, state, control, **kw):
            self.t2 = _sync_time()

        def on_step_end(self, args, state, control, **kw):
            t3 = _sync_time()
            if profile and state.global_step == warmup + steps + 1:
                result["profile"] = _stop_profiler(self.prof, t3 - self.t0)
                return
            result["times"].append(t3 - self.t0)
            result["phases"].append([self.t1 - self.t0, self.t2 - self.t1, t3 - self.t2])

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                result["loss"] = logs["loss"]

        def on_train_end(self, args, state, control, **kw):
            # LF saves the final model after training (16.6 GB here): not part of a step, and
            # more disk than the GPU machine spares; report and leave before it starts.
            bs = int(args.per_device_train_batch_size) * ga  # samples an optimizer step
            result["times"] = result["times"][warmup:]
            result["phases"] = result["phases"][warmup:]
            import torch

            dtypes = {str(p.dtype) for p in kw["model"].parameters() if p.requires_grad}
            result.update(samples_per_step=bs, tokens_per_step=bs * result.pop("tokens_per_sample"),
                          optim=str(args.optim), trainable_dtypes=sorted(dtypes),
                          torch=torch.__version__,
                          train_vision=train_vision,
                          lora_rank=int(lf_args.get("lora_rank", 0))
                          if lf_args.get("finetuning_type") == "lora" else 0,
                          peak_gib=_peak_gib())
            out.write_text(json.dumps(result))
            os._exit(0)

    run_exp(lf_args, callbacks=[StepTimer()])
    raise RuntimeError("LLaMA-Factory returned without ending training")


def child(name: str, model_dir: Path, work: Path, steps: int, warmup: int, out: Path,
          extra: dict, size: str = "7b", profile: bool = False) -> None:
    arm = ARMS[name]
    if arm["kind"] == "plain":
        out.write_text(json.dumps(run_plain(model_dir, work, arm, steps, warmup)))
    else:
        run_lf(model_dir, work, name, arm, steps, warmup, extra, out, size, profile)


# ----------------------------------------------------------------------------- parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arms", default=",".join(ARMS), help="comma-separated, from: " + ", ".join(ARMS))
    ap.add_argument("--steps", type=int, default=6, help="timed steps per arm")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--layers", type=int, default=None, help="text layers (default 28, the 7B)")
    ap.add_argument("--work", default=None, help="scratch folder (default: a new temp dir)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra LF setting for every lf arm (YAML value), e.g. --set torch_compile=true")
    ap.add_argument("--out-json")
    ap.add_argument("--size", choices=tuple(RECIPES), default="7b",
                    help="model shape and recipe: 7b (ours, SGD), 3b (the seed's, AdamW) or "
                         "7b_lora (our LoRA recipe, AdamW)")
    ap.add_argument("--profile", action="store_true",
                    help="lf arms: profile one more step after the timed ones (CUDA kernels: "
                         "time by class, GPU idle share, the top kernels) into the JSON")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_sft_"))
    model_dir = work / f"model{args.size}"
    import yaml

    extra = {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    if args.child:
        child(args.child, model_dir, work, args.steps, args.warmup, work / f"{args.child}.json",
              extra, args.size, args.profile)
        return

    import torch
    from _qwen7b import build_model

    names = [a for a in args.arms.split(",") if a]
    unknown = set(names) - set(ARMS)
    if unknown:
        ap.error(f"unknown arm(s) {sorted(unknown)}; choose from {list(ARMS)}")
    t0 = time.perf_counter()
    rows = max(ARMS[n].get("per_device_train_batch_size", 1) * ARMS[n].get("gradient_accumulation_steps", 1)
               for n in names) * (args.steps + args.warmup + 1)  # + the profiled step
    conv = write_inputs(work, rows)
    (work / "conv.json").write_text(json.dumps(conv))
    _, n_params = build_model(work, args.layers, name=model_dir.name, size=SHAPE[args.size])
    torch.cuda.empty_cache()
    cfg = json.loads((model_dir / "config.json").read_text())
    gpu = torch.cuda.get_device_name()
    log.info("model (%.2fB params) and data ready in %.0fs", n_params / 1e9, time.perf_counter() - t0)
    del torch  # the children own the GPU

    results = {}
    for name in names:
        t = time.perf_counter()
        cmd = [sys.executable, __file__, "--child", name, "--work", str(work),
               "--steps", str(args.steps), "--warmup", str(args.warmup), "--size", args.size,
               *(f"--set={kv}" for kv in args.set), *(["--profile"] if args.profile else [])]
        env = {**os.environ, "DISABLE_VERSION_CHECK": "1", "TOKENIZERS_PARALLELISM": "false"}
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        out = work / f"{name}.json"
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stdout + proc.stderr)[-3000:]
            log.error("arm %s failed (rc %s):\n%s", name, proc.returncode, tail)
            results[name] = {"error": failure_line(tail)}
        else:
            res = json.loads(out.read_text())
            step = statistics.median(res["times"])
            per_sample = res["tokens_per_step"] / res["samples_per_step"]
            video = res.get("video_tokens_per_sample", FRAMES // 2 * (WIDTH // 28) * (HEIGHT // 28))
            flops = res["samples_per_step"] * model_flops(cfg, per_sample - video, video,
                                                          res["train_vision"],
                                                          res.get("lora_rank", 0))
            res.update(step_s=step, tokens_per_s=res["tokens_per_step"] / step,
                       mfu=flops / step / (PEAK_TFLOPS * 1e12))
            if res.get("phases"):  # medians of each phase over the timed steps
                res["phase_s"] = dict(zip(PHASES, (statistics.median(col)
                                                   for col in zip(*res["phases"]))))
            results[name] = res
            log.info("arm %-18s %.0f tokens/s, MFU %.1f%%, peak %.1f GiB (%.0fs)", name,
                     res["tokens_per_s"], 100 * res["mfu"], res["peak_gib"], time.perf_counter() - t)
        if args.out_json:  # after every arm: a killed run keeps what it measured
            Path(args.out_json).write_text(json.dumps(
                {"gpu": gpu, "params": n_params, "arms": results,
                 "settings": {n: ARMS[n] for n in names}}, indent=2))

    print(f"\n{gpu}: random Qwen2.5-VL-{SHAPE[args.size].upper()}-shaped ({n_params / 1e9:.2f}B params), one sample = "
          f"{FRAMES} frames {WIDTH}x{HEIGHT} + O-T-A text; median of {args.steps} steps after "
          f"{args.warmup} warm-up")
    print("| arm | settings | tokens/step | step s | tokens/s | MFU | peak GiB | loss |")
    print("|---|---|---|---|---|---|---|---|")
    for name, res in results.items():
        settings = ", ".join(f"{k}={v}" for k, v in ARMS[name].items() if k != "kind") or "-"
        if "error" in res:
            print(f"| {name} | {settings} | failed: {res['error'][:80]} | | | | | |")
            continue
        print(f"| {name} | {settings} | {res['tokens_per_step']} | {res['step_s']:.3f} | "
              f"{res['tokens_per_s']:.0f} | {100 * res['mfu']:.1f}% | {res['peak_gib']:.1f} | "
              f"{res.get('loss', float('nan')):.3f} |")
    phased = {n: r for n, r in results.items() if r.get("phase_s")}
    if phased:
        print("\n| arm | " + " | ".join(f"{p} s" for p in PHASES) + " | optim | trainable dtypes |")
        print("|---|" + "---|" * (len(PHASES) + 2))
        for name, res in phased.items():
            print(f"| {name} | " + " | ".join(f"{res['phase_s'][p]:.3f}" for p in PHASES)
                  + f" | {res.get('optim', '-')} | {', '.join(res.get('trainable_dtypes', []))} |")
    for name, res in results.items():
        prof = res.get("profile")
        if prof and "error" in prof:
            print(f"\n{name}: profile failed: {prof['error']}")
        elif prof:
            print(f"\n{name}, one profiled step: wall {prof['wall_s']:.3f} s, GPU busy "
                  f"{prof['gpu_busy_s']:.3f} s (idle {100 * prof['gpu_idle_fraction']:.0f}%); kernel s "
                  "by class: " + ", ".join(f"{k} {v:.3f}" for k, v in prof["kernel_s_by_class"].items()))
            for kname, sec, calls in prof["top_kernels"][:8]:
                print(f"    {sec:.3f} s  {calls:5d} x  {kname[:90]}")
    ok = {n: r for n, r in results.items() if "error" not in r}
    if "plain" in ok:
        best = max((n for n in ok if n.startswith("lf")), key=lambda n: ok[n]["tokens_per_s"],
                   default=None)
        if best:
            print(f"best LF arm {best}: {ok[best]['tokens_per_s'] / ok['plain']['tokens_per_s']:.2f}x "
                  f"plain transformers tokens/s ({ok[best]['peak_gib']:.1f} vs "
                  f"{ok['plain']['peak_gib']:.1f} GiB peak)")


if __name__ == "__main__":
    main()
