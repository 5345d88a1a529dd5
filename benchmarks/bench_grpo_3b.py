"""verl GRPO at the 3B shape in the seed protocol on one GPU: time per step (rollout, old
log-probs, update), tokens/s per GPU and peak memory.

    python benchmarks/bench_grpo_3b.py --work-dir /tmp/grpo3b --steps 3 --out-json grpo3b.json

A random Qwen2.5-VL-3B-shaped model (benchmarks/_qwen7b.py, ``size="3b"``: 3.75B parameters)
under ``local_scripts/run_rl.sh`` with ``EasyR1/qwen2_5_vl_3b_grpo.yaml`` as committed: frames
as separate images at 1 fps fitted into the 16,384-token prompt (the conversion drops frames
until the prompt fits), 8 rollouts a prompt, 4,096 response tokens, the vision tower trained,
gradient checkpointing, AdamW. The clips are 20 s of 1280x720 (20 frames at 1 fps, 1,198 tokens
each with the vision markers: more than the budget, so the conversion cuts every prompt to 12
frames, 14,543 tokens), near the most the recipe allows. A random model never stops early, so
every response is 4,096 tokens long. Results: docs/performance.md.

What one GPU changes, each an override passed after the recipe (``one_gpu_overrides``):
* the batch: ``--prompts`` prompts a step (the seed: 128 on 8 GPUs), one optimizer step per
  ``--mini`` prompts (the seed: 32, four updates a step);
* ``algorithm.filter_groups.enable=false``: a random model's rewards are all 0, so every group
  would be filtered and the step would never fill;
* ``use_remove_padding=false`` with SDPA: packing needs FlashAttention's varlen kernels;
* ``rollout.top_k=50``: the tokenizer is the tiny model's (ids below a few thousand); the LM-head
  rows of the ids it lacks are zero (logit 0), and top-k keeps sampling among the positive
  logits of ids it has (the seed samples at top_p 1.0, no top-k);
* ``trainer.save_freq=-1``: no checkpoint (writing 3B weights and AdamW states is not the step).

verl's own metrics (``metrics.jsonl`` of the run) give the split: ``timing_s/gen`` (rollout),
``timing_s/old_log_prob``, ``timing_s/update_actor``, ``timing_s/step``, ``perf/throughput``
(all tokens of the step / step time / GPUs) and ``actor/perf/max_memory_allocated_gb``; the GPU's
memory in use is sampled with nvidia-smi every 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from camreasoner.tables import md_table

log = logging.getLogger("bench_grpo_3b")
ROOT = Path(__file__).resolve().parents[1]
CLIPS, CLIP_FPS, WIDTH, HEIGHT = 4, 2, 1280, 720  # 2 fps: 1 fps frames drawn from every other one
# verl's metric -> this script's column (the actor's memory is logged under actor/)
METRICS = {"timing_s/gen": "rollout s", "timing_s/old_log_prob": "old log-prob s",
           "timing_s/update_actor": "update s", "timing_s/step": "step s",
           "perf/throughput": "tokens/s/GPU", "prompt_length/mean": "prompt tok",
           "response_length/mean": "response tok",
           "actor/perf/max_memory_allocated_gb": "max alloc GiB",
           "actor/perf/max_memory_reserved_gb": "max reserved GiB"}


def one_gpu_overrides(prompts: int, mini: int, steps: int) -> list[str]:
    return [f"data.train_batch_size={prompts}",
            f"actor_rollout_ref.actor.ppo_mini_batch_size={mini}",
            f"trainer.total_training_steps={steps}",
            "trainer.save_freq=-1",
            "algorithm.filter_groups.enable=false",
            "actor_rollout_ref.model.use_remove_padding=false",
            "+actor_rollout_ref.model.override_config.attn_implementation=sdpa",
            "actor_rollout_ref.rollout.top_k=50"]


# verl 0.9.1's actor update failed on a step whose rows were all one length (one prompt: 8
# rollouts of 4,096 tokens, all 18,640 tokens long) in index_select_tensor_dict
# ("split_with_sizes expects split_sizes to sum exactly to 18640"), where four prompts of mixed
# lengths had run (2026-12-03, H200). So every item's question is a different number of tokens,
# and a step holds at least two prompts.
QUESTIONS = [("Is the camera static?", "Static"),
             ("Does the camera tilt up?", "Tilt_Up"),
             ("Does the camera pan to the left?", "Pan_Left"),
             ("Does the camera move forward into the scene?", "Move_In"),
             ("Does the camera zoom in on the subject of the shot?", "Zoom_In"),
             ("Does the camera roll clockwise while the scene stays in view?", "Roll_Clockwise")]


def distinct_questions(n_items: int, count_tokens: Callable[[str], int]) -> list[tuple[str, str]]:
    """``n_items`` (question, task) pairs from QUESTIONS in turn, each lengthened by " Look
    again." until no earlier question has its number of tokens."""
    used: set[int] = set()
    out = []
    for k in range(n_items):
        question, task = QUESTIONS[k % len(QUESTIONS)]
        while count_tokens(question) in used:
            question += " Look again."
        used.add(count_tokens(question))
        out.append((question, task))
    return out


