"""``camreasoner rl --backend verl``: prepare the data, run verl's GRPO with our recipe, merge the
checkpoint into a Hugging Face folder that ``camreasoner eval run`` loads.

Steps:
1. Data: ``TRAIN_FILE``/``VAL_FILE`` may be verl parquet (used as is), our item files
   (``.jsonl``) or the seed's JSON (``.json``: its RL file CamReasoning-RL-38k, or its evaluation
   files); the latter two are checked (``camreasoner data check``: the run stops listing every bad
   record instead of failing hours later) and converted to parquet under the output folder with
   ``VIDEO_ROOT``, in the protocol's input form (``seed``: 1 fps frames as images fitted into
   16,384 tokens with the model's processor; ``camreasoner``: videos). Without ``VAL_FILE`` verl
   gets a seeded sample of :data:`VAL_SAMPLE` training rows (both recipes leave validation off).
2. ``python -m verl.trainer.main_ppo --config-path EasyR1 --config-name RECIPE`` with the model,
   data, GPU and output overrides, then the user's Hydra overrides (last wins).
3. ``python -m verl.model_merger merge --backend fsdp`` on the newest ``global_step_*/actor`` into
   ``OUTPUT_DIR/hf``.
4. Per-step reward, accuracy, format, consistency, timings and memory from verl's file logger
   (``OUTPUT_DIR/metrics.jsonl``) and rollout dumps into ``OUTPUT_DIR/steps.json``
   (:mod:`camreasoner.rl.verl_logs`), printed as a table.

Multi-node: start Ray first (``ray start --head`` on node 0, ``ray start --address=HEAD:6379`` on
the others) and pass ``NNODES``; verl then spreads over the cluster.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from camreasoner.protocols import DEFAULT_PROTOCOL, protocol
from camreasoner.rl import verl_logs
from camreasoner.vision import VisionSpec, vision_preset

log = logging.getLogger(__name__)

REPO_RECIPES = Path(__file__).resolve().parents[3] / "EasyR1"
VAL_SAMPLE = 128  # rows of the training parquet given to verl as its (unused) validation set


@dataclass
class VerlLaunch:
    model: str
    train_file: str
    val_file: str | None
    output_dir: str
    recipe: str | None = None  # None: the protocol's (camreasoner.protocols)
    recipes_dir: str = str(REPO_RECIPES)
    video_root: str | None = None
    n_gpus: int = 8
    n_nodes: int = 1
    tensor_parallel: int = 1
    protocol: str = DEFAULT_PROTOCOL
    # written into converted parquet: None (the protocol's), a camreasoner.vision preset name,
    # or the spec itself
    vision: str | VisionSpec | None = None
    workers: int = 8  # frame-decoding processes for the conversion
    overrides: list[str] = field(default_factory=list)

    def recipe_name(self) -> str:
        return self.recipe or protocol(self.protocol).rl.recipe

    def vision_spec(self) -> VisionSpec:
        if self.vision is None:
            return protocol(self.protocol).rl.vision
        return self.vision if isinstance(self.vision, VisionSpec) else vision_preset(self.vision)


def prepare_parquet(path: str, video_root: str | None, out_dir: Path, name: str,
                    cfg: VerlLaunch, check: bool = True) -> str:
    """Parquet as is; items or the seed's JSON checked and converted to ``out_dir/name``."""
    if path.endswith(".parquet"):
        return path
    from camreasoner.data.check import check_file, format_report
    from camreasoner.data.convert import write_verl_parquet
    from camreasoner.data.readers import read_records
    from camreasoner.data.schema import DataError

    if not video_root:
        raise DataError(f"{path} is not parquet: VIDEO_ROOT is needed to convert it")
    if check:
        report = check_file(path, video_root)
        if not report.ok:
            raise DataError(f"bad RL records, fix or drop them before training:\n"
                            f"{format_report(report)}")
    items = read_records(path).items
    spec = cfg.vision_spec()
    target = out_dir / f"{name}.parquet"
    rl = protocol(cfg.protocol).rl
    n, _ = write_verl_parquet(
        items, target, video_root, spec, model=cfg.model, workers=cfg.workers,
        max_prompt_tokens=rl.max_prompt_tokens if spec.mode == "frames" else None,
        frames_dir=out_dir / f"{name}_frames")
    log.info("%s: %d records -> %s (%s, %s input)", path, n, target, cfg.protocol, spec.mode)
    return str(target)


def sample_parquet(path: str, out: Path, n: int = VAL_SAMPLE, seed: int = 0) -> str:
    """A seeded sample of ``n`` rows of a parquet file (all of them when it has fewer)."""
    import random

    import pyarrow.parquet as pq

    table = pq.read_table(path)
    rows = sorted(random.Random(seed).sample(range(table.num_rows), min(n, table.num_rows)))
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.take(rows), out)
    return str(out)


