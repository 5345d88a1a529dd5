"""Evaluation speed on one GPU with a random Qwen2.5-VL-7B-shaped model (no weights needed).

    python benchmarks/bench_gpu_eval.py --out-json results.json

Two measurements in one run, same model and inputs:
1. The transformers backend batched (``--batch`` items a call) against plain per-item
   ``generate`` (batch 1): items/s and generated tokens/s at a fixed number of new tokens.
2. The eval runner (PyAV decoding in worker processes, prompts, append-and-flush) against the
   bare engine fed pre-decoded frames, batched: items/s and the ratio (target >= 90%).

Inputs: clips written here (448x252 after resizing, --frames frames each -> 16 temporal patches of
144 tokens = 2,304 video tokens at 32 frames) with our prompt (~400 text tokens with the chat
template and instruction). The tokenizer is the tiny model's (ids above its size decode to
nothing); its vocabulary does not change the compute, the 152k-row LM head is the 7B config's.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

from _qwen7b import build_model, cuda_timed, write_pan_items


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=None, help="text layers (default: 28, the 7B)")
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--single-items", type=int, default=8)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--batched-items", type=int, default=64)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--out-json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    from camreasoner import prompts
    from camreasoner.data.schema import read_items, write_items
    from camreasoner.eval.backends import HFBackend, Request
    from camreasoner.eval.runner import RunConfig, run_eval
    from camreasoner.media.frames import load_frames
    from camreasoner.vision import VisionSpec

    tmp = Path(tempfile.mkdtemp())
    t0 = time.perf_counter()
    model_dir, n_params = build_model(tmp, args.layers)
    t_build = time.perf_counter() - t0
    spec = VisionSpec(fps=4.0, max_frames=args.frames)
    items = read_items(write_pan_items(tmp, max(args.single_items, args.batched_items),
                                       args.frames))

    backend = HFBackend(str(model_dir), max_new_tokens=args.new_tokens, p_yes="off")
    gc = backend.model.generation_config
    gc.min_new_tokens = args.new_tokens  # equal work per item
    reqs = [Request(it.id, prompts.render_item_prompt(it), load_frames(tmp / "v" / it.video, spec))
            for it in items]
    probe = backend._inputs([backend._chat(reqs[0].prompt)], [reqs[0].video])
    n_prompt = int(probe["input_ids"].shape[1])
    n_video = int((probe["input_ids"] == backend.model.config.video_token_id).sum())

    backend.generate(reqs[:2])  # warm-up
    t_single = cuda_timed(lambda: [backend.generate([r]) for r in reqs[: args.single_items]])[1]
    backend.generate(reqs[: args.batch])  # warm-up at the batch size
    t_batched = cuda_timed(lambda: [backend.generate(reqs[i:i + args.batch])
                                    for i in range(0, args.batched_items, args.batch)])[1]
    cfg = RunConfig(model=str(model_dir), items=str(tmp / "items.jsonl"),
                    video_root=str(tmp / "v"), vision=spec.to_dict(),
                    max_new_tokens=args.new_tokens, batch_size=args.batch, workers=args.workers)
    sub = tmp / "items_b.jsonl"
    write_items(sub, items[: args.batched_items])
    cfg.items = str(sub)
    t_runner = cuda_timed(lambda: run_eval(cfg, tmp / "run", backend=backend, progress=False))[1]
    peak = torch.cuda.max_memory_allocated() / 2**30

    res = {
        "gpu": torch.cuda.get_device_name(), "params": n_params, "build_s": round(t_build, 1),
        "prompt_tokens": n_prompt, "video_tokens": n_video, "new_tokens": args.new_tokens,
        "single": {"items": args.single_items, "s": t_single},
        "batched": {"items": args.batched_items, "batch": args.batch, "s": t_batched},
        "runner": {"items": args.batched_items, "batch": args.batch, "s": t_runner,
                   "workers": args.workers},
        "peak_gib": round(peak, 1),
    }
    single_ips = args.single_items / t_single
    batched_ips = args.batched_items / t_batched
    runner_ips = args.batched_items / t_runner
    print(f"{res['gpu']}: random Qwen2.5-VL, {n_params / 1e9:.2f}B params (built in {t_build:.0f}s), "
          f"prompt {n_prompt} tokens ({n_video} video), {args.new_tokens} new tokens per item, "
          f"peak {peak:.1f} GiB")
    print("| path | items | seconds | items/s | generated tokens/s |")
    print("|---|---|---|---|---|")
    for name, n, t in (("per-item generate (batch 1)", args.single_items, t_single),
                       (f"HF backend, batch {args.batch}, pre-decoded", args.batched_items,
                        t_batched),
                       (f"eval runner, batch {args.batch}, {args.workers} decode workers",
                        args.batched_items, t_runner)):
        print(f"| {name} | {n} | {t:.2f} | {n / t:.2f} | {n * args.new_tokens / t:.1f} |")
    print(f"batched / per-item: {batched_ips / single_ips:.1f}x; runner / engine: "
          f"{runner_ips / batched_ips:.1%}")
    if args.out_json:
        Path(args.out_json).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