def write_inputs(work: Path, n_items: int, seconds: int,
                 count_tokens: Callable[[str], int]) -> Path:
    from camreasoner import prompts
    from camreasoner.data.schema import Item, write_items
    from camreasoner.dev.clips import write_clip

    shifts = [(3, 0), (-3, 0), (0, 2), (0, -2)]
    for k in range(CLIPS):  # the length in the name: a warm machine's clips of another length stay apart
        clip = work / "videos" / f"c{k}_{seconds}s.mp4"
        if not clip.is_file():
            write_clip(clip, frames=seconds * CLIP_FPS, width=WIDTH, height=HEIGHT, fps=CLIP_FPS,
                       shift=shifts[k], seed=k)
    items = [Item(id=f"i{k}", video=f"video/c{k % CLIPS}_{seconds}s.mp4", question=question,
                  options=list(prompts.YES_NO_OPTIONS), answer="B", task=task)
             for k, (question, task) in enumerate(distinct_questions(n_items, count_tokens))]
    path = work / "items.jsonl"
    write_items(path, items)
    return path


def table(rows: list[dict]) -> str:
    return md_table(("step", *METRICS.values()),
                    [[str(r["step"]), *(f"{r[k]:,.1f}" if k in r else "-" for k in METRICS)]
                     for r in rows])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work-dir", required=True)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--prompts", type=int, default=4, help="prompts a step (x8 rollouts)")
    ap.add_argument("--mini", type=int, default=1, help="prompts an optimizer step")
    ap.add_argument("--clip-seconds", type=int, default=20,
                    help="clip length: 20 s fill the prompt budget (12 of 20 frames kept); 3 s give "
                         "3 frames, ~3.8k prompt tokens")
    ap.add_argument("--out-json")
    ap.add_argument("overrides", nargs="*", help="further Hydra overrides, applied last")
    args = ap.parse_args()
    if args.prompts < 2:
        ap.error("--prompts: at least 2 (verl 0.9.1's update failed on a step of one prompt, "
                 "whose rows are all one length)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    work = Path(args.work_dir)
    sys.path.insert(0, str(Path(__file__).parent))
    from _qwen7b import build_model

    from camreasoner.rl import verl_logs
    from camreasoner.vision import PROCESSOR_MAX_PIXELS, PROCESSOR_MIN_PIXELS

    model = work / "model3b"
    t0 = time.monotonic()
    if not (model / "config.json").is_file():
        _, n_params = build_model(work, in_tokenizer=True, min_pixels=PROCESSOR_MIN_PIXELS,
                                  max_pixels=PROCESSOR_MAX_PIXELS, name=model.name, size="3b")
        log.info("model: %.2fB parameters in %.0f s", n_params / 1e9, time.monotonic() - t0)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    items = write_inputs(work, args.prompts * args.steps, args.clip_seconds,
                         lambda text: len(tokenizer(text)["input_ids"]))
    out = work / "rl"
    env = {**os.environ, "RECIPE": "qwen2_5_vl_3b_grpo", "NGPUS": "1", "TP": "1",
           "PYTHON": sys.executable, "MODEL_PATH": str(model), "TRAIN_FILE": str(items),
           "VIDEO_ROOT": str(work / "videos"), "OUTPUT_DIR": str(out), "WORKERS": "8"}
    overrides = one_gpu_overrides(args.prompts, args.mini, args.steps) + args.overrides
    cmd = ["bash", str(ROOT / "local_scripts" / "run_rl.sh"), *overrides]
    log.info("%s", " ".join(cmd))
    smi_log = work / "gpu_mem.csv"
    with open(smi_log, "w") as f:
        smi = subprocess.Popen(["nvidia-smi", "--query-gpu=memory.used",
                                "--format=csv,noheader,nounits", "-lms", "500"], stdout=f)
    t1 = time.monotonic()
    try:
        rc = subprocess.run(cmd, env=env, check=False).returncode
    finally:
        smi.terminate()
    wall = time.monotonic() - t1
    used = [int(x) for x in smi_log.read_text().split() if x.strip().isdigit()]
    steps = verl_logs.read_step_metrics(out) if (out / verl_logs.METRICS_FILE).is_file() else {}
    rows = [{"step": k, **{m: v[m] for m in METRICS if m in v}} for k, v in sorted(steps.items())]
    result = {"returncode": rc, "wall_s": round(wall, 1), "steps": rows,
              "gpu_mem_used_peak_mib": max(used, default=None),
              "prompts_per_step": args.prompts, "clip_seconds": args.clip_seconds, "rollouts_per_prompt": 8,
              "overrides": overrides}
    print(table(rows))
    print(json.dumps({k: v for k, v in result.items() if k != "steps"}, indent=2))
    if args.out_json:
        Path(args.out_json).write_text(json.dumps(result, indent=2) + "\n")
    if rc:
        raise SystemExit(f"run_rl.sh exited {rc}")


if __name__ == "__main__":
    main()
