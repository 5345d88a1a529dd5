"""``camreasoner sft`` (and ``local_scripts/run_sft.sh``): SFT with LLaMA-Factory from our recipes.

1. Merge the recipe (``LLaMA-Factory/recipes/<name>.yaml``) with the launcher's settings and the
   user's ``key=value`` overrides (last wins), the way ``llamafactory-cli train recipe.yaml k=v``
   merges them.
2. Check the data before any GPU time is spent: every dataset named in ``dataset`` is read from
   ``dataset_dir/dataset_info.json`` (ShareGPT ``messages`` + ``videos``) and validated with
   ``camreasoner data check`` against ``media_dir``; a bad item stops the run with the list.
3. ``llamafactory-cli train`` with the merged config; torchrun (LLaMA-Factory's
   ``FORCE_TORCHRUN``) for several GPUs or nodes (``NPROC_PER_NODE``, ``NNODES``, ``NODE_RANK``,
   ``MASTER_ADDR``, ``MASTER_PORT``). LLaMA-Factory resumes from the newest checkpoint in
   ``output_dir`` by itself.
4. Training curves (loss, grad norm, learning rate) from ``trainer_state.json`` as
   ``output_dir/training_curves.png``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
RECIPES = REPO / "LLaMA-Factory" / "recipes"


def parse_value(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def merged_config(recipe: str | os.PathLike[str], settings: dict[str, Any],
                  overrides: list[str]) -> dict[str, Any]:
    import yaml

    path = Path(recipe)
    if not path.suffix:
        path = RECIPES / f"{recipe}.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg.update({k: v for k, v in settings.items() if v is not None})
    for ov in overrides:
        if "=" not in ov:
            raise ValueError(f"override {ov!r} is not key=value")
        key, value = ov.split("=", 1)
        cfg[key.strip()] = parse_value(value)
    return cfg


def prepare_datasets(cfg: dict[str, Any], probe: bool = True, write: bool = True
                     ) -> tuple[int, dict[str, Any]]:
    """Check every dataset of the config and write the copy LLaMA-Factory trains on.

    Each record of each dataset (``dataset_dir/dataset_info.json``, ShareGPT ``messages`` +
    ``videos``, or ``images`` for frames datasets) is read; every video or image is resolved with
    :func:`camreasoner.data.schema.resolve_video` against ``media_dir`` (the seed's ``video/<file>``
    paths included) and checked. Any bad record stops the run with the list of all of them
    (file, index, id, field, reason). The records, unchanged but for their media paths made
    absolute, go to ``output_dir/data/<name>.json`` with their own ``dataset_info.json``.
    ``probe=False`` skips decoding the videos (paths are still resolved); ``write=False`` checks
    without writing the copy (``sft --dry-run``). Returns the record count and the settings that
    point LLaMA-Factory at the copy."""
    from camreasoner.data.schema import DataError

    dataset_dir = Path(cfg.get("dataset_dir", "data"))
    info_path = dataset_dir / "dataset_info.json"
    if not info_path.is_file():
        raise DataError(f"no dataset_info.json in {dataset_dir}", where=str(info_path))
    info = json.loads(info_path.read_text())
    media = Path(cfg.get("media_dir") or dataset_dir)
    out_dir = Path(cfg["output_dir"]) / "data"
    new_info, total = {}, 0
    for name in str(cfg["dataset"]).split(","):
        name = name.strip()
        if name not in info:
            raise DataError(f"dataset {name!r} is not registered (known: {sorted(info)})",
                            where=str(info_path))
        path = dataset_dir / info[name]["file_name"]
        if "images" in info[name].get("columns", {}):
            records = _check_frames_dataset(name, path, media)
        else:
            records = _check_video_dataset(name, path, media, probe)
        target = out_dir / f"{name}.json"
        if write:
            out_dir.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
        new_info[name] = {**info[name], "file_name": target.name}
        total += len(records)
    if write:
        (out_dir / "dataset_info.json").write_text(json.dumps(new_info, indent=2) + "\n")
    return total, {"dataset_dir": str(out_dir), "media_dir": str(out_dir)}


def _fail(name: str, bad: list[str]) -> None:
    from camreasoner.data.schema import DataError

    shown = "\n".join(f"  {b}" for b in bad[:50])
    more = f"\n  ... and {len(bad) - 50} more" if len(bad) > 50 else ""
    raise DataError(f"dataset {name!r} has {len(bad)} bad record(s); fix or drop them before "
                    f"training:\n{shown}{more}")


def _check_video_dataset(name: str, path: Path, media: Path, probe: bool = True
                         ) -> list[dict[str, Any]]:
    """A ShareGPT video file: every record read (:func:`readers.read_records`), every clip probed
    (unless ``probe`` is off); the records with their ``videos`` resolved to absolute paths."""
    from camreasoner.data.check import CheckReport, check_videos
    from camreasoner.data.readers import read_records
    from camreasoner.data.schema import resolve_video

    result = read_records(path, "sharegpt", collect=True)
    bad = [str(e) for e in result.errors]
    report = CheckReport(str(path))
    if probe:
        check_videos(result.items, media, report, progress=False, where=result.where)
    bad += [f"{b['where']}: item {b['id']!r}: {b['reason']}" for b in report.bad]
    if bad:
        _fail(name, bad)
    records = json.loads(path.read_text(encoding="utf-8"))
    for rec, item in zip(records, result.items, strict=True):
        rec["videos"] = [str(resolve_video(media, item.video, item_id=item.id))]
    log.info("dataset %s: %d records, %d videos, all good", name, len(records), report.n_videos)
    return records


def _check_frames_dataset(name: str, path: Path, media: Path) -> list[dict[str, Any]]:
    """A frames-mode file (data.convert.sharegpt_as_frames): two turns per record, one
    ``<image>`` in the user turn per listed image, every image a readable file under ``media``;
    the records with their ``images`` resolved to absolute paths."""
    from PIL import Image

    from camreasoner.data.schema import DataError, resolve_video
    from camreasoner.prompts import IMAGE_PLACEHOLDER

    records = json.loads(path.read_text(encoding="utf-8"))
    bad, checked = [], {}
    for k, rec in enumerate(records):
        rid = rec.get("id", f"record {k}")
        where = f"{path}[{k}]: item {rid!r}"
        images, messages = rec.get("images"), rec.get("messages")
        if not isinstance(images, list) or not images or not isinstance(messages, list) \
                or len(messages) != 2:
            bad.append(f"{where}: needs a non-empty 'images' list and two 'messages'")
            continue
        if str(messages[0].get("content", "")).count(IMAGE_PLACEHOLDER) != len(images):
            bad.append(f"{where}: field 'images': {len(images)} images but a different number "
                       f"of {IMAGE_PLACEHOLDER} tags")
        resolved = []
        for img in images:
            if img not in checked:
                try:
                    full = resolve_video(media, img, item_id=rid)
                    with Image.open(full) as im:
                        im.verify()
                    checked[img] = str(full)
                except (OSError, SyntaxError, DataError) as e:
                    bad.append(f"{where}: field 'images': {img}: {e}")
                    continue
            resolved.append(checked[img])
        rec["images"] = resolved
    if bad:
        _fail(name, bad)
    log.info("dataset %s: %d records, %d frames, all good", name, len(records), len(checked))
    return records


def plot_curves(output_dir: str | os.PathLike[str]) -> Path | None:
    """Loss, grad norm and learning rate per step from trainer_state.json, as one PNG."""
    state_path = Path(output_dir) / "trainer_state.json"
    if not state_path.is_file():
        log.warning("no trainer_state.json in %s: no curves", output_dir)
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = json.loads(state_path.read_text()).get("log_history", [])
    keys = [k for k in ("loss", "grad_norm", "learning_rate") if any(k in h for h in history)]
    if not keys:  # a run shorter than logging_steps logs nothing per step
        log.warning("trainer_state.json in %s has no per-step logs (fewer steps than "
                    "logging_steps?): no curves", output_dir)
        return None
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.4))
    axes = [axes] if len(keys) == 1 else axes
    for ax, key in zip(axes, keys):
        pts = [(h["step"], h[key]) for h in history if key in h and "step" in h]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=".")
        ax.set_title(key.replace("_", " "))
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(output_dir) / "training_curves.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


# ``llamafactory-cli`` through this interpreter: the same environment whether or not the
# console script is on PATH (a --target install, e.g. packages carried to a machine without network, has it elsewhere).
# camreasoner.lf_cli is llamafactory's cli with Qwen2.5-VL's video positions fixed (in its
# torchrun workers too): camreasoner.qwen_positions says why.
_LF_CLI = (sys.executable, "-m", "camreasoner.lf_cli")


def visible_gpus() -> int:
    """GPUs this process can see (at least 1: LLaMA-Factory then runs one process, on the CPU
    when there is none)."""
    import torch

    return max(1, torch.cuda.device_count())


def sft_env(cfg: dict[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """The environment LLaMA-Factory runs in: ``environ`` plus one process per visible GPU unless
    ``NPROC_PER_NODE`` says otherwise, torchrun for several processes or nodes, NVLink multicast
    off, and one torch thread a process when the recipe tokenizes in
    forked workers (``preprocessing_num_workers`` > 1) and the caller set no OMP_NUM_THREADS.
    Why: each forked worker otherwise runs the image processor with every core's threads; on the
    16-core GPU machine 8 such workers ran ~10x slower a row than one process, and one process
    tokenized only ~70 chains a second (8 frames each) against ~300 on a 2-core CPU machine."""
    env = dict(environ)
    if not env.get("NPROC_PER_NODE"):
        env["NPROC_PER_NODE"] = str(visible_gpus())
    nproc = int(env["NPROC_PER_NODE"])
    nnodes = int(env.get("NNODES", "1") or 1)
    if nproc > 1 or nnodes > 1:
        env["FORCE_TORCHRUN"] = "1"
    env.setdefault("NCCL_NVLS_ENABLE", "0")
    if int(cfg.get("preprocessing_num_workers") or 1) > 1:
        env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run_sft(recipe: str, settings: dict[str, Any], overrides: list[str], check: bool = True,
            dry_run: bool = False) -> Path:
    import yaml

    cfg = merged_config(recipe, settings, overrides)
    out = Path(cfg["output_dir"])
    n, data_settings = prepare_datasets(cfg, probe=check, write=not dry_run)
    log.info("training on %d checked records (%s)", n, data_settings["dataset_dir"])
    cfg.update(data_settings)
    config_path = out / "camreasoner_sft_config.yaml"
    env = sft_env(cfg, os.environ)
    nproc = int(env["NPROC_PER_NODE"])
    nnodes = int(env.get("NNODES", "1") or 1)
    cmd = [*_LF_CLI, "train", str(config_path)]
    log.info("SFT: %s (nproc %d, nnodes %d)", " ".join(cmd), nproc, nnodes)
    if dry_run:  # writes nothing: the config LLaMA-Factory would get, and the command
        print(yaml.safe_dump(cfg, sort_keys=False), end="")
        print(" ".join(cmd))
        return out
    out.mkdir(parents=True, exist_ok=True)
    config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    subprocess.run(cmd, check=True, env=env)
    curves = plot_curves(out)
    if curves:
        log.info("training curves: %s", curves)
    return out


def export_lora(base_model: str, adapter_dir: str, export_dir: str,
                template: str = "qwen2_vl") -> Path:
    """Merge a LoRA adapter into its base with ``llamafactory-cli export``; the folder then loads
    with transformers (and ``camreasoner eval run``)."""
    import yaml

    out = Path(export_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = {"model_name_or_path": base_model, "adapter_name_or_path": adapter_dir,
           "template": template, "finetuning_type": "lora", "trust_remote_code": True,
           "export_dir": str(out), "export_size": 5, "export_device": "cpu",
           "export_legacy_format": False}
    path = out / "camreasoner_export.yaml"
    path.write_text(yaml.safe_dump(cfg))
    subprocess.run([*_LF_CLI, "export", str(path)], check=True)
    return out
