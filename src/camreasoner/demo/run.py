"""The demo's stages, each a function of the settings, the folders and the results it needs.

``run_demo`` runs them in order. A stage writes ``OUT/<stage>/`` and its result to
``OUT/<stage>/.done``; a stage whose ``.done`` exists is skipped and its result read back, so a
killed demo resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from camreasoner.demo.config import DemoConfig, DemoError, flatten
from camreasoner.errors import UserError

if TYPE_CHECKING:
    from camreasoner.vision import VisionSpec

log = logging.getLogger(__name__)

STAGES = ("data", "model", "sft", "rl", "eval", "report")

# The demo's models are trained on our prompt (the synthetic chains), so they are evaluated under
# our protocol (camreasoner.protocols: its prompt, its strict answer reading), not the seed's
# default; verl's rows are made under it too (in video mode it changes nothing there).
PROTOCOL = "camreasoner"

# sft.caption_target -> (the file synth writes, its dataset name)
CAPTION_DATASETS: dict[str, tuple[str, str]] = {
    "observation": ("sft_caption.json", "synthetic_caption"),
    "motion": ("sft_motion.json", "synthetic_motion")}  # tests check: one per CaptionTarget


@dataclass(frozen=True)
class DemoPaths:
    """The folders and files of one demo output folder."""

    out: Path

    def stage(self, name: str) -> Path:
        return self.out / name

    @property
    def config(self) -> Path:  # the settings the folder was made with
        return self.out / "demo_config.json"

    @property
    def summary(self) -> Path:
        return self.out / "summary.json"

    @property
    def train(self) -> Path:
        return self.out / "data" / "train"

    @property
    def test(self) -> Path:
        return self.out / "data" / "test"

    @property
    def eval_items(self) -> Path:  # the test sets evaluated, in one file
        return self.out / "data" / "test_items.jsonl"

    @property
    def frames_cache(self) -> Path:  # decoded once (SFT in frames mode), read by RL and eval
        return self.out / "cache" / "frames"


class _Result:
    """A stage's result as its ``.done`` file holds it."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, d: dict[str, Any]):  # -> an instance of the subclass
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class DataResult(_Result):
    train_items: int
    test_items: int  # in paths.eval_items


@dataclass(frozen=True)
class ModelResult(_Result):
    model: str
    parameters: int


@dataclass(frozen=True)
class SftResult(_Result):
    model: str
    curves: str  # training_curves.png
    caption_model: str | None = None  # the caption phase's checkpoint, when it ran


@dataclass(frozen=True)
class RlResult(_Result):
    model: str
    steps: int
    mean_reward: float
    backend: str


@dataclass(frozen=True)
class EvalResult(_Result):
    # run name (base, sft, rl, geometric) -> its headline
    # metrics and clip permutation p values; each run's folder is OUT/eval/<name>
    runs: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.runs)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalResult:
        return cls({k: v for k, v in d.items() if k != "seconds"})


@dataclass(frozen=True)
class ReportResult(_Result):
    report: str


R = TypeVar("R", bound=_Result)


@dataclass(frozen=True)
class _Specs:
    video: VisionSpec
    frames: VisionSpec

    def stage_input(self, cfg: DemoConfig) -> VisionSpec:
        """The input of every stage (SFT, RL, evaluation): one form, ``vision.mode``."""
        return self.frames if cfg.vision.mode == "frames" else self.video


def _specs(cfg: DemoConfig) -> _Specs:
    from camreasoner.vision import VisionSpec

    video = VisionSpec(fps=float(cfg.data.fps), max_frames=cfg.data.frames, min_pixels=4 * 784,
                       max_pixels=16 * 784)
    return _Specs(video, VisionSpec(**{**video.to_dict(), "mode": "frames"}))


def _gpu_rl_available() -> bool:
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


# --- stages -----------------------------------------------------------------------------------
def stage_data(cfg: DemoConfig, paths: DemoPaths) -> DataResult:
    """Synthetic train and test clips, and the test sets evaluated, merged in one file."""
    from camreasoner.data.schema import read_items, write_items
    from camreasoner.synth.build import build

    d = cfg.data
    train = build(paths.train, d.train_clips, seed=0, size=d.size, frames=d.frames, fps=d.fps,
                  workers=cfg.workers, sft_per_clip=d.sft_per_clip, chain_style=d.chain_style,
                  mc_per_clip=d.mc_per_clip, mc_options=d.mc_options)
    build(paths.test, d.test_clips, seed=10_000, size=d.size, frames=d.frames, fps=d.fps,
          workers=cfg.workers, chain_style=d.chain_style, mc_options=d.mc_options)
    items = [it for name in cfg.eval.sets for it in read_items(paths.test / name)]
    return DataResult(train_items=train["items"], test_items=write_items(paths.eval_items, items))


