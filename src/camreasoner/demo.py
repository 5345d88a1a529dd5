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
from typing import Any

log = logging.getLogger(__name__)


# sft_caption_target -> (file synth writes, its dataset name)
CAPTION_DATASETS = {"observation": ("sft_caption.json", "synthetic_caption"),
                    "motion": ("sft_motion.json", "synthetic_motion")}


@dataclass(frozen=True)
class DemoConfig:
    train_clips: int = 48
    test_clips: int = 24
    size: int = 96
    frames: int = 8
    fps: int = 4
    sft_epochs: float = 5.0
    sft_per_clip: int = 2  # binary chains per training clip, beside its one multiple-choice chain
    # > 0: first SFT on captions (video -> <observation>, data/train/sft_caption.json) for this
    # many epochs, then the O-T-A chains from that checkpoint; 0: O-T-A chains only
    sft_caption_epochs: float = 0.0
    # the caption phase's target: "observation" (the chain's <observation>, sft_caption.json) or
    # "motion" (only the motion's name, sft_motion.json: every target token is motion)
    sft_caption_target: str = "observation"
    # LLaMA-Factory settings for the SFT stage (key=value), after the recipe's and the demo's
    sft_overrides: tuple[str, ...] = ()
    rl_steps: int = 8
    rl_generations: int = 4
    rl_prompts: int = 1  # prompts a step; each gets rl_generations completions
    rl_learning_rate: float = 5e-4
    # The synthetic chains are ~100-330 tokens with the tiny tokenizer (tests/test_demo.py checks
    # the GPU preset holds the longest); the CPU presets cut them to keep CPU time down.
    rl_completion_tokens: int = 96
    max_new_tokens: int = 160
    eval_sets: tuple[str, ...] = ("items_binary.jsonl", "items_mc.jsonl")
    # TinyModelSpec overrides, as (field, value) pairs (the default: the ~0.2M-parameter model).
    model: tuple[tuple[str, Any], ...] = ()
    # "video": SFT on videos (LLaMA-Factory's video path), RL and its eval on frames (TRL trains
    # on images only). "frames": every stage on frames, so RL continues what SFT learned.
    vision_mode: str = "video"
    sft_recipe: str = "tiny_cpu_sft"
    use_cpu: bool = True
    eval_batch: int = 8
    workers: int = 2
    # "trl": the single-node backend (CPU or one GPU, on frames). "verl": verl + vLLM on videos
    # (EasyR1/tiny_gpu_grpo.yaml, needs GPUs and vLLM; its start alone took ~5 minutes on an H100).
    rl_backend: str = "trl"
    eval_backend: str = "hf"  # "vllm" on GPU machines that have it

    def __post_init__(self) -> None:
        if self.rl_backend not in ("trl", "verl"):
            raise ValueError(f"rl_backend={self.rl_backend!r}: use trl or verl")
        if self.vision_mode not in ("video", "frames"):
            raise ValueError(f"vision_mode={self.vision_mode!r}: use video or frames")
        if self.sft_caption_target not in CAPTION_DATASETS:
            raise ValueError(f"sft_caption_target={self.sft_caption_target!r}: use "
                             f"{' or '.join(CAPTION_DATASETS)}")


# A 1.9M-parameter Qwen2.5-VL: the 4 x 128 vision tower under a 2-layer, 128-wide LM (head size
# 64, the smallest FlashAttention and vLLM take). The 15M model below (a 6 x 384 LM over the same
# tower) never learned to read the motion, this one does (docs/benchmarks.md, "Run 4").
_SMALL_GPU_MODEL = (("hidden_size", 128), ("intermediate_size", 512), ("num_layers", 2),
                    ("num_heads", 2), ("num_kv_heads", 1), ("vision_depth", 4),
                    ("vision_hidden", 128), ("vision_heads", 4))
# A 15M-parameter Qwen2.5-VL (head size 64); gpu_video's verl + vLLM timings were measured with it.
_GPU_MODEL = (("hidden_size", 384), ("intermediate_size", 1536), ("num_layers", 6),
              ("num_heads", 6), ("num_kv_heads", 2), ("vision_depth", 4), ("vision_hidden", 128),
              ("vision_heads", 4))

