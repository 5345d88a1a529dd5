"""The seed's evaluation input in both engines: vLLM and transformers given 64 frames of a 1280x720
clip as separate images must build the same prompt (same token count). One run, GPU.

    python benchmarks/check_frames_engines.py --work-dir /tmp/q7b [--out-json check.json]

A random Qwen2.5-VL-7B-shaped model (benchmarks/_qwen7b.py) with Qwen's own processor bounds
(3,136..12,845,056 px, so 1280x720 frames stay 1288x728: 26 x 46 = 1,196 tokens each), a 70 s
1280x720 clip at 2 fps and one yes/no item on it. `camreasoner eval run --protocol seed` (ffmpeg
-r 1 frames, the first 64, each an image, max_model_len 81,920) runs once with `--backend hf`
and once with `--backend vllm`, each in its own process; printed: both prompt token counts, the
expected count from the arithmetic, p_yes of each and the wall time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work-dir", required=True)
    ap.add_argument("--out-json")
    args = ap.parse_args()
    work = Path(args.work_dir)
    from _qwen7b import build_model

    from camreasoner import prompts
    from camreasoner.data.schema import Item, write_items
    from camreasoner.dev.clips import write_clip
    from camreasoner.vision import PROCESSOR_MAX_PIXELS, PROCESSOR_MIN_PIXELS

    model = work / "model7b_qwen_bounds"
    if not (model / "config.json").is_file():
        build_model(work, in_tokenizer=True, min_pixels=PROCESSOR_MIN_PIXELS,
                    max_pixels=PROCESSOR_MAX_PIXELS, name=model.name)
    clip = work / "videos" / "wide.mp4"
    if not clip.is_file():
        write_clip(clip, frames=140, width=1280, height=720, fps=2)  # 70 s
    items = work / "frames_items.jsonl"
    write_items(items, [Item(id="wide", video="video/wide.mp4",
                             question="Does the camera pan to the left?",
                             options=list(prompts.YES_NO_OPTIONS), answer="B", task="Pan_Left")])
    result = {}
    for backend in ("hf", "vllm"):
        out = work / f"run_{backend}"
        t = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "camreasoner", "eval", "run", "--model",
                            str(model), "--items", str(items), "--video-root",
                            str(work / "videos"), "--backend", backend, "--out", str(out),
                            "--protocol", "seed", "--max-new-tokens", "8", "--batch-size", "1",
                            "--workers", "1", "--no-progress"], capture_output=True, text=True, check=False)
        if r.returncode:
            print(r.stderr[-4000:])
            raise SystemExit(f"{backend} failed")
        (pred,) = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
        result[backend] = {"prompt_tokens": pred["prompt_tokens"], "p_yes": pred["p_yes"],
                           "response": pred["response"], "seconds": round(time.monotonic() - t)}
    # 64 frames x (1,196 image tokens + vision_start/end) + the chat's text tokens
    result["image_tokens"] = 64 * (26 * 46 + 2)
    result["equal"] = result["hf"]["prompt_tokens"] == result["vllm"]["prompt_tokens"]
    print(json.dumps(result, indent=2))
    if args.out_json:
        Path(args.out_json).write_text(json.dumps(result, indent=2) + "\n")
    if not result["equal"]:
        raise SystemExit("prompt token counts differ")


if __name__ == "__main__":
    main()
