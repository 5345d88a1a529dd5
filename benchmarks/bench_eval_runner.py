"""The eval runner against the bare engine, on the same items, in one run.

    .venv/bin/python benchmarks/bench_eval_runner.py [--model DIR] [--items 48] [--batch-size 8]

The bare engine gets pre-decoded inputs (frames already sampled and resized, in memory) and only
generates; the runner does everything a real run does (frame decoding in worker processes,
prompt building, append-and-flush of every prediction). Both use the same loaded backend, so
the ratio is the runner's overhead. Without --model it builds the tiny random model (CPU).
Target: the runner reaches >= 90% of the engine's items/s.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--items", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--size", type=int, nargs=2, default=(320, 240), metavar=("W", "H"))
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--vision", default="tiny")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from camreasoner import prompts
    from camreasoner.data.schema import Item, write_items
    from camreasoner.dev.clips import write_clip
    from camreasoner.eval.backends import HFBackend, Request
    from camreasoner.eval.runner import RunConfig, run_eval
    from camreasoner.media.frames import load_frames
    from camreasoner.vision import vision_preset

    tmp = Path(tempfile.mkdtemp())
    model = args.model
    if model is None:
        from camreasoner.dev.tiny_model import build_tiny_model

        model = str(build_tiny_model(tmp / "tiny"))
    spec = vision_preset(args.vision)
    w, h = args.size
    items = []
    for k in range(args.items):
        write_clip(tmp / "v" / f"{k}.mp4", frames=15 * args.seconds, width=w, height=h, fps=15,
                   shift=(k % 5 - 2, k % 3 - 1), seed=k)
        items.append(Item(id=f"i{k}", video=f"{k}.mp4", question="Does the camera pan left?",
                          options=list(prompts.YES_NO_OPTIONS), answer="B", task="Pan_Left"))
    write_items(tmp / "items.jsonl", items)
    backend = HFBackend(model, max_new_tokens=args.max_new_tokens)
    backend.model.generation_config.min_new_tokens = args.max_new_tokens  # equal work per item

    requests = [Request(it.id, prompts.render_item_prompt(it),
                        load_frames(tmp / "v" / it.video, spec), ("A", "B")) for it in items]
    backend.generate(requests[: args.batch_size])  # warm-up
    t0 = time.perf_counter()
    for i in range(0, len(requests), args.batch_size):
        backend.generate(requests[i:i + args.batch_size])
    t_engine = time.perf_counter() - t0

    cfg = RunConfig(model=model, items=str(tmp / "items.jsonl"), video_root=str(tmp / "v"),
                    vision=spec.to_dict(), max_new_tokens=args.max_new_tokens,
                    batch_size=args.batch_size, workers=args.workers)
    t0 = time.perf_counter()
    summary = run_eval(cfg, tmp / "run", backend=backend, progress=False)
    t_runner = time.perf_counter() - t0
    assert summary["predictions"] == len(items)

    n = len(items)
    print(f"{n} items ({w}x{h}, {args.seconds} s clips, vision preset {args.vision!r}), batch "
          f"{args.batch_size}, {args.max_new_tokens} new tokens each, {args.workers} decode "
          f"worker(s), device {backend.device}")
    print("| path | seconds | items/s |")
    print("|---|---|---|")
    print(f"| bare engine, pre-decoded inputs | {t_engine:.2f} | {n / t_engine:.2f} |")
    print(f"| eval runner (decode in workers, write per item) | {t_runner:.2f} | "
          f"{n / t_runner:.2f} |")
    print(f"runner / engine: {t_engine / t_runner:.1%}")


if __name__ == "__main__":
    main()
