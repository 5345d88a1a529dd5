"""The vLLM evaluation backend against the batched transformers backend, one model, one run.

    python benchmarks/bench_vllm_eval.py --model MODEL --items ITEMS --video-root DIR \
        [--vision tiny] [--limit 256] [--hf-batch 64] [--out-json results.json]
    python benchmarks/bench_vllm_eval.py --qwen7b --limit 64 --new-tokens 128  # 7B-shaped
    python benchmarks/bench_vllm_eval.py --qwen7b --work-dir /tmp/q7b --build-only  # then
    python benchmarks/bench_vllm_eval.py --qwen7b --work-dir /tmp/q7b --limit 256 ...  # reuses it

With ``--qwen7b`` the model is a random Qwen2.5-VL-7B-shaped one (benchmarks/_qwen7b.py) on
clips written here (32 frames at 448x252: 2,304 video tokens), and both engines are held to
exactly ``--new-tokens`` tokens (EOS ignored) so they do equal work. Building and writing that
model takes minutes; ``--work-dir`` keeps it (and the clips) for the next run, so the timed run
fits a 10-minute job on its own.

Both engines get the same requests (our prompt, frames decoded once beforehand by the eval
runner's loader, so only the engines are timed), greedy decoding, the same ``--new-tokens``
budget, p_yes off (a generation-only comparison). HF runs first in batches of ``--hf-batch``;
vLLM then takes all requests in one call, as ``eval run --backend vllm`` feeds it. Printed:
items/s and generated tokens/s of each, the ratio, and how many responses and parsed answers
differ (bf16 kernels differ between the engines, so greedy paths can part after a near tie).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging

log = logging.getLogger("bench_vllm_eval")

def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--items")
    ap.add_argument("--video-root")
    ap.add_argument("--qwen7b", action="store_true", help="a random 7B-shaped model, own clips")
    ap.add_argument("--agreement-items", type=int, default=32,
                    help="also run HF at batch 1 on this many items: how often batching alone "
                         "changes a greedy answer, the yardstick for the engines' differences")
    ap.add_argument("--vision", default="default", help="camreasoner.vision preset")
    ap.add_argument("--limit", type=int, default=256, help="first N items with options")
    ap.add_argument("--new-tokens", type=int, default=384)
    ap.add_argument("--hf-batch", type=int, default=64)
    ap.add_argument("--gpu-memory-utilization", type=float, default=0.5)
    ap.add_argument("--out-json")
    ap.add_argument("--work-dir", help="with --qwen7b: keep the model and clips here, reuse them")
    ap.add_argument("--build-only", action="store_true", help="with --qwen7b: build, then stop")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch
    from _qwen7b import cuda_timed
    from tqdm.auto import tqdm

    from camreasoner import prompts
    from camreasoner.answers import extract_letter
    from camreasoner.data.schema import read_items, resolve_video
    from camreasoner.eval.backends import HFBackend, Request, VLLMBackend
    from camreasoner.media.frames import load_frames
    from camreasoner.vision import vision_preset

    if args.qwen7b:
        args.model, args.items, args.video_root, spec = _qwen7b_setup(args.limit, args.work_dir)
        if args.build_only:
            return
    elif not (args.model and args.items and args.video_root):
        ap.error("--model, --items and --video-root are needed (or --qwen7b)")
    else:
        spec = vision_preset(args.vision)
    items = [i for i in read_items(args.items) if i.options][: args.limit]
    reqs = [Request(i.id, prompts.render_item_prompt(i),
                    load_frames(resolve_video(args.video_root, i.video, item_id=i.id), spec))
            for i in tqdm(items, desc="decode", unit="item")]

    def run_hf():  # its own scope, so the model is freed before vLLM takes memory
        hf = HFBackend(args.model, max_new_tokens=args.new_tokens, p_yes="off")

        def budget(n: int) -> None:  # with --qwen7b every answer is exactly n tokens (equal work)
            hf.max_new_tokens = n
            if args.qwen7b:
                hf.model.generation_config.min_new_tokens = n

        # warm-up at the batch size: allocations and kernels, not the whole answer length
        budget(min(args.new_tokens, 16))
        hf.generate(reqs[: min(len(reqs), args.hf_batch)])
        budget(args.new_tokens)
        out = cuda_timed(lambda: [r for k in range(0, len(reqs), args.hf_batch)
                             for r in hf.generate(reqs[k:k + args.hf_batch])])
        single = [hf.generate([r])[0] for r in reqs[: args.agreement_items]]
        return (*out, single)

    hf_out, hf_s, hf_single = run_hf()
    hf_peak = torch.cuda.max_memory_allocated() / 2**30
    gc.collect()
    torch.cuda.empty_cache()

    vl = VLLMBackend(args.model, max_new_tokens=args.new_tokens, p_yes="off",
                     max_model_len=4096, gpu_memory_utilization=args.gpu_memory_utilization)
    if args.qwen7b:
        from vllm import SamplingParams

        equal_work = SamplingParams(temperature=0.0, max_tokens=args.new_tokens,
                                    min_tokens=args.new_tokens, ignore_eos=True)
        vl.sampling_params = lambda requests: equal_work
    vl.generate(reqs[: min(len(reqs), 8)])  # warm-up
    vl_out, vl_s = cuda_timed(lambda: vl.generate(reqs))

    rows = {}
    for name, outs, secs in (("transformers", hf_out, hf_s), ("vllm", vl_out, vl_s)):
        tokens = sum(r.generated_tokens for r in outs)
        rows[name] = {"items": len(outs), "s": round(secs, 2),
                      "items_per_s": round(len(outs) / secs, 2),
                      "tokens_per_s": round(tokens / secs, 1), "generated_tokens": tokens}
    same_text = sum(a.response == b.response for a, b in zip(hf_out, vl_out, strict=True))
    letters = [(extract_letter(a.response, i.options), extract_letter(b.response, i.options))
               for a, b, i in zip(hf_out, vl_out, items, strict=True)]
    same_letter = sum(a == b for a, b in letters)
    k = len(hf_single)
    batch_vs_single = sum(a.response == b.response for a, b in zip(hf_out[:k], hf_single))
    vllm_vs_single = sum(a.response == b.response for a, b in zip(vl_out[:k], hf_single))
    res = {"gpu": torch.cuda.get_device_name(), "model": args.model, "items": len(items),
           "new_tokens": args.new_tokens, "hf_batch": args.hf_batch,
           "hf_peak_gib": round(hf_peak, 1), **rows,
           "speedup_items": round(rows["vllm"]["items_per_s"] / rows["transformers"]["items_per_s"], 2),
           "identical_responses": same_text, "identical_answers": same_letter,
           "agreement_subset": k, "hf_batch_vs_batch1_identical": batch_vs_single,
           "vllm_vs_hf_batch1_identical": vllm_vs_single,
           "examples_differing": [{"id": i.id, "hf": a.response[:200], "vllm": b.response[:200]}
                                  for a, b, i in zip(hf_out, vl_out, items) if a.response != b.response][:3]}
    print(f"{res['gpu']}: {args.model}, {len(items)} items, greedy, <= {args.new_tokens} new tokens")
    print("| engine | items | seconds | items/s | generated tokens/s |")
    print("|---|---|---|---|---|")
    for name, r in rows.items():
        label = f"transformers, batch {args.hf_batch}" if name == "transformers" else "vLLM, one call"
        print(f"| {label} | {r['items']} | {r['s']:.2f} | {r['items_per_s']:.2f} | "
              f"{r['tokens_per_s']:.1f} |")
    print(f"vLLM / transformers: {res['speedup_items']:.1f}x items/s; identical responses "
          f"{same_text}/{len(items)}, identical answers {same_letter}/{len(items)}")
    print(f"first {k} items, identical responses: HF batch {args.hf_batch} vs HF batch 1 "
          f"{batch_vs_single}/{k}, vLLM vs HF batch 1 {vllm_vs_single}/{k}")
    if args.out_json:
        with open(args.out_json, "w") as f:
            json.dump(res, f, indent=2)


def _qwen7b_setup(n_items: int, work_dir: str | None = None):
    """A random 7B-shaped model and ``n_items`` yes/no items on clips written to ``work_dir``
    (a temp folder when None); a model or item set already there is reused."""
    import tempfile
    from pathlib import Path

    from _qwen7b import build_model, write_pan_items

    from camreasoner.data.schema import read_items
    from camreasoner.vision import VisionSpec

    tmp = Path(work_dir) if work_dir else Path(tempfile.mkdtemp())
    model = tmp / "model7b"
    if (model / "model.safetensors.index.json").exists() or (model / "model.safetensors").exists():
        log.warning("reusing the 7B-shaped model in %s", model)
    else:
        model, n_params = build_model(tmp, in_tokenizer=True)
        log.warning("random 7B-shaped model: %.2fB parameters", n_params / 1e9)
    items = tmp / "items.jsonl"
    if not items.exists() or len(read_items(items)) < n_items:
        items = write_pan_items(tmp, n_items, frames=32)
    return str(model), str(items), str(tmp / "v"), VisionSpec(fps=4.0, max_frames=32)


if __name__ == "__main__":
    main()
