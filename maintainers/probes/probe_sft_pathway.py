"""Does SFT through the language model teach the motion? A small Qwen2.5-VL on the CPU.

    python maintainers/probes/probe_sft_pathway.py --train DIR --work WORK --variant chain \
        [--clips 4000] [--held-clips 400] [--steps 1000] [--batch 16] [--lr 1e-3] [--eval-every 250] \
        [--lm small|gpu] [--device cpu|cuda] [--seed 0]

DIR: a synthetic set with its SFT chains (``camreasoner synth``: manifest.jsonl, sft.json,
videos/). The model is built in WORK (the gpu presets' vision tower: depth 4, width 128, with a
2-layer, 128-wide LM so a step takes ~0.5-1 s on 2 cores, or with ``--lm gpu`` the presets' own
6 x 384 LM, ~1.6 s) and trained with next-token cross-entropy
on the assistant turn, as LLaMA-Factory's SFT does (the qwen2_vl template, 64 video tokens a clip;
the pixels are bit-identical to LLaMA-Factory's, maintainers/experiment-log.md). Clips from ``--held-clips``
before the end are held out. Variants of the target:

- ``chain``: the whole O-T-A chain (what the demo's SFT trains on);
- ``answer``: only ``<answer>X</answer>`` after the same prompt (the motion decides all the loss);
- ``short``: the chain, with the CamReasoner instruction cut from the prompt (~180 fewer tokens);
- ``caption``: the video alone (no question) -> its ``<observation>`` (depends on the video only);
- ``label``: the video alone -> ``<observation>`` holding only the motion's name ("pan right"):
  every target token is motion, as the vision probe's head (scored by exact match); the first
  phase of the demo's ``motion_captioner`` (``motion_base``, commit 2d86988).
- ``describe``: the video and a request to describe the camera's movement -> the chain's
  ``<observation>`` and ``<think>`` (a set made with ``--chain-style short``: the cues, then
  "the camera pans right"), no question, no answer: a captioner of camera motion (scored by
  exact match of the whole description).
- ``label_prompt``: ``label``'s target after each chain's own prompt (the CamReasoner
  instruction and the question): does a base that names the motion after the bare video keep
  naming it with the prompt between (``--init`` a base)?
- ``describe_prompt``: ``describe``'s target (the cues, then "the camera pans right", closed by
  ``</think>``) after each chain's own prompt, yes/no and multiple-choice alike: a captioner
  that describes the motion whatever it is asked, and never writes a verdict or an answer (the
  second phase of the demo's ``motion_captioner``, ``--init`` the first).
- ``describe_lookup``: ``describe_prompt``'s examples on odd steps; on even steps text-only
  lookups: a chain's prompt without the video, its observation and think given (no loss there),
  the loss only on ``<answer>X</answer>``, the multiple-choice options in ``--lookup-orders``
  random orders (the letter follows the option). The generic skill a real base LLM brings to
  multiple choice (find the option that says what the think says), with no video to answer
  from; scored also by the held-out lookups' letter accuracy.

Every ``--eval-every`` steps: greedy answers on held-out multiple-choice and yes/no chains
(accuracy, parse failures; not for ``caption``), and the video information gain: the held-out
response loss with another clip's video minus with its own, in nats per sequence (0 when the
video is ignored).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import time
from pathlib import Path

from probe_vision_tower import finish, load_clips, start

log = logging.getLogger("probe_sft_pathway")
VARIANTS = ("chain", "answer", "short", "caption", "label", "describe", "label_prompt",
            "describe_prompt", "describe_lookup")
# scored by exact match of their target (motion name or description), not by answers to questions
EXACT_VARIANTS = ("label", "describe", "label_prompt", "describe_prompt", "describe_lookup")
# scored by the whole description, not by the motion's name in <observation>
DESCRIBE_VARIANTS = ("describe", "describe_prompt", "describe_lookup")
# the describe variant's question: a captioning request, not one of CameraBench's
DESCRIBE_QUESTION = "Describe how the camera moves in this video."
VIDEO_TOKENS = 64  # 112x112, 8 frames: grid 4x8x8 -> 256 patches, 2x2 merge -> 64


def probe_model(work: Path, lm: str) -> Path:
    """The ``--lm`` model in ``work`` (``work/<lm>_lm``), built there if it is not yet: the LM
    on the gpu presets' vision tower (depth 4, width 128), "small" (2 x 128, ~1 s a step on 2
    cores; motion_captioner's shape) or "gpu" (the presets' own 6 x 384 LM, the 15M model: is its
    size what holds the motion back?)."""
    from camreasoner.dev.tiny_model import TinyModelSpec, build_tiny_model

    shape = {"small": {"hidden_size": 128, "intermediate_size": 512, "num_layers": 2,
                       "num_heads": 2, "num_kv_heads": 1},
             "gpu": {"hidden_size": 384, "intermediate_size": 1536, "num_layers": 6,
                     "num_heads": 6, "num_kv_heads": 2}}[lm]
    model_dir = work / f"{lm}_lm"
    if not (model_dir / "config.json").exists():
        build_tiny_model(model_dir, TinyModelSpec(**shape, vision_depth=4, vision_hidden=128,
                                                  vision_heads=4))
    return model_dir


def make_example(rec: dict, variant: str, tok, instruction: str, motion: str = "") -> dict:
    """Token ids and labels of one ShareGPT record in the qwen2_vl template, as ``variant`` asks
    (``motion``: the clip's motion name, for ``label``)."""
    clip = rec["videos"][0]
    user = rec["messages"][0]["content"].replace("<video>", "")
    resp = rec["messages"][1]["content"]
    if variant == "short":
        if instruction not in user:
            raise ValueError(f"{rec['id']}: prompt lacks the instruction to cut")
        user = user.replace(instruction, "").rstrip()
    if variant == "answer":
        resp = resp[resp.index("<answer>"):]
    if variant == "caption":
        user = ""
        resp = resp[:resp.index("</observation>") + len("</observation>")]
    if variant in ("label", "label_prompt"):
        user = "" if variant == "label" else user
        resp = f"<observation>{motion.replace('_', ' ').lower()}</observation>"  # "pan right"
    if variant == "describe":
        user = DESCRIBE_QUESTION
        resp = resp[:resp.index("</think>") + len("</think>")]
    if variant in ("describe_prompt", "describe_lookup"):
        # a short chain's think: "asked: <primitive>; <summary>: <verdict>" (yes/no) or
        # "<summary>" (multiple choice); the target is "<observation>…</observation><think>
        # <summary></think>" either way (motion_captioner was pre-trained on the chains of
        # 2026-12-03, "<summary>; asked: …", the same target)
        think = re.search(r"<think>(?:asked: [^;]*; )?(.*?)(?:: (?:Yes|No))?</think>", resp)
        resp = resp[:think.start()] + f"<think>{think.group(1)}</think>"
    prompt = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
              "<|vision_start|>" + "<|video_pad|>" * VIDEO_TOKENS + "<|vision_end|>" + user
              + "<|im_end|>\n<|im_start|>assistant\n")
    p = tok(prompt, add_special_tokens=False)["input_ids"]
    r = tok(resp + "<|im_end|>\n", add_special_tokens=False)["input_ids"]
    answer = re.search(r"<answer>\s*([A-Z])", rec["messages"][1]["content"])
    return {"clip": clip, "ids": p + r, "labels": [-100] * len(p) + r, "prompt": p, "target": r,
            "label": resp if variant in DESCRIBE_VARIANTS else motion.replace("_", " ").lower(),
            "answer": answer.group(1) if answer else None, "task": rec["task"],
            "options": re.findall(r"^([A-Z])\. ", rec["messages"][0]["content"], re.MULTILINE)}


