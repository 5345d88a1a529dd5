"""Can the tiny model's vision tower learn the synthetic camera motions on its own?

    python maintainers/probes/probe_vision_tower.py --train DIR --test DIR --model TINY_MODEL \
        [--mode video|frames] [--train-clips 4000] [--steps 500] [--lr 1e-3] [--batch 32]

DIR: a synthetic set (``camreasoner synth`` / the demo's data/train, data/test: manifest.jsonl +
videos/). TINY_MODEL: a Qwen2.5-VL folder (``camreasoner dev tiny-model`` or the demo's model/tiny).
The clips are sampled and sized by the ``tiny`` vision preset, processed by the model's own
processor, and fed to its vision tower + merger; a linear head on the mean of the output tokens
is trained with binary cross-entropy on the 15 primitives' Yes/No labels (unlabeled ones masked).
``--mode frames`` feeds each sampled frame as an image (the seed's RL input) and puts a 2-layer
transformer across the frames' tokens before the pooling, since one frame alone shows no motion.
Every ``--eval-every`` steps it prints the held-out average AP next to chance (the positive rate).

This separates "the pixels and the vision tower carry the motion" from "SFT through the language
model teaches it": maintainers/experiment-log.md has what it measured (video mode: 77 AP after 500 steps).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

log = logging.getLogger("probe_vision_tower")


def start(threads: int, seed: int) -> None:
    """What both probes do first: log lines with times, torch's threads (0: its default), seed."""
    import torch

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)


def finish(rows: list[dict], header: list[str], cells, out_json: str | None) -> None:
    """What both probes do last: their rows as a Markdown table (``cells(row)``: its column
    texts) and, with ``out_json``, as JSON."""
    from camreasoner.tables import md_table

    print(md_table(header, [cells(r) for r in rows]), end="")
    if out_json:
        Path(out_json).write_text(json.dumps(rows, indent=2) + "\n")


