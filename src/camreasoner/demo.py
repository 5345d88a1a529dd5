"""``camreasoner demo``: the main job on the embedded default, stage by stage.

What runs today: small generated clips and items, the data check, the SFT (ShareGPT) and RL
(verl parquet) conversions, the tiny model, its evaluation (``eval run`` -> ``score``) and the
report. Later stages (synthetic renderer, SFT, RL) slot in as further stages. Each stage writes into ``OUT/<stage>`` and is skipped when its
``.done`` marker exists, so a killed demo resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

# clip name -> (per-frame image shift dx, dy), the primitive asked about, the truth letter.
# A view turning right makes the scene slide left (see camreasoner.taxonomy's conventions).
DEMO_MOTIONS = {
    "slides_left": ((-3, 0), "Pan_Right", "B"),
    "slides_right": ((3, 0), "Pan_Right", "A"),
    "slides_up": ((0, -3), "Tilt_Down", "B"),
    "slides_down": ((0, 3), "Tilt_Down", "A"),
    "still": ((0, 0), "Static", "B"),
    "still_pan_question": ((0, 0), "Pan_Right", "A"),
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
    from camreasoner import prompts, taxonomy
    from camreasoner.data.schema import Item

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    videos = out / "data" / "videos"
    items_path = out / "data" / "items.jsonl"

    def make_data(stage_dir: Path) -> dict:
        from camreasoner.data.schema import write_items
        from camreasoner.dev.clips import write_clip

        items = []
        for i, (name, (shift, task, answer)) in enumerate(DEMO_MOTIONS.items()):
            write_clip(videos / f"{name}.mp4", frames=16, width=64, height=64, fps=8,
                       shift=shift, seed=i)
            items.append(Item(id=name, video=f"{name}.mp4",
                              question=taxonomy.primitive(task).question,
                              options=list(prompts.YES_NO_OPTIONS), answer=answer, task=task,
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

    def evaluate(stage_dir: Path) -> dict:
        from camreasoner.eval.runner import RunConfig, run_eval
        from camreasoner.eval.score import score_files
        from camreasoner.vision import TINY_VISION

        run_dir = stage_dir / "base"
        cfg = RunConfig(model=str(out / "model" / "tiny"), items=str(items_path),
                        video_root=str(videos), vision=TINY_VISION.to_dict(), max_new_tokens=24,
                        batch_size=4, workers=1, cache_dir=str(out / "cache" / "frames"))
        summary = run_eval(cfg, run_dir)
        metrics = score_files(items_path, run_dir / "predictions.jsonl")
        (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        return {"run": str(run_dir), "predictions": summary["predictions"],
                "note": "an untrained random model: unparseable answers are expected"}

    def report(stage_dir: Path) -> dict:
        from camreasoner.eval.report import build_report

        build_report([out / "eval" / "base"], stage_dir)
        return {"report": str(stage_dir / "report.html")}

    summary = {}
    for name, fn in (("data", make_data), ("check", check), ("convert", convert),
                     ("model", model), ("eval", evaluate), ("report", report)):
        summary[name] = _stage(out, name, fn)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return out
