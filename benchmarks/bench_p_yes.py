"""What p_yes costs in each evaluation backend: the same requests with p_yes off and on, one run.

    python benchmarks/bench_p_yes.py --work-dir /tmp/q7b [--items 64] [--new-tokens 256] [--p-yes off,letters]

A random Qwen2.5-VL-7B-shaped model (benchmarks/_qwen7b.py, built into ``--work-dir`` when
missing) on ``--items`` 8 s clips at 448x252 in the seed's evaluation input (1 fps frames as
images, ~1.4k prompt tokens), every response held to exactly ``--new-tokens`` tokens. With
transformers the response is made to open with a fixed O-T-A chain up to ``<answer>`` (a logits
processor after the backend's own), then the model picks freely among the letters and tags, so
responses have an answer position as trained models' do; the backend's logits capture runs
before the forcing and sees the model's own logits. vLLM's scoring pass does not depend on the
response, so its responses are left free. Arms per backend: ``off`` (generation only) and ``letters`` (p_yes as
`eval run` computes it: transformers reads it from the generation's own logits at the answer
position, falling back to a second pass when the response has no answer tag; vLLM scores all
answer positions in one batched pass, which reuses the prompts' cached prefix). Printed: seconds
per arm, the overhead of ``letters`` over ``off``, how p_yes was obtained, and vLLM's speed
over transformers per arm (``--p-yes letters`` alone: the engines compared with p_yes on).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

CHAIN = ("<observation>The view slides to the right.</observation><think>No parallax: a pan "
         "left.</think><answer>")
FREE_TEXT = ("A", "B", "</answer>", " the", " view")


class ForceChain:
    """Forces ``prefix`` as the first generated tokens, then keeps only ``free`` tokens."""

    def __init__(self, prefix: list[int], free: list[int]):
        self.prefix, self.free, self.start = prefix, free, None

    def __call__(self, input_ids, scores):
        import torch

        if self.start is None:
            self.start = input_ids.shape[1]
        t = input_ids.shape[1] - self.start
        keep = [self.prefix[t]] if t < len(self.prefix) else self.free
        mask = torch.full_like(scores, float("-inf"))
        mask[:, keep] = 0
        return scores + mask


def requests(work: Path, n: int):
    from camreasoner import prompts
    from camreasoner.data.schema import Item
    from camreasoner.dev.clips import write_clip
    from camreasoner.eval.backends import Request
    from camreasoner.media.frames import load_frames
    from camreasoner.vision import SEED_EVAL_VISION

    out = []
    for k in range(n):
        clip = work / "pyes_clips" / f"{k}.mp4"
        if not clip.is_file():
            write_clip(clip, frames=32, width=448, height=252, fps=4, shift=(k % 5 - 2, 1),
                       seed=k)
        item = Item(id=f"i{k}", video=clip.name, question="Does the camera pan to the left?",
                    options=list(prompts.YES_NO_OPTIONS), answer="B", task="Pan_Left")
        out.append(Request(item.id, prompts.render_eval_prompt(item, "seed"),
                           load_frames(clip, SEED_EVAL_VISION), ("A", "B")))
    return out


def run_arm(backend: str, model: str, work: Path, n: int, tokens: int, p_yes: str,
            batch: int) -> dict:
    """One backend and p_yes method, in this (child) process."""
    import torch
    from _qwen7b import cuda_timed

    from camreasoner.eval.backends import HFBackend, VLLMBackend

    reqs = requests(work, n)
    if backend == "hf":
        eng = HFBackend(model, max_new_tokens=tokens, p_yes=p_yes, vision_mode="frames")
        tok = eng.processor.tokenizer
        prefix = tok(CHAIN, add_special_tokens=False)["input_ids"]
        free = sorted({i for t in FREE_TEXT for i in tok(t, add_special_tokens=False)["input_ids"]})
        base, generate = eng._greedy_config, eng.model.generate

        def config():
            cfg = base()
            cfg.min_new_tokens = tokens  # equal work in every arm
            return cfg

        def forced(**kw):
            kw["logits_processor"].append(ForceChain(prefix, free))
            return generate(**kw)

        eng._greedy_config, eng.model.generate = config, forced
        eng.generate(reqs[:2])  # warm-up
        results, seconds = [], 0.0
        from_gen = extra = 0
        for i in range(0, n, batch):
            res, dt = cuda_timed(lambda i=i: eng.generate(reqs[i:i + batch]))
            results += res
            seconds += dt
            from_gen += eng.p_yes_from_generation
            extra += eng.p_yes_extra_passes
    else:
        from vllm import SamplingParams

        eng = VLLMBackend(model, max_new_tokens=tokens, p_yes=p_yes, vision_mode="frames",
                          max_model_len=8192, gpu_memory_utilization=0.7)
        base = eng.sampling_params

        def forced(reqs):  # equal work: exactly `tokens` tokens, the backend's logprob ids kept
            return SamplingParams(temperature=0.0, max_tokens=tokens, min_tokens=tokens,
                                  logprob_token_ids=base(reqs).logprob_token_ids)

        eng.sampling_params = forced
        eng.generate(reqs[:2])
        results, seconds = cuda_timed(lambda: eng.generate(reqs))
        from_gen, extra = eng.p_yes_from_generation, eng.p_yes_extra_passes
    eng = None  # the engine's memory goes before the caller's next arm
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return {"seconds": seconds, "items": n, "with_answer_tag": sum("<answer>" in r.response
                                                                   for r in results),
            "p_yes": [r.p_yes for r in results], "p_yes_from_generation": from_gen,
            "p_yes_extra_passes": extra,
            "generated_tokens": sum(r.generated_tokens for r in results)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work-dir", required=True)
    ap.add_argument("--items", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=256)
    ap.add_argument("--hf-batch", type=int, default=32)
    ap.add_argument("--backends", default="hf,vllm")
    ap.add_argument("--p-yes", default="off,letters",
                    help="arms per backend: off (generation only), letters (p_yes as eval run "
                         "computes it); 'letters' alone compares the engines with p_yes on")
    ap.add_argument("--out-json")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    work = Path(args.work_dir)
    model = work / "model7b_qwen_bounds"
    if args.child:
        backend, p_yes = args.child.split(":")
        res = run_arm(backend, str(model), work, args.items, args.new_tokens, p_yes,
                      args.hf_batch)
        (work / f"pyes_{backend}_{p_yes}.json").write_text(json.dumps(res))
        return
    from _qwen7b import build_model

    from camreasoner.vision import PROCESSOR_MAX_PIXELS, PROCESSOR_MIN_PIXELS

    if not (model / "config.json").is_file():
        build_model(work, in_tokenizer=True, min_pixels=PROCESSOR_MIN_PIXELS,
                    max_pixels=PROCESSOR_MAX_PIXELS, name=model.name)
    modes = [m for m in args.p_yes.split(",") if m]
    if set(modes) - {"off", "letters"}:
        ap.error(f"--p-yes: choose from off, letters; got {args.p_yes!r}")
    table = {}
    for backend in args.backends.split(","):
        for p_yes in modes:
            t = time.monotonic()
            r = subprocess.run([sys.executable, __file__, "--work-dir", str(work), "--items",
                                str(args.items), "--new-tokens", str(args.new_tokens),
                                "--hf-batch", str(args.hf_batch), "--child",
                                f"{backend}:{p_yes}"], capture_output=True, text=True, check=False)
            if r.returncode:
                print(r.stderr[-3000:])
                continue
            res = json.loads((work / f"pyes_{backend}_{p_yes}.json").read_text())
            res["wall_s"] = round(time.monotonic() - t, 1)
            table[f"{backend}:{p_yes}"] = res
            if args.out_json:  # after every arm: a run cut short keeps what it measured
                Path(args.out_json).write_text(json.dumps(table, indent=2) + "\n")
    print(f"| backend | p_yes | seconds | overhead | items with <answer> | p_yes from the "
          f"generation | extra passes |  ({args.items} items x {args.new_tokens} tokens)")
    print("|---|---|---|---|---|---|---|")
    for key, res in table.items():
        backend, p_yes = key.split(":")
        off = table.get(f"{backend}:off", {}).get("seconds")
        over = f"{100 * (res['seconds'] / off - 1):+.1f}%" if off and p_yes != "off" else "-"
        print(f"| {backend} | {p_yes} | {res['seconds']:.1f} | {over} | {res['with_answer_tag']} "
              f"| {res['p_yes_from_generation']} | {res['p_yes_extra_passes']} |")
    for p_yes in modes:
        hf, vl = table.get(f"hf:{p_yes}"), table.get(f"vllm:{p_yes}")
        if hf and vl:
            print(f"p_yes {p_yes}: vLLM {hf['seconds'] / vl['seconds']:.2f}x as fast as "
                  f"transformers ({vl['seconds']:.1f} vs {hf['seconds']:.1f} s)")


if __name__ == "__main__":
    main()