def stage_model(cfg: DemoConfig, paths: DemoPaths) -> ModelResult:
    """The model SFT starts from: the base named by ``cfg.base_model``, copied here, or else the
    tiny random Qwen2.5-VL of ``cfg.model``, built here (no hub access)."""
    if cfg.base_model:
        from camreasoner.dev.base_models import base_model_path, parameter_count
        from camreasoner.dev.tiny_model import TinyModelSpec

        source = base_model_path(cfg.base_model)
        model = paths.stage("model") / source.name
        shutil.copytree(source, model)
        if cfg.model != TinyModelSpec():  # a changed model section would otherwise pass unseen
            log.warning("model section not used: SFT starts from base_model %s (set base_model "
                        "to \"\" to build a random model of that shape)", cfg.base_model)
        return ModelResult(model=str(model), parameters=parameter_count(model))
    from camreasoner.dev.tiny_model import build_tiny_model

    model = build_tiny_model(paths.stage("model") / "tiny", cfg.model)
    meta = json.loads((model / "camreasoner_tiny.json").read_text())
    return ModelResult(model=str(model), parameters=meta["parameters"])


def _sft_phase(cfg: DemoConfig, paths: DemoPaths, source: str, dataset: str, start: Path,
               output: Path, epochs: float) -> None:
    """One LLaMA-Factory run on the training file ``source`` (dataset ``dataset``)."""
    from camreasoner.sft import run_sft

    settings = {"model_name_or_path": str(start), "dataset": dataset,
                "dataset_dir": str(paths.train), "media_dir": str(paths.train / "videos"),
                "output_dir": str(output)}
    if cfg.vision.mode == "frames":
        from camreasoner.data.convert import sharegpt_as_frames

        data_dir = paths.stage("sft") / "data"
        sharegpt_as_frames(paths.train / source, paths.train / "videos", _specs(cfg).frames,
                           data_dir / f"{dataset}_frames.json", f"{dataset}_frames",
                           workers=cfg.workers, cache_dir=paths.frames_cache)
        settings.update(dataset=f"{dataset}_frames", dataset_dir=str(data_dir),
                        media_dir=str(data_dir))
    run_sft(cfg.sft.recipe, settings, [f"num_train_epochs={epochs}", "save_steps=100000",
                                       "logging_steps=5", *cfg.sft.overrides])


def stage_sft(cfg: DemoConfig, paths: DemoPaths, model: ModelResult) -> SftResult:
    """SFT on the O-T-A chains, after a caption phase when ``sft.caption_epochs`` > 0."""
    d = paths.stage("sft")
    start, caption_model = Path(model.model), None
    if cfg.sft.caption_epochs > 0:
        source, dataset = CAPTION_DATASETS[cfg.sft.caption_target]
        _sft_phase(cfg, paths, source, dataset, start, d / "caption_model",
                   cfg.sft.caption_epochs)
        start = d / "caption_model"
        caption_model = str(start)
    _sft_phase(cfg, paths, "sft.json", "synthetic_ota", start, d / "model", cfg.sft.epochs)
    return SftResult(model=str(d / "model"), curves=str(d / "model" / "training_curves.png"),
                     caption_model=caption_model)