def load_clips(folder: Path, n: int | None, processor, spec, mode: str):
    """Pixel tensors (clips, patches, patch_dim), the per-clip grid, labels and label mask."""
    import torch
    from tqdm.auto import tqdm

    from camreasoner import taxonomy
    from camreasoner.media.video import read_frames, resize_for_model

    records = [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]
    records = records[:n] if n else records
    if not records:
        raise ValueError(f"{folder}/manifest.jsonl lists no clips")
    pixels, labels, mask, grid = [], [], [], None
    for r in tqdm(records, desc=f"decode {folder.name}", unit="clip"):
        frames = resize_for_model(read_frames(folder / "videos" / r["video"], spec).frames, spec)
        if mode == "video":
            out = processor.video_processor(videos=[torch.from_numpy(frames).permute(0, 3, 1, 2)],
                                            do_resize=False, do_sample_frames=False,
                                            return_tensors="pt")
            pv, g = out["pixel_values_videos"], out["video_grid_thw"][0]
        else:
            out = processor.image_processor(images=list(frames), do_resize=False,
                                            return_tensors="pt")
            pv, g = out["pixel_values"], out["image_grid_thw"][0]
        if grid is not None and not torch.equal(g, grid):
            raise ValueError(f"{r['clip_id']}: grid {g.tolist()} differs from {grid.tolist()}; "
                             "the probe needs clips of one size and length")
        grid = g
        pixels.append(pv)
        for p in taxonomy.PRIMITIVE_NAMES:
            if p not in r["labels"]:
                raise ValueError(f"{r['clip_id']}: labels lack primitive {p!r}")
        labels.append([1.0 if r["labels"][p] == "Yes" else 0.0 for p in taxonomy.PRIMITIVE_NAMES])
        mask.append([0.0 if r["labels"][p] is None else 1.0 for p in taxonomy.PRIMITIVE_NAMES])
    return torch.stack(pixels), grid, torch.tensor(labels), torch.tensor(mask)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", required=True, type=Path)
    ap.add_argument("--test", required=True, type=Path)
    ap.add_argument("--model", required=True, help="a tiny Qwen2.5-VL folder")
    ap.add_argument("--mode", choices=("video", "frames"), default="video")
    ap.add_argument("--train-clips", type=int, default=4000)
    ap.add_argument("--test-clips", type=int, default=400)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-json")
    args = ap.parse_args()
    start(args.threads, args.seed)
    import numpy as np
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from camreasoner import taxonomy
    from camreasoner.eval.metrics import average_precision
    from camreasoner.vision import vision_preset

    spec = vision_preset("tiny")
    processor = AutoProcessor.from_pretrained(args.model)
    train = load_clips(args.train, args.train_clips, processor, spec, args.mode)
    test = load_clips(args.test, args.test_clips, processor, spec, args.mode)
    model = AutoModelForImageTextToText.from_pretrained(args.model, dtype=torch.float32)
    vision = model.model.visual
    hidden = model.config.text_config.hidden_size
    grid = train[1].view(1, 3)
    per_unit = int(grid.prod()) // 4  # output tokens of one video / one frame (2x2 merge)
    units = train[0].shape[1] // int(grid.prod())  # 1 video, or the number of frames
    head = torch.nn.Linear(hidden, len(taxonomy.PRIMITIVE_NAMES))
    params = list(vision.parameters()) + list(head.parameters())
    temporal = None
    if args.mode == "frames":
        layer = torch.nn.TransformerEncoderLayer(hidden, model.config.text_config.num_attention_heads,
                                                 4 * hidden, batch_first=True, norm_first=True)
        temporal = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        position = torch.nn.Parameter(torch.randn(units * per_unit, hidden) * 0.02)
        params += list(temporal.parameters()) + [position]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)

    def forward(pixels):
        b = pixels.shape[0]
        out = vision(pixels.reshape(-1, pixels.shape[-1]), grid_thw=grid.repeat(b * units, 1))
        h = getattr(out, "pooler_output", out).reshape(b, units * per_unit, hidden)
        if temporal is not None:
            h = temporal(h + position)
        return head(h.mean(1))

    def evaluate() -> tuple[float, float, dict[str, float | None]]:
        with torch.no_grad():
            scores = torch.cat([forward(test[0][k:k + 64]) for k in range(0, len(test[0]), 64)])
        per: dict[str, float | None] = {}
        chance = []
        for j, name in enumerate(taxonomy.PRIMITIVE_NAMES):
            keep = test[3][:, j] > 0
            y = test[2][keep, j]
            ap_j = average_precision(y.int().tolist(), scores[keep, j].tolist())
            per[name] = None if ap_j is None else 100 * ap_j  # percent, as the report
            if per[name] is not None:
                chance.append(float(y.mean()) * 100)
        valid = [v for v in per.values() if v is not None]
        return float(np.mean(valid)), float(np.mean(chance)), per

    gen = torch.Generator().manual_seed(args.seed)
    rows, t0 = [], time.monotonic()
    for step in range(1, args.steps + 1):
        idx = torch.randint(0, len(train[0]), (args.batch,), generator=gen)
        logits = forward(train[0][idx])
        m = train[3][idx]
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(
            logits, train[2][idx], reduction="none") * m).sum() / m.sum().clamp(min=1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % args.eval_every == 0 or step == args.steps:
            avg, chance, per = evaluate()
            rows.append({"step": step, "loss": round(loss.item(), 4), "test_ap": round(avg, 1),
                         "chance_ap": round(chance, 1), "seconds": round(time.monotonic() - t0),
                         "per_primitive": {k: None if v is None else round(v, 1)
                                           for k, v in per.items()}})
            log.info("step %d loss %.3f held-out AP %.1f (chance %.1f)", step, loss.item(), avg,
                     chance)
    print(f"vision-tower probe, {args.mode} mode, {len(train[0])} training clips, batch "
          f"{args.batch}, lr {args.lr}")
    finish(rows, ["step", "loss", "held-out avg AP", "chance AP", "seconds"],
           lambda r: [str(r["step"]), f"{r['loss']:.3f}", f"{r['test_ap']:.1f}",
                      f"{r['chance_ap']:.1f}", str(r["seconds"])], args.out_json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