def make_lookup(rec: dict, tok, rng: random.Random | None = None) -> dict:
    """A text-only lookup of ``describe_lookup``: the record's prompt without the video (its
    multiple-choice options shuffled by ``rng``, the answer's letter following its option), the
    chain's observation and think as given context, the loss only after ``<answer>``."""
    from camreasoner import prompts

    user = rec["messages"][0]["content"].replace(prompts.VIDEO_PLACEHOLDER, "")
    resp = rec["messages"][1]["content"]
    letter = re.search(r"<answer>\s*([A-Z])", resp)
    if letter is None:
        raise ValueError(f"{rec['id']}: response has no <answer> letter")
    answer = letter.group(1)
    if rng is not None and rec["task"] == "which_motion":
        question, options, instruction = prompts.parse_prompt(user)
        texts = [prompts.split_option(o)[1] for o in options]
        truth = texts[[prompts.split_option(o)[0] for o in options].index(answer)]
        rng.shuffle(texts)  # synth lists each option once (tests/test_synth.py)
        user = prompts.render_prompt(question, prompts.make_options(texts), instruction)
        answer = prompts.option_letter(texts.index(truth))
    head = resp.split("<answer>")[0] + "<answer>"
    prompt = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
              + user + "<|im_end|>\n<|im_start|>assistant\n" + head)
    p = tok(prompt, add_special_tokens=False)["input_ids"]
    r = tok(f"{answer}</answer><|im_end|>\n", add_special_tokens=False)["input_ids"]
    return {"clip": rec["videos"][0], "ids": p + r, "labels": [-100] * len(p) + r,
            "letter_at": len(p), "task": rec["task"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", required=True, type=Path, help="synthetic set with sft.json")
    ap.add_argument("--work", required=True, type=Path, help="the small model is built here")
    ap.add_argument("--variant", choices=VARIANTS, default="chain")
    ap.add_argument("--clips", type=int, default=4000, help="first N clips of the set")
    ap.add_argument("--held-clips", type=int, default=400, help="the last N of them held out")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--eval-items", type=int, default=100, help="held-out chains of each kind")
    ap.add_argument("--max-new-tokens", type=int, default=384,
                    help="the yes/no chains run to ~330 tokens with the tiny tokenizer")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="cpu, or cuda on the GPU machine")
    ap.add_argument("--lm", choices=("small", "gpu"), default="small",
                    help="small: 2 layers x 128; gpu: the gpu presets' 6 x 384")
    ap.add_argument("--seed", type=int, default=0,
                    help="torch's seed and the batch draw's (the model is built with its own)")
    ap.add_argument("--out-json")
    ap.add_argument("--save", type=Path, help="write the trained model here (save_pretrained)")
    ap.add_argument("--lookup-orders", type=int, default=4,
                    help="describe_lookup: random option orders per multiple-choice chain")
    ap.add_argument("--max-seconds", type=float, default=0,
                    help="stop training (then evaluate and --save) after this long: a device "
                         "call that runs out of time brings nothing back")
    ap.add_argument("--init", type=Path,
                    help="start from this model folder (a base, e.g. "
                         "src/camreasoner/dev/assets/motion_captioner) instead of building the "
                         "--lm model")
    args = ap.parse_args()
    start(args.threads, seed=args.seed)
    import numpy as np
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from camreasoner import prompts
    from camreasoner.answers import extract_letter
    from camreasoner.qwen_positions import fix_video_positions
    from camreasoner.vision import vision_preset

    if args.init and not (args.init / "config.json").exists():
        raise SystemExit(f"--init {args.init}: no config.json there (a model folder)")
    model_dir = args.init or probe_model(args.work, args.lm)
    fix_video_positions()
    processor = AutoProcessor.from_pretrained(model_dir)
    tok = processor.tokenizer
    pixels, grid, _, _ = load_clips(args.train, args.clips, processor, vision_preset("tiny"), "video")
    if int(grid.prod()) // 4 != VIDEO_TOKENS:
        raise ValueError(f"clips give {int(grid.prod()) // 4} video tokens, the probe expects "
                         f"{VIDEO_TOKENS} (112x112, 8 frames)")
    manifest = [json.loads(x) for x in (args.train / "manifest.jsonl").read_text().splitlines()]
    index = {m["video"]: k for k, m in enumerate(manifest[: len(pixels)])}
    motion = {m["video"]: m["motion"] for m in manifest}
    records = [r for r in json.loads((args.train / "sft.json").read_text())
               if r["videos"][0] in index]
    if args.variant == "label":  # one target a clip (a clip's chains word its observation apart)
        records = list({r["videos"][0]: r for r in records}.values())
    if args.variant == "describe":  # a clip's multiple-choice chain: its cues and its motion
        records = [r for r in records if r["task"] == "which_motion"]
    data = [make_example(r, args.variant, tok, prompts.CAMERA_OTA_INSTRUCTION,
                         motion[r["videos"][0]]) for r in records]
    first_held = len(pixels) - args.held_clips
    train = [d for d in data if index[d["clip"]] < first_held]
    held = [d for d in data if index[d["clip"]] >= first_held]
    held_mc = [d for d in held if d["task"] == "which_motion"][: args.eval_items]
    held_yes_no = [d for d in held if d["task"] != "which_motion"][: args.eval_items]
    lookups_train, lookups_held = [], []
    if args.variant == "describe_lookup":
        rng = random.Random(args.seed)
        for r in records:
            held_clip = index[r["videos"][0]] >= len(pixels) - args.held_clips
            orders = 1 if r["task"] != "which_motion" else args.lookup_orders
            for _ in range(orders):
                (lookups_held if held_clip else lookups_train).append(make_lookup(r, tok, rng))
        log.info("lookups: %d training, %d held out", len(lookups_train), len(lookups_held))
    if not train or not held:
        raise ValueError(f"{len(train)} training and {len(held)} held-out chains: adjust --clips "
                         "/ --held-clips")
    log.info("%s: %d training chains, %d held out; prompt %d tokens, sequence %d",
             args.variant, len(train), len(held), len(train[0]["prompt"]), len(train[0]["ids"]))
    dev = torch.device(args.device)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32).to(dev)
    pad = tok.convert_tokens_to_ids("<|endoftext|>")
    video_id = tok.convert_tokens_to_ids("<|video_pad|>")
    # seconds per temporal patch (2 frames at the clips' rate), as LLaMA-Factory passes it. At
    # 4 fps it is 0.5, which transformers 5.5 truncates to 0 in get_rope_index: every temporal
    # patch then gets the same position (maintainers/experiment-log.md); the clips are 2 fps.
    fps_ts = processor.video_processor.temporal_patch_size / vision_preset("tiny").fps

    def mm_types(ids):
        """mm_token_type_ids as the processor returns them (2 at video tokens): without them
        transformers 5.5 gives the video tokens 1-D text positions, not the 3-D M-RoPE ones the
        processor's inputs (the evaluation, LLaMA-Factory) get."""
        return (ids == video_id).long() * 2

    def video_inputs(clips: list[str]) -> dict:
        return {"pixel_values_videos": pixels[[index[c] for c in clips]].reshape(
                    -1, pixels.shape[-1]).to(dev),
                "video_grid_thw": grid.view(1, 3).repeat(len(clips), 1).to(dev),
                "second_per_grid_ts": torch.tensor([fps_ts] * len(clips)).to(dev)}

    def collate(ds: list[dict]) -> dict:
        n = max(len(d["ids"]) for d in ds)
        ids = torch.full((len(ds), n), pad)
        labels = torch.full((len(ds), n), -100)
        att = torch.zeros((len(ds), n), dtype=torch.long)
        for i, d in enumerate(ds):
            ids[i, :len(d["ids"])] = torch.tensor(d["ids"])
            labels[i, :len(d["ids"])] = torch.tensor(d["labels"])
            att[i, :len(d["ids"])] = 1
        return {"input_ids": ids.to(dev), "attention_mask": att.to(dev), "labels": labels.to(dev),
                "mm_token_type_ids": mm_types(ids).to(dev)}

    def left_padded(chunk: list[dict]):
        """The chunk's prompts, left-padded for generation: token ids and attention mask."""
        n = max(len(d["prompt"]) for d in chunk)
        ids = torch.full((len(chunk), n), pad)
        att = torch.zeros((len(chunk), n), dtype=torch.long)
        for i, d in enumerate(chunk):
            ids[i, n - len(d["prompt"]):] = torch.tensor(d["prompt"])
            att[i, n - len(d["prompt"]):] = 1
        return ids.to(dev), att.to(dev)

    @torch.no_grad()
    def accuracy(ds: list[dict]) -> tuple[float, int]:
        correct = fails = 0
        for k in range(0, len(ds), 50):
            chunk = ds[k:k + 50]
            ids, att = left_padded(chunk)
            out = model.generate(input_ids=ids, attention_mask=att,
                                 mm_token_type_ids=mm_types(ids),
                                 **video_inputs([d["clip"] for d in chunk]),
                                 max_new_tokens=args.max_new_tokens, do_sample=False,
                                 pad_token_id=pad)
            for d, row in zip(chunk, out[:, ids.shape[1]:], strict=True):
                letter = extract_letter(tok.decode(row, skip_special_tokens=True), d["options"])
                fails += letter is None
                correct += letter == d["answer"]
        return 100 * correct / max(1, len(ds)), fails

    @torch.no_grad()
    def label_accuracy(ds: list[dict]) -> float:
        """% of clips whose greedy output is the target exactly: the motion's name (``label``)
        or the whole description (``describe``)."""
        hits = 0
        for k in range(0, len(ds), 50):
            chunk = ds[k:k + 50]
            ids, att = left_padded(chunk)
            out = model.generate(input_ids=ids, attention_mask=att,
                                 mm_token_type_ids=mm_types(ids),
                                 **video_inputs([d["clip"] for d in chunk]),
                                 max_new_tokens=max(len(d["target"]) for d in chunk) + 2,
                                 do_sample=False, pad_token_id=pad)
            for d, row in zip(chunk, out[:, ids.shape[1]:], strict=True):
                text = tok.decode(row, skip_special_tokens=False).split("<|im_end|>")[0]
                if args.variant in DESCRIBE_VARIANTS:
                    hits += text.strip() == d["label"]
                    continue
                said = re.search(r"<observation>(.*?)</observation>", text)
                hits += bool(said) and said.group(1).strip() == d["label"]
        return 100 * hits / max(1, len(ds))

    @torch.no_grad()
    def info_gain(ds: list[dict]) -> float:
        gains = []
        for k in range(0, len(ds), 32):
            chunk = ds[k:k + 32]
            own = [d["clip"] for d in chunk]

            def loss_per_seq(clips, chunk=chunk):
                b = collate(chunk)
                labels = b.pop("labels")[:, 1:]
                logits = model(**b, **video_inputs(clips)).logits[:, :-1]
                nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2),
                                                        labels.clamp(min=0), reduction="none")
                return (nll * (labels >= 0)).sum(1)

            gains += (loss_per_seq(own[1:] + own[:1]) - loss_per_seq(own)).tolist()
        return float(np.mean(gains))

    @torch.no_grad()
    def lookup_accuracy(ds: list[dict]) -> tuple[float, float]:
        """% of held-out lookups whose most likely token at the letter is the answer's, for
        multiple-choice and yes/no chains (teacher-forced: one forward pass, no video)."""
        hits = {"mc": [], "yes_no": []}
        for k in range(0, len(ds), 64):
            chunk = ds[k:k + 64]
            b = collate(chunk)
            b.pop("labels")
            logits = model(**b).logits
            for i, d in enumerate(chunk):
                said = int(logits[i, d["letter_at"] - 1].argmax())
                kind = "mc" if d["task"] == "which_motion" else "yes_no"
                hits[kind].append(said == d["ids"][d["letter_at"]])
        return tuple(100 * float(np.mean(v)) if v else float("nan") for v in hits.values())

    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(args.seed)
    rows, t0 = [], time.monotonic()
    yes_rate = 100 * float(np.mean([d["answer"] == prompts.YES_LETTER for d in held_yes_no])) \
        if held_yes_no else float("nan")

    def evaluate(step: int, loss) -> None:
        model.eval()
        row = {"step": step, "loss": round(loss.item(), 4),
               "video_info_gain": round(info_gain(held[:128]), 3)}
        if lookups_held:
            mc_held = [d for d in lookups_held if d["task"] == "which_motion"][:200]
            yn_held = [d for d in lookups_held if d["task"] != "which_motion"][:200]
            row["lookup_mc_acc"], row["lookup_yes_no_acc"] = lookup_accuracy(mc_held + yn_held)
        if args.variant in EXACT_VARIANTS:
            row["label_acc"] = label_accuracy(held[:200])
        elif args.variant != "caption":
            row["mc_acc"], row["mc_parse_failures"] = accuracy(held_mc)
            row["yes_no_acc"], row["yes_no_parse_failures"] = accuracy(held_yes_no)
        row["seconds"] = round(time.monotonic() - t0)
        model.train()
        rows.append(row)
        log.info("%s", row)

    last_step = args.steps
    for step in range(1, args.steps + 1):
        if args.max_seconds and time.monotonic() - t0 > args.max_seconds:
            last_step = step - 1
            log.info("--max-seconds %s reached at step %d", args.max_seconds, last_step)
            break
        for group in opt.param_groups:  # linear warm-up over 30 steps, then constant
            group["lr"] = args.lr * min(1.0, step / 30)
        if lookups_train and step % 2 == 0:  # a text-only batch: no video inputs
            chunk = [lookups_train[i] for i in
                     torch.randint(0, len(lookups_train), (args.batch,), generator=gen)]
            loss = model(**collate(chunk)).loss
        else:
            chunk = [train[i] for i in torch.randint(0, len(train), (args.batch,), generator=gen)]
            loss = model(**collate(chunk), **video_inputs([d["clip"] for d in chunk])).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # LLaMA-Factory's max_grad_norm
        opt.step()
        if step % args.eval_every == 0 or step == args.steps:
            evaluate(step, loss)
    if last_step and (not rows or rows[-1]["step"] != last_step):  # stopped by --max-seconds
        evaluate(last_step, loss)
    if args.save:
        model.save_pretrained(args.save)
        processor.save_pretrained(args.save)
    chance_mc = 100 * float(np.mean([1 / len(d["options"]) for d in held_mc])) if held_mc else 0
    held_note = (f"; held out: chance which-movement {chance_mc:.1f}, yes rate {yes_rate:.1f}"
                 if args.variant not in ("caption", *EXACT_VARIANTS) else "")
    print(f"SFT pathway probe, variant {args.variant}, {len(train)} chains, batch {args.batch}, "
          f"lr {args.lr}{held_note}")
    if args.variant in EXACT_VARIANTS:
        labels = [motion[d["clip"]] for d in held[:200]]
        top = max(labels.count(m) for m in set(labels))
        print(f"held-out motions: {len(set(labels))}, the most common is {100 * top / len(labels):.1f}%")
    finish(rows, ["step", "loss", "video info gain (nats/seq)", "which-movement acc.",
                  "yes/no acc.", "exact target acc.", "lookup MC acc.", "lookup yes/no acc.",
                  "seconds"],
           lambda r: [str(r["step"]), f"{r['loss']:.3f}", f"{r['video_info_gain']:.2f}",
                      *(f"{r.get(k, float('nan')):.1f}" for k in (
                          "mc_acc", "yes_no_acc", "label_acc", "lookup_mc_acc",
                          "lookup_yes_no_acc")),
                      str(r["seconds"])], args.out_json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