PRESETS = {
    "cpu": DemoConfig(),
    # What CI runs: every stage, on less data.
    "ci": DemoConfig(train_clips=12, test_clips=6, sft_epochs=2.0, rl_steps=2, max_new_tokens=48),
    # One GPU (H100/H200), sized for one 10-minute device call: the small model, a larger corpus,
    # every stage on frames. docs/benchmarks.md has what it measured.
    "gpu": DemoConfig(
        train_clips=3000, test_clips=32, size=112, sft_epochs=3.0, rl_steps=12,
        rl_generations=8, rl_prompts=4, rl_learning_rate=2e-5, rl_completion_tokens=384,
        max_new_tokens=384,
        model=_SMALL_GPU_MODEL, vision_mode="frames", sft_recipe="tiny_gpu_sft", use_cpu=False,
        eval_batch=512, workers=16),
    # The same model on videos end to end: SFT on videos, GRPO with verl + vLLM (EasyR1/
    # tiny_gpu_grpo.yaml), evaluation with vLLM. 13 minutes on an H100, over one device call's 10
    # (verl's start is ~5 of them): run it in parts with --until (each stage resumes).
    "gpu_video": DemoConfig(
        train_clips=1600, test_clips=40, size=112, sft_epochs=2.0, rl_steps=6,
        rl_generations=8, rl_prompts=8, rl_learning_rate=1e-5, rl_completion_tokens=384,
        max_new_tokens=384, model=_GPU_MODEL, vision_mode="video", sft_recipe="tiny_gpu_sft",
        use_cpu=False, eval_batch=1024, workers=16, rl_backend="verl", eval_backend="vllm"),
}


def config_with(cfg: DemoConfig, assignments: list[str]) -> DemoConfig:
    """``cfg`` with ``key=value`` assignments (the CLI's ``--set``), each value parsed as its
    field's type: ``train_clips=8000``, ``use_cpu=false``, ``sft_overrides=learning_rate=5e-4,
    warmup_steps=50`` (tuples split on commas). Raises ValueError naming the bad assignment."""
    import dataclasses

    fields = [f.name for f in dataclasses.fields(DemoConfig)]
    changes: dict[str, Any] = {}
    for a in assignments:
        key, sep, raw = a.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"--set {a!r}: expected key=value")
        if key not in fields:
            raise ValueError(f"--set {a!r}: DemoConfig has no field {key!r}; fields: "
                             f"{', '.join(fields)}")
        current = getattr(cfg, key)
        try:
            if isinstance(current, bool):
                if raw.lower() not in ("true", "false", "1", "0"):
                    raise ValueError("not a boolean (true/false)")
                value: Any = raw.lower() in ("true", "1")
            elif isinstance(current, tuple):
                value = tuple(v.strip() for v in raw.split(",") if v.strip())
                if key == "model":  # TinyModelSpec overrides: name:value pairs
                    value = tuple((n, int(v)) for n, v in (x.split(":") for x in value))
            else:
                value = type(current)(raw)
        except ValueError as e:
            raise ValueError(f"--set {a!r}: {e}") from None
        changes[key] = value
    return dataclasses.replace(cfg, **changes)  # DemoConfig checks the values it can


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


STAGES = ("data", "model", "sft", "rl", "eval", "report")


