"""``camreasoner demo``: the main job on the embedded default, stage by stage.

What runs today (the foundation): small generated clips and items, the data check, the SFT
(ShareGPT) and RL (verl parquet) conversions, the tiny model, and answers generated from every
clip and read with the shared answer parser. Later stages (synthetic renderer, SFT, RL, scoring,
report) slot in as further stages. Each stage writes into ``OUT/<stage>`` and is skipped when its
``.done`` marker exists, so a killed demo resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

DEMO_MOTIONS = {  # clip name -> (per-frame shift dx, dy), the question, the truth letter
    "slides_left": ((-3, 0), "Does the camera pan to the right?", "B"),
    "slides_right": ((3, 0), "Does the camera pan to the right?", "A"),
    "slides_up": ((0, -3), "Does the camera tilt downward?", "B"),
    "still": ((0, 0), "Is the camera completely still without any motion or shaking?", "B"),
}


def _stage(out: Path, name: str, fn: Callable[[Path], dict]) -> dict:
    stage_dir = out / name
    done = stage_dir / ".done"
    if done.exists():
        log.info("stage %-10s skipped (complete: %s)", name, stage_dir)
        return json.loads(done.read_text())
    stage_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    log.info("stage %-10s started", name)
    result = fn(stage_dir)
    result["seconds"] = round(time.monotonic() - t0, 2)
    done.write_text(json.dumps(result, indent=2) + "\n")
    log.info("stage %-10s done in %.1fs", name, result["seconds"])
    return result


def run_demo(out: str | Path) -> Path:
    from camreasoner import prompts
    from camreasoner.data.schema import Item

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    videos = out / "data" / "videos"
    items_path = out / "data" / "items.jsonl"

    def make_data(stage_dir: Path) -> dict:
        from camreasoner.data.schema import write_items
        from camreasoner.dev.clips import write_clip

        items = []
        for i, (name, (shift, question, answer)) in enumerate(DEMO_MOTIONS.items()):
            write_clip(videos / f"{name}.mp4", frames=16, width=64, height=64, fps=8,
                       shift=shift, seed=i)
            items.append(Item(id=name, video=f"{name}.mp4", question=question,
                              options=list(prompts.YES_NO_OPTIONS), answer=answer, task="demo",
                              source="demo"))
        return {"items": write_items(items_path, items)}

    def check(stage_dir: Path) -> dict:
        from camreasoner.data.check import check_items, format_report

        report = check_items(items_path, videos, workers=1)
        log.info("%s", format_report(report))
        if not report.ok:
            raise SystemExit(f"data check failed:\n{format_report(report)}")
        return {"items": report.n_items, "videos": report.n_videos}

    def convert(stage_dir: Path) -> dict:
        from camreasoner.data import convert as conv
        from camreasoner.data.schema import read_items
        from camreasoner.vision import TINY_VISION

        items = read_items(items_path)
        conv.write_sharegpt(items, stage_dir / "demo_sft.json", allow_answer_only=True)
        n = conv.write_verl_parquet(items, stage_dir / "demo_rl.parquet", videos, TINY_VISION)
        return {"sharegpt": len(items), "verl_rows": n}

    def model(stage_dir: Path) -> dict:
        from camreasoner.dev.tiny_model import build_tiny_model

        build_tiny_model(stage_dir / "tiny")
        return {"model": str(stage_dir / "tiny")}

    def answer(stage_dir: Path) -> dict:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor
        from transformers.video_utils import VideoMetadata

        from camreasoner.answers import extract_letter
        from camreasoner.data.schema import read_items
        from camreasoner.video import read_frames
        from camreasoner.vision import TINY_VISION

        model_dir = out / "model" / "tiny"
        processor = AutoProcessor.from_pretrained(model_dir)
        lm = AutoModelForImageTextToText.from_pretrained(model_dir)
        rows = []
        for item in read_items(items_path):
            video = read_frames(videos / item.video, TINY_VISION)
            chat = processor.apply_chat_template(
                prompts.chat_messages(prompts.render_item_prompt(item)), tokenize=False,
                add_generation_prompt=True)
            inputs = processor(text=[chat], videos=[video.frames], return_tensors="pt",
                               video_metadata=[VideoMetadata(**video.metadata())],
                               do_sample_frames=False)
            with torch.no_grad():
                ids = lm.generate(**inputs, max_new_tokens=24, do_sample=False)
            response = processor.decode(ids[0, inputs["input_ids"].shape[1]:],
                                        skip_special_tokens=True)
            rows.append({"id": item.id, "response": response,
                         "letter": extract_letter(response, item.options), "truth": item.answer})
        with open(stage_dir / "predictions.jsonl", "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        parsed = sum(r["letter"] is not None for r in rows)
        return {"items": len(rows), "parsed": parsed,
                "note": "an untrained random model: unparseable answers are expected"}

    summary = {}
    for name, fn in (("data", make_data), ("check", check), ("convert", convert),
                     ("model", model), ("answer", answer)):
        summary[name] = _stage(out, name, fn)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return out