def verl_command(cfg: VerlLaunch, train: str, val: str | None) -> list[str]:
    args = [sys.executable, "-m", "verl.trainer.main_ppo",
            f"--config-path={Path(cfg.recipes_dir).resolve()}",
            f"--config-name={cfg.recipe_name()}",
            f"actor_rollout_ref.model.path={cfg.model}",
            f"data.train_files={train}",
            f"data.val_files={val or train}",
            f"trainer.n_gpus_per_node={cfg.n_gpus}",
            f"trainer.nnodes={cfg.n_nodes}",
            f"actor_rollout_ref.rollout.tensor_model_parallel_size={cfg.tensor_parallel}",
            f"trainer.default_local_dir={Path(cfg.output_dir).resolve()}"]
    return args + list(cfg.overrides)


def reward_weights(cfg: VerlLaunch) -> dict[str, float]:
    """The reward weights the run used: the recipe's ``reward_kwargs`` after the overrides."""
    from hydra import compose, initialize_config_dir

    from camreasoner.rewards import DEFAULT_WEIGHTS, SEED_WEIGHTS

    with initialize_config_dir(config_dir=str(Path(cfg.recipes_dir).resolve()),
                               version_base=None):
        conf = compose(config_name=cfg.recipe_name(), overrides=list(cfg.overrides))
    kw = conf.reward.custom_reward_function.get("reward_kwargs") or {}
    if kw.get("protocol") == "seed":  # 0.9 accuracy + 0.1 format, no consistency term
        return dict(SEED_WEIGHTS)
    weights = dict(kw.get("weights") or DEFAULT_WEIGHTS)
    return {name: float(kw.get(f"w_{name}", w)) for name, w in weights.items()}


def latest_actor_checkpoint(output_dir: str | os.PathLike[str]) -> Path | None:
    steps = []
    for p in Path(output_dir).glob("global_step_*"):
        m = re.fullmatch(r"global_step_(\d+)", p.name)
        if m and (p / "actor").is_dir():
            steps.append((int(m.group(1)), p / "actor"))
    return max(steps)[1] if steps else None


def merge_command(actor_dir: Path, target: Path) -> list[str]:
    return [sys.executable, "-m", "verl.model_merger", "merge", "--backend", "fsdp",
            "--local_dir", str(actor_dir), "--target_dir", str(target)]


def environment() -> dict[str, str]:
    env = dict(os.environ)
    # qwen-vl-utils prefers torchcodec, which needs a system FFmpeg and otherwise drops every
    # video row without a word; decord bundles its own FFmpeg.
    env.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")
    env.setdefault("NCCL_NVLS_ENABLE", "0")
    # Registers EMA-GRPO in every verl process also where camreasoner runs from a source tree
    # (PYTHONPATH) and its `verl.plugins` entry point is not installed.
    env.setdefault("VERL_USE_EXTERNAL_MODULES", "camreasoner.rl.verl_plugin")
    return env


def run(cfg: VerlLaunch, dry_run: bool = False) -> Path | None:
    out = Path(cfg.output_dir)
    train = prepare_parquet(cfg.train_file, cfg.video_root, out / "data", "train", cfg)
    val = (prepare_parquet(cfg.val_file, cfg.video_root, out / "data", "val", cfg)
           if cfg.val_file else sample_parquet(train, out / "data" / "val_sample.parquet"))
    cmd = verl_command(cfg, train, val)
    log.info("verl: %s", " ".join(cmd))
    if dry_run:
        print(" ".join(cmd))
        return None
    env = environment()
    # The `file` logger (in the recipes' trainer.logger) writes one line of metrics a step here.
    env.setdefault("VERL_FILE_LOGGER_PATH", str(out.resolve() / verl_logs.METRICS_FILE))
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(cmd, check=True, env=env)
    if Path(env["VERL_FILE_LOGGER_PATH"]).is_file():
        rows = verl_logs.summarize(out, reward_weights(cfg))
        log.info("per step (%s):\n%s", out / verl_logs.SUMMARY_FILE, verl_logs.format_table(rows))
    actor = latest_actor_checkpoint(out)
    if actor is None:
        log.warning("no checkpoint under %s (trainer.save_freq?): nothing to merge", out)
        return None
    target = out / "hf"
    subprocess.run(merge_command(actor, target), check=True, env=environment())
    log.info("merged %s into %s (load it with `camreasoner eval run --model %s`)", actor, target,
             target)
    return target