def run_demo(out: str | Path, cfg: DemoConfig = DemoConfig(), until: str | None = None) -> Path:
    """Run the stages in order (skipping complete ones); with ``until``, stop after that stage."""
    from camreasoner.vision import VisionSpec

    if until is not None and until not in STAGES:
        raise ValueError(f"until={until!r}: not a stage; stages are {', '.join(STAGES)}")
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    config_file = out / "demo_config.json"
    settings = json.loads(json.dumps(asdict(cfg)))  # tuples as JSON lists, as the file holds them
    if config_file.exists():
        # complete stages are skipped, so settings that changed would be silently ignored
        before = json.loads(config_file.read_text())
        changed = [f"{k}: {before.get(k)!r} -> {v!r}" for k, v in settings.items()
                   if before.get(k) != v]
        if changed:
            raise ValueError(f"{out} holds a demo run with other settings ({'; '.join(changed)}): "
                             "its complete stages would be reused; use another --out or delete it")
    config_file.write_text(json.dumps(settings, indent=2) + "\n")
    train_dir, test_dir = out / "data" / "train", out / "data" / "test"
    eval_items = out / "data" / "test_items.jsonl"
    video_spec = VisionSpec(fps=float(cfg.fps), max_frames=cfg.frames, min_pixels=4 * 784,
                            max_pixels=16 * 784)
    frames_spec = VisionSpec(**{**video_spec.to_dict(), "mode": "frames"})
    sft_spec = frames_spec if cfg.vision_mode == "frames" else video_spec
    frames_cache = out / "cache" / "frames"  # decoded once (SFT in frames mode), read by RL, eval

    def data(d: Path) -> dict:
        from camreasoner.synth.build import build

        a = build(train_dir, cfg.train_clips, seed=0, size=cfg.size, frames=cfg.frames,
                  fps=cfg.fps, workers=cfg.workers, sft_per_clip=cfg.sft_per_clip)
        build(test_dir, cfg.test_clips, seed=10_000, size=cfg.size, frames=cfg.frames,
              fps=cfg.fps, workers=cfg.workers)
        n = _merge_items(test_dir, cfg.eval_sets, eval_items)
        return {"train_items": a["items"], "test_items": n}

    def model(d: Path) -> dict:
        from camreasoner.dev.tiny_model import TinyModelSpec, build_tiny_model

        build_tiny_model(d / "tiny", TinyModelSpec(**dict(cfg.model)))
        meta = json.loads((d / "tiny" / "camreasoner_tiny.json").read_text())
        return {"model": str(d / "tiny"), "parameters": meta["parameters"]}

    def sft(d: Path) -> dict:
        from camreasoner.sft import run_sft

        def phase(source: str, name: str, model: Path, output: Path, epochs: float) -> None:
            settings = {"model_name_or_path": str(model), "dataset": name,
                        "dataset_dir": str(train_dir), "media_dir": str(train_dir / "videos"),
                        "output_dir": str(output)}
            if cfg.vision_mode == "frames":
                from camreasoner.data.convert import sharegpt_as_frames

                sharegpt_as_frames(train_dir / source, train_dir / "videos", frames_spec,
                                   d / "data" / f"{name}_frames.json", f"{name}_frames",
                                   workers=cfg.workers, cache_dir=frames_cache)
                settings.update(dataset=f"{name}_frames", dataset_dir=str(d / "data"),
                                media_dir=str(d / "data"))
            run_sft(cfg.sft_recipe, settings, [f"num_train_epochs={epochs}",
                                               "save_steps=100000", "logging_steps=5",
                                               *cfg.sft_overrides])

        start = out / "model" / "tiny"
        result = {"model": str(d / "model"), "curves": str(d / "model" / "training_curves.png")}
        if cfg.sft_caption_epochs > 0:
            phase(*CAPTION_DATASETS[cfg.sft_caption_target], start, d / "caption_model",
                  cfg.sft_caption_epochs)
            start = d / "caption_model"
            result["caption_model"] = str(start)
        phase("sft.json", "synthetic_ota", start, d / "model", cfg.sft_epochs)
        return result

    def rl(d: Path) -> dict:
        if cfg.rl_backend == "verl":
            return rl_verl(d)
        if _gpu_rl_available():
            log.info("GPUs and vLLM found, but this preset keeps to the single-node backend "
                     "(verl's start alone takes minutes); the cluster path is "
                     "`bash local_scripts/run_rl.sh`, the `gpu_video` preset runs it")
        from camreasoner.rl.trl_backend import TrlConfig, train

        tcfg = TrlConfig(model=str(out / "sft" / "model"), items=str(train_dir / "items_mc.jsonl"),
                         video_root=str(train_dir / "videos"), output_dir=str(d / "trl"),
                         vision=frames_spec, max_steps=cfg.rl_steps,
                         learning_rate=cfg.rl_learning_rate, num_generations=cfg.rl_generations,
                         per_device_batch=cfg.rl_generations * cfg.rl_prompts,
                         max_completion_length=cfg.rl_completion_tokens, temperature=0.8,
                         use_cpu=cfg.use_cpu, workers=cfg.workers, cache_dir=str(frames_cache),
                         max_items=4 * cfg.rl_steps * cfg.rl_prompts)  # 4x what the steps see
        trainer = train(tcfg)
        logs = [h for h in trainer.state.log_history if "reward" in h]
        (d / "rewards.json").write_text(json.dumps(logs, indent=2))
        return {"model": str(d / "trl" / "final"), "steps": len(logs),
                "mean_reward": round(sum(h["reward"] for h in logs) / max(1, len(logs)), 4)}

    def rl_verl(d: Path) -> dict:
        from camreasoner.rl.launch import VerlLaunch
        from camreasoner.rl.launch import run as run_verl

        if not _gpu_rl_available():
            raise RuntimeError("rl_backend=verl needs a GPU and vLLM; use rl_backend=trl")
        n = cfg.rl_prompts
        vcfg = VerlLaunch(
            model=str(out / "sft" / "model"), train_file=str(train_dir / "items_mc.jsonl"),
            val_file=None, output_dir=str(d / "verl"), recipe="tiny_gpu_grpo",
            video_root=str(train_dir / "videos"), n_gpus=1, vision=video_spec,  # = SFT's, eval's
            overrides=[f"trainer.total_training_steps={cfg.rl_steps}",
                       f"trainer.save_freq={cfg.rl_steps}", f"data.train_batch_size={n}",
                       f"actor_rollout_ref.actor.ppo_mini_batch_size={n}",
                       f"actor_rollout_ref.rollout.n={cfg.rl_generations}",
                       f"actor_rollout_ref.actor.optim.lr={cfg.rl_learning_rate}",
                       f"data.max_response_length={cfg.rl_completion_tokens}"])
        model_dir = run_verl(vcfg)
        if model_dir is None:
            raise RuntimeError(f"verl saved no checkpoint under {d / 'verl'}")
        steps = json.loads((d / "verl" / "steps.json").read_text())
        (d / "rewards.json").write_text(json.dumps(steps, indent=2))
        return {"model": str(model_dir), "steps": len(steps), "backend": "verl",
                "mean_reward": round(sum(s["reward"] for s in steps) / max(1, len(steps)), 4)}

    def evaluate(d: Path) -> dict:
        from camreasoner.baseline.geometric import run_baseline
        from camreasoner.eval.runner import RunConfig, run_eval
        from camreasoner.eval.score import score_files

        rl_model = json.loads((out / "rl" / ".done").read_text())["model"]
        models = {"base": (out / "model" / "tiny", sft_spec),
                  "sft": (out / "sft" / "model", sft_spec),
                  "rl": (Path(rl_model), video_spec if cfg.rl_backend == "verl" else frames_spec)}
        summary = {}
        for name, (path, spec) in models.items():
            rcfg = RunConfig(model=str(path), items=str(eval_items),
                             video_root=str(test_dir / "videos"), vision=spec.to_dict(),
                             max_new_tokens=cfg.max_new_tokens, batch_size=cfg.eval_batch,
                             backend=cfg.eval_backend,
                             # three engines one after another in this process: each takes a
                             # quarter of the GPU, so one not yet freed cannot starve the next
                             backend_kwargs=({"gpu_memory_utilization": 0.25}
                                             if cfg.eval_backend == "vllm" else {}),
                             workers=max(1, cfg.workers // 2),
                             cache_dir=str(frames_cache))
            run_eval(rcfg, d / name)
            m = score_files(eval_items, d / name / "predictions.jsonl")
            (d / name / "metrics.json").write_text(json.dumps(m, indent=2) + "\n")
            summary[name] = {**_headline(m), "video_p": _video_p(d / name)}
        geo = d / "geometric"
        geo.mkdir()
        run_baseline(eval_items, test_dir / "videos", geo / "predictions.jsonl",
                     workers=cfg.workers)
        (geo / "config.json").write_text(json.dumps(
            {"model": "geometric baseline", "items": str(eval_items),
             "video_root": str(test_dir / "videos"), "vision": video_spec.to_dict()}, indent=2))
        summary["geometric"] = {**_headline(score_files(eval_items, geo / "predictions.jsonl")),
                                "video_p": _video_p(geo)}
        return summary

    def _video_p(run: Path) -> dict[str, float]:
        """The clip permutation test of one run (permutation.json beside its metrics, shown in
        the report): p per statistic that its score does not depend on the video."""
        from camreasoner.eval.permutation import permutation_files

        tests = permutation_files(eval_items, run / "predictions.jsonl")
        (run / "permutation.json").write_text(json.dumps(tests, indent=2) + "\n")
        log.info("%s: %s", run.name, ", ".join(f"{k} {v['observed']:.1f} (shuffled clips "
                                               f"{v['null_mean']:.1f}, p {v['p']:.3f})"
                                               for k, v in tests["tests"].items()))
        return {k: v["p"] for k, v in tests["tests"].items()}

    def report(d: Path) -> dict:
        from camreasoner.eval.report import build_report

        runs = [out / "eval" / n for n in ("base", "sft", "rl", "geometric")]
        build_report(runs, d, extra_images=[out / "sft" / "model" / "training_curves.png"])
        return {"report": str(d / "report.html")}

    summary = {}
    stages = dict(zip(STAGES, (data, model, sft, rl, evaluate, report), strict=True))
    for name, fn in stages.items():
        summary[name] = _stage(out, name, fn)
        if name == until:
            log.info("stopped after stage %s, as asked", name)
            return out
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
