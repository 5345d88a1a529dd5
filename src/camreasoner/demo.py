"""``camreasoner demo``: the whole pipeline on the embedded default, stage by stage.

Synthetic train and test clips -> the tiny model -> SFT with LLaMA-Factory -> GRPO (verl when
GPUs and vLLM are present, else the TRL backend) -> evaluation of base, SFT and RL checkpoints
and of the geometric baseline on the held-out synthetic test set -> one report (tables side by
side with chance, plots, the HTML page, training curves). Each stage writes ``OUT/<stage>`` and
is skipped when its ``.done`` marker exists, so a killed demo resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoConfig:
    train_clips: int = 48
    test_clips: int = 24
    size: int = 96
    frames: int = 8
    fps: int = 4
    sft_epochs: float = 5.0
    rl_steps: int = 8
    rl_generations: int = 4
    max_new_tokens: int = 160
    eval_sets: tuple[str, ...] = ("items_binary.jsonl", "items_mc.jsonl")


PRESETS = {
    "cpu": DemoConfig(),
    # What CI runs: every stage, on less data.
    "ci": DemoConfig(train_clips=12, test_clips=6, sft_epochs=2.0, rl_steps=2, max_new_tokens=48),
}


def _stage(out: Path, name: str, fn: Callable[[Path], dict]) -> dict:
    stage_dir = out / name
    done = stage_dir / ".done"
    if done.exists():
        log.info("stage %-9s skipped (complete: %s)", name, stage_dir)
        return json.loads(done.read_text())
    if stage_dir.exists():  # a stage killed half-way starts over
        shutil.rmtree(stage_dir)
    stage_dir.mkdir(parents=True)
    t0 = time.monotonic()
    log.info("stage %-9s started", name)
    result = fn(stage_dir)
    result["seconds"] = round(time.monotonic() - t0, 1)
    done.write_text(json.dumps(result, indent=2) + "\n")
    log.info("stage %-9s done in %.1fs", name, result["seconds"])
    return result


def _merge_items(src: Path, names: tuple[str, ...], target: Path) -> int:
    from camreasoner.data.schema import read_items, write_items

    items = [it for n in names for it in read_items(src / n)]
    return write_items(target, items)


def _gpu_rl_available() -> bool:
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def run_demo(out: str | Path, cfg: DemoConfig = DemoConfig()) -> Path:
    from camreasoner.vision import VisionSpec

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "demo_config.json").write_text(json.dumps(asdict(cfg), indent=2) + "\n")
    train_dir, test_dir = out / "data" / "train", out / "data" / "test"
    eval_items = out / "data" / "test_items.jsonl"
    video_spec = VisionSpec(fps=float(cfg.fps), max_frames=cfg.frames, min_pixels=4 * 784,
                            max_pixels=16 * 784)
    frames_spec = VisionSpec(**{**video_spec.to_dict(), "mode": "frames"})

    def data(d: Path) -> dict:
        from camreasoner.synth.build import build

        a = build(train_dir, cfg.train_clips, seed=0, size=cfg.size, frames=cfg.frames,
                  fps=cfg.fps, workers=2)
        b = build(test_dir, cfg.test_clips, seed=10_000, size=cfg.size, frames=cfg.frames,
                  fps=cfg.fps, workers=2)
        n = _merge_items(test_dir, cfg.eval_sets, eval_items)
        return {"train_items": a["items"], "test_items": n}

    def model(d: Path) -> dict:
        from camreasoner.dev.tiny_model import build_tiny_model

        build_tiny_model(d / "tiny")
        return {"model": str(d / "tiny")}

    def sft(d: Path) -> dict:
        from camreasoner.sft import run_sft

        settings = {"model_name_or_path": str(out / "model" / "tiny"), "dataset": "synthetic_ota",
                    "dataset_dir": str(train_dir), "media_dir": str(train_dir / "videos"),
                    "output_dir": str(d / "model")}
        run_sft("tiny_cpu_sft", settings, [f"num_train_epochs={cfg.sft_epochs}",
                                           "save_steps=100000", "logging_steps=5"])
        return {"model": str(d / "model"), "curves": str(d / "model" / "training_curves.png")}

    def rl(d: Path) -> dict:
        if _gpu_rl_available():
            log.info("GPUs and vLLM found: the cluster path is `bash local_scripts/run_rl.sh`; "
                     "the demo keeps to the single-node backend so its numbers stay comparable")
        from camreasoner.rl.trl_backend import TrlConfig, train

        tcfg = TrlConfig(model=str(out / "sft" / "model"), items=str(train_dir / "items_mc.jsonl"),
                         video_root=str(train_dir / "videos"), output_dir=str(d / "trl"),
                         vision=frames_spec, max_steps=cfg.rl_steps, learning_rate=5e-4,
                         num_generations=cfg.rl_generations,
                         per_device_batch=cfg.rl_generations, max_completion_length=96,
                         temperature=0.8, use_cpu=True)
        trainer = train(tcfg)
        logs = [h for h in trainer.state.log_history if "reward" in h]
        (d / "rewards.json").write_text(json.dumps(logs, indent=2))
        return {"model": str(d / "trl" / "final"), "steps": len(logs),
                "mean_reward": round(sum(h["reward"] for h in logs) / max(1, len(logs)), 4)}

    def evaluate(d: Path) -> dict:
        from camreasoner.baseline.geometric import run_baseline
        from camreasoner.eval.runner import RunConfig, run_eval
        from camreasoner.eval.score import score_files

        models = {"base": (out / "model" / "tiny", video_spec),
                  "sft": (out / "sft" / "model", video_spec),
                  "rl": (out / "rl" / "trl" / "final", frames_spec)}
        summary = {}
        for name, (path, spec) in models.items():
            rcfg = RunConfig(model=str(path), items=str(eval_items),
                             video_root=str(test_dir / "videos"), vision=spec.to_dict(),
                             max_new_tokens=cfg.max_new_tokens, batch_size=8, workers=1,
                             cache_dir=str(out / "cache" / "frames"))
            run_eval(rcfg, d / name)
            m = score_files(eval_items, d / name / "predictions.jsonl")
            (d / name / "metrics.json").write_text(json.dumps(m, indent=2) + "\n")
            summary[name] = _headline(m)
        geo = d / "geometric"
        geo.mkdir()
        run_baseline(eval_items, test_dir / "videos", geo / "predictions.jsonl", workers=2)
        (geo / "config.json").write_text(json.dumps(
            {"model": "geometric baseline", "items": str(eval_items),
             "video_root": str(test_dir / "videos"), "vision": video_spec.to_dict()}, indent=2))
        summary["geometric"] = _headline(score_files(eval_items, geo / "predictions.jsonl"))
        return summary

    def report(d: Path) -> dict:
        from camreasoner.eval.report import build_report

        runs = [out / "eval" / n for n in ("base", "sft", "rl", "geometric")]
        build_report(runs, d, extra_images=[out / "sft" / "model" / "training_curves.png"])
        return {"report": str(d / "report.html")}

    summary = {}
    for name, fn in (("data", data), ("model", model), ("sft", sft), ("rl", rl),
                     ("eval", evaluate), ("report", report)):
        summary[name] = _stage(out, name, fn)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return out


def _headline(m: dict) -> dict:
    h = {}
    if "binary" in m:
        h["binary_avg_ap"] = m["binary"]["avg_ap"]
        h["binary_avg_ap_prob"] = m["binary"]["avg_ap_prob"]
    if "mc" in m:
        h["mc_acc"] = {t: v["acc"] for t, v in m["mc"]["per_task"].items()}
    return h