def _rl_items(cfg: DemoConfig, paths: DemoPaths) -> Path:
    """The RL stage's items: an equal seeded share of each of ``rl.sets``, four times the prompts
    the steps draw (a clip has 15 binary items and one multiple-choice item, so a draw from the
    pool would be 94% binary); with ``rl.balance_answers``, also an equal share of each answer
    within a set (binary items are 7% Yes). Fixed seeds: a rerun trains on the same items."""
    out, rl = paths.stage("rl") / "items.jsonl", cfg.rl
    share = -(-4 * rl.steps * rl.prompts // len(rl.sets))  # ceil
    lines = []
    for k, name in enumerate(rl.sets):
        rows = (paths.train / name).read_text().splitlines()
        if rl.balance_answers:
            lines += _equal_share_of_each_answer(rows, share, random.Random(k))
        else:
            lines += random.Random(k).sample(rows, min(share, len(rows)))
    random.Random(len(rl.sets)).shuffle(lines)
    out.write_text("\n".join(lines) + "\n")
    log.info("RL items: %d, %d from each of %s%s", len(lines), share, ", ".join(rl.sets),
             " (an equal share of each answer)" if rl.balance_answers else "")
    return out


def _equal_share_of_each_answer(rows: list[str], n: int, rng: random.Random) -> list[str]:
    """``n`` of the item lines ``rows`` (all where fewer), the answers taken in turn: as equal a
    share of each as the rows hold."""
    by_answer: dict[str, list[str]] = {}
    for row in rows:
        by_answer.setdefault(json.loads(row)["answer"], []).append(row)
    groups = [by_answer[a] for a in sorted(by_answer)]
    for group in groups:
        rng.shuffle(group)
    picked: list[str] = []
    for i in range(max(map(len, groups), default=0)):
        picked += [g[i] for g in groups if i < len(g)][:n - len(picked)]
        if len(picked) == n:
            break
    return picked


def stage_rl(cfg: DemoConfig, paths: DemoPaths, sft: SftResult) -> RlResult:
    """GRPO from the SFT checkpoint with ``rl.backend``: TRL (CPU or one GPU) or verl."""
    if cfg.rl.backend == "verl":
        return _rl_verl(cfg, paths, sft)
    if _gpu_rl_available():
        log.info("GPUs and vLLM found, but this preset keeps to the single-node backend "
                 "(verl's start alone takes minutes); the cluster path is "
                 "`bash local_scripts/run_rl.sh`, the `gpu_video` preset runs it")
    from camreasoner.rl.trl_backend import TrlConfig, train

    d, rl = paths.stage("rl"), cfg.rl
    tcfg = TrlConfig(model=sft.model, items=str(_rl_items(cfg, paths)),
                     video_root=str(paths.train / "videos"), output_dir=str(d / "trl"),
                     vision=_specs(cfg).stage_input(cfg), max_steps=rl.steps,
                     learning_rate=rl.learning_rate, num_generations=rl.generations,
                     per_device_batch=rl.generations * rl.prompts,
                     max_completion_length=rl.completion_tokens, temperature=1.0,
                     use_cpu=cfg.use_cpu, workers=cfg.workers, cache_dir=str(paths.frames_cache),
                     freeze_vision_tower=rl.freeze_vision_tower)
    trainer = train(tcfg)
    logs = [h for h in trainer.state.log_history if "reward" in h]
    (d / "rewards.json").write_text(json.dumps(logs, indent=2))
    return RlResult(model=str(d / "trl" / "final"), steps=len(logs), backend="trl",
                    mean_reward=round(sum(h["reward"] for h in logs) / max(1, len(logs)), 4))


def _rl_verl(cfg: DemoConfig, paths: DemoPaths, sft: SftResult) -> RlResult:
    if not _gpu_rl_available():
        raise DemoError("rl.backend=verl needs a GPU and vLLM; use rl.backend=trl")
    from camreasoner.rl.launch import VerlLaunch
    from camreasoner.rl.launch import run as run_verl

    d, rl = paths.stage("rl"), cfg.rl
    vcfg = VerlLaunch(
        model=sft.model, train_file=str(_rl_items(cfg, paths)), val_file=None,
        output_dir=str(d / "verl"), recipe="tiny_gpu_grpo", protocol=PROTOCOL,
        video_root=str(paths.train / "videos"), n_gpus=1,
        vision=_specs(cfg).stage_input(cfg),
        overrides=[f"trainer.total_training_steps={rl.steps}", f"trainer.save_freq={rl.steps}",
                   f"data.train_batch_size={rl.prompts}",
                   f"actor_rollout_ref.actor.ppo_mini_batch_size={rl.prompts}",
                   f"actor_rollout_ref.rollout.n={rl.generations}",
                   f"actor_rollout_ref.actor.optim.lr={rl.learning_rate}",
                   f"actor_rollout_ref.actor.freeze_vision_tower={rl.freeze_vision_tower}",
                   f"data.max_response_length={rl.completion_tokens}"])
    model_dir = run_verl(vcfg)
    if model_dir is None:
        raise RuntimeError(f"verl saved no checkpoint under {d / 'verl'}")
    steps = json.loads((d / "verl" / "steps.json").read_text())
    (d / "rewards.json").write_text(json.dumps(steps, indent=2))
    return RlResult(model=str(model_dir), steps=len(steps), backend="verl",
                    mean_reward=round(sum(s["reward"] for s in steps) / max(1, len(steps)), 4))


def stage_eval(cfg: DemoConfig, paths: DemoPaths, model: ModelResult, sft: SftResult,
               rl: RlResult) -> EvalResult:
    """Base, SFT and RL checkpoints and the geometric baseline on the held-out test set, the
    three models on the input every stage trained on."""
    from camreasoner.baseline.geometric import run_baseline
    from camreasoner.eval.runner import RunConfig, run_eval
    from camreasoner.eval.score import score_files
    from camreasoner.protocols import eval_protocol

    d, specs = paths.stage("eval"), _specs(cfg)
    reading = eval_protocol(PROTOCOL).answer_reading  # "strict": exactly one letter
    models = {"base": model.model, "sft": sft.model, "rl": rl.model}
    vision = specs.stage_input(cfg).to_dict()
    runs: dict[str, dict[str, Any]] = {}
    for name, path in models.items():
        rcfg = RunConfig.from_protocol(
            PROTOCOL, model=path, items=str(paths.eval_items),
            video_root=str(paths.test / "videos"), vision=vision,
            max_new_tokens=cfg.eval.max_new_tokens, batch_size=cfg.eval.batch,
            backend=cfg.eval.backend,
            # three engines one after another in this process: each takes a fifth of the GPU,
            # so one not yet freed cannot starve the next
            backend_kwargs=({"gpu_memory_utilization": 0.2}
                            if cfg.eval.backend == "vllm" else {}),
            workers=max(1, cfg.workers // 2), cache_dir=str(paths.frames_cache))
        run_eval(rcfg, d / name)
        m = score_files(paths.eval_items, d / name / "predictions.jsonl", reading=reading)
        (d / name / "metrics.json").write_text(json.dumps(m, indent=2) + "\n")
        runs[name] = {**_headline(m), "video_p": _video_p(paths, d / name)}
    geo = d / "geometric"
    geo.mkdir()
    run_baseline(paths.eval_items, paths.test / "videos", geo / "predictions.jsonl",
                 workers=cfg.workers)
    (geo / "config.json").write_text(json.dumps(
        {"model": "geometric baseline", "items": str(paths.eval_items),
         "video_root": str(paths.test / "videos"), "vision": specs.video.to_dict()}, indent=2))
    m = score_files(paths.eval_items, geo / "predictions.jsonl", reading=reading)
    runs["geometric"] = {**_headline(m), "video_p": _video_p(paths, geo)}
    return EvalResult(runs)


def stage_report(cfg: DemoConfig, paths: DemoPaths, sft: SftResult,
                 evaluation: EvalResult) -> ReportResult:
    """The report: tables beside chance, plots, the HTML page and the SFT training curves."""
    from camreasoner.eval.report import build_report

    d = paths.stage("report")
    runs = [paths.stage("eval") / name for name in evaluation.runs]
    build_report(runs, d, extra_images=[Path(sft.curves)])
    return ReportResult(report=str(d / "report.html"))


def _video_p(paths: DemoPaths, run: Path) -> dict[str, float]:
    """The clip permutation test of one run (permutation.json beside its metrics, shown in the
    report): p per statistic that its score does not depend on the video."""
    from camreasoner.eval.permutation import permutation_files

    # 200 rounds: p down to 1/201 = 0.005, in ~15 s a run on the CPU (each round rescored)
    tests = permutation_files(paths.eval_items, run / "predictions.jsonl", rounds=200)
    (run / "permutation.json").write_text(json.dumps(tests, indent=2) + "\n")
    log.info("%s: %s", run.name, ", ".join(f"{k} {v['observed']:.1f} (shuffled clips "
                                           f"{v['null_mean']:.1f}, p {v['p']:.3f})"
                                           for k, v in tests["tests"].items()))
    return {k: v["p"] for k, v in tests["tests"].items()}


def _headline(m: dict) -> dict:
    h = {}
    if "binary" in m:
        h["binary_avg_ap"] = m["binary"]["avg_ap"]
        h["binary_avg_ap_prob"] = m["binary"]["avg_ap_prob"]
    if "mc" in m:
        h["mc_acc"] = {t: v["acc"] for t, v in m["mc"]["per_task"].items()}
    return h


# --- the run ----------------------------------------------------------------------------------
def _stage(paths: DemoPaths, name: str, result_type: type[R], fn: Callable[[], R],
           record: dict[str, dict]) -> R:
    """Run stage ``name`` unless its ``.done`` exists; its result (and seconds) go to ``record``."""
    stage_dir = paths.stage(name)
    done = stage_dir / ".done"
    if done.exists():
        log.info("stage %-9s skipped (complete: %s)", name, stage_dir)
        record[name] = json.loads(done.read_text())
        return result_type.from_dict(record[name])
    if stage_dir.exists():  # a stage killed half-way starts over
        shutil.rmtree(stage_dir)
    stage_dir.mkdir(parents=True)
    t0 = time.monotonic()
    log.info("stage %-9s started", name)
    result = fn()
    record[name] = {**result.to_dict(), "seconds": round(time.monotonic() - t0, 1)}
    done.write_text(json.dumps(record[name], indent=2) + "\n")
    log.info("stage %-9s done in %.1fs", name, record[name]["seconds"])
    return result


def _check_settings(paths: DemoPaths, cfg: DemoConfig) -> None:
    """Refuse a folder made with other settings: its complete stages would be reused silently.
    Writes the settings when the folder is new."""
    settings = json.loads(json.dumps(asdict(cfg)))  # tuples as JSON lists, as the file holds them
    if paths.config.exists():
        before = json.loads(paths.config.read_text())
        if not isinstance(before.get("data"), dict):
            raise DemoError(f"{paths.out} holds a run of an older demo (flat settings in "
                            f"{paths.config.name}): use another --out or delete it")
        old, new = flatten(before), flatten(settings)
        missing = object()
        changed = [f"{k}: {old.get(k, '(absent)')!r} -> {new.get(k, '(absent)')!r}"
                   for k in [*new, *(k for k in old if k not in new)]
                   if old.get(k, missing) != new.get(k, missing)]
        if changed:
            raise DemoError(f"{paths.out} holds a demo run with other settings "
                            f"({'; '.join(changed)}): its complete stages would be reused; use "
                            "another --out or delete it")
    paths.config.write_text(json.dumps(settings, indent=2) + "\n")


def run_demo(out: str | Path, cfg: DemoConfig | None = None, until: str | None = None) -> Path:
    """Run the stages in order, skipping complete ones; with ``until``, stop after that stage.
    ``cfg``: a preset (``load_preset("ci")``), by default the ``cpu`` one's values. Returns the
    output folder; summary.json there holds every stage's result once all ran."""
    cfg = cfg if cfg is not None else DemoConfig()
    if until is not None and until not in STAGES:
        raise DemoError(f"until={until!r}: not a stage; stages are {', '.join(STAGES)}")
    if cfg.base_model:  # a misspelt base fails here, not after the clips are rendered
        from camreasoner.dev.base_models import base_model_path

        try:
            base_model_path(cfg.base_model)
        except UserError as e:
            raise DemoError(f"base_model: {e}") from None
    paths = DemoPaths(Path(out).resolve())
    paths.out.mkdir(parents=True, exist_ok=True)
    _check_settings(paths, cfg)
    record: dict[str, dict] = {}
    results: dict[str, Any] = {}
    steps: dict[str, tuple[type[_Result], Callable[[], _Result]]] = {
        "data": (DataResult, lambda: stage_data(cfg, paths)),
        "model": (ModelResult, lambda: stage_model(cfg, paths)),
        "sft": (SftResult, lambda: stage_sft(cfg, paths, results["model"])),
        "rl": (RlResult, lambda: stage_rl(cfg, paths, results["sft"])),
        "eval": (EvalResult, lambda: stage_eval(cfg, paths, results["model"], results["sft"],
                                                results["rl"])),
        "report": (ReportResult, lambda: stage_report(cfg, paths, results["sft"],
                                                      results["eval"])),
    }
    for name in STAGES:
        result_type, fn = steps[name]
        results[name] = _stage(paths, name, result_type, fn, record)
        if name == until:
            log.info("stopped after stage %s, as asked", name)
            return paths.out
    paths.summary.write_text(json.dumps(record, indent=2) + "\n")
    return paths.out
