"""``camreasoner eval run``: answer every item with a model, crash-safe and resumable.

``RUN/predictions.jsonl`` is append-only: one line per finished item, written and flushed as the
item finishes. A run killed at any point (SIGKILL included) and started again skips the items
already written, so it ends with exactly the predictions of an uninterrupted run. The only repair
ever made is cutting a last line the kill left half-written. ``RUN/config.json`` pins what the
predictions mean (model, items' hash, backend, vision spec, prompt, generation length, p_yes
method); resuming with a different one is refused. The settings start from a named protocol
(:mod:`camreasoner.protocols`, default ``seed``) and ``eval score`` reads the answers the way the
run's protocol does (``answer_reading``).

A missing, empty or corrupt video fails only its own item: the line records ``error`` and the
reason; ``--retry-errors`` tries those items again (a later line for an id replaces the earlier).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from camreasoner import prompts
from camreasoner.data.readers import load_items
from camreasoner.data.schema import DataError, Item, resolve_video
from camreasoner.media.frames import FrameJob, prefetch, start_pool
from camreasoner.protocols import DEFAULT_PROTOCOL, SEED, EvalProtocol, eval_protocol
from camreasoner.vision import VisionSpec

log = logging.getLogger(__name__)

PREDICTIONS = "predictions.jsonl"
CONFIG = "config.json"
SUMMARY = "summary.json"
# Fields whose change makes old predictions mean something else.
PINNED = ("model", "items_sha256", "backend", "vision", "prompt", "max_new_tokens", "p_yes",
          "shard_index", "num_shards")


@dataclass
class RunConfig:
    """One evaluation run. :meth:`from_protocol` fills the protocol's settings; each can then be
    changed on its own (the CLI's flags do)."""

    model: str
    items: str
    video_root: str
    backend: str = "hf"
    protocol: str = DEFAULT_PROTOCOL
    vision: dict = field(default_factory=SEED.eval.vision.to_dict)
    prompt: str = SEED.eval.prompt  # a prompts.EVAL_PROMPTS name
    max_new_tokens: int = SEED.eval.max_new_tokens
    max_model_len: int = SEED.eval.max_model_len  # vLLM's context length
    p_yes: str = SEED.eval.p_yes  # letters | yes_token | off
    answer_reading: str = SEED.eval.answer_reading  # how eval score reads the answers
    batch_size: int = 8
    workers: int = 2
    cache_dir: str | None = None
    shard_index: int = 0
    num_shards: int = 1
    items_sha256: str = ""
    backend_kwargs: dict = field(default_factory=dict)

    @classmethod
    def from_protocol(cls, name: str, **kw: Any) -> RunConfig:
        p: EvalProtocol = eval_protocol(name)
        base = {"protocol": name, "vision": p.vision.to_dict(), "prompt": p.prompt,
                "max_new_tokens": p.max_new_tokens, "max_model_len": p.max_model_len,
                "p_yes": p.p_yes, "answer_reading": p.answer_reading}
        return cls(**{**base, **kw})

    def backend_settings(self, spec: VisionSpec) -> dict[str, Any]:
        """What the backend is built with: the run's settings, then ``backend_kwargs``."""
        kw: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "vision_mode": spec.mode,
                              "p_yes": self.p_yes}
        if self.backend == "vllm":  # transformers has no context length to set
            kw.update(max_model_len=self.max_model_len, max_frames=spec.max_frames)
        return {**kw, **self.backend_kwargs}


def repair_tail(path: Path) -> int:
    """Cut a half-written last line (no trailing newline). Returns the bytes removed."""
    if not path.exists() or path.stat().st_size == 0:
        return 0
    with open(path, "rb+") as f:
        data = f.read()
        if data.endswith(b"\n"):
            return 0
        keep = data.rfind(b"\n") + 1
        f.truncate(keep)
        return len(data) - keep


def load_done(path: Path, retry_errors: bool) -> dict[str, dict]:
    """``id -> last line`` of finished items (error lines count unless ``retry_errors``)."""
    from camreasoner.eval.score import read_predictions

    done = read_predictions(path) if path.exists() else {}
    if retry_errors:
        done = {k: v for k, v in done.items() if not v.get("error")}
    return done


def shard(items: list[Item], index: int, num: int) -> list[Item]:
    """Every ``num``-th item from ``index``: shards are disjoint and cover the file."""
    if not 0 <= index < num:
        raise ValueError(f"shard index {index} not in [0, {num})")
    return items[index::num]


def _check_config(run_dir: Path, cfg: RunConfig) -> None:
    path = run_dir / CONFIG
    new = asdict(cfg)
    if path.exists():
        old = json.loads(path.read_text())
        diff = {k: (old.get(k), new[k]) for k in PINNED if old.get(k) != new[k]}
        if diff:
            raise DataError(f"{run_dir} holds predictions made with other settings {diff}; "
                            "use a new --out folder", where=str(path))
    path.write_text(json.dumps(new, indent=2) + "\n")


def run_eval(cfg: RunConfig, out: str | os.PathLike[str], retry_errors: bool = False,
             backend=None, progress: bool = True) -> dict[str, Any]:
    """Answer all pending items of ``cfg.items`` into ``out``; returns the summary."""
    from tqdm.auto import tqdm

    from camreasoner.eval.backends import Request, make_backend
    from camreasoner.eval.score import file_sha256, yes_no_letters

    run_dir = Path(out)
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg.items_sha256 = file_sha256(cfg.items)
    _check_config(run_dir, cfg)
    spec = VisionSpec(**cfg.vision)
    items = shard(load_items(cfg.items), cfg.shard_index, cfg.num_shards)
    pred_path = run_dir / PREDICTIONS
    cut = repair_tail(pred_path)
    if cut:
        log.warning("cut a half-written last line (%d bytes) from %s", cut, pred_path)
    done = load_done(pred_path, retry_errors)
    pending = [i for i in items if i.id not in done]
    skipped_open = [i for i in pending if not i.options]
    pending = [i for i in pending if i.options]
    if skipped_open:
        log.warning("%d open-ended items are not run (no options to answer)", len(skipped_open))
    log.info("%d items, %d already done, %d to run", len(items), len(items) - len(pending)
             - len(skipped_open), len(pending))
    by_id = {i.id: i for i in pending}

    jobs: list[FrameJob] = []
    bad_paths: dict[str, str] = {}
    for item in pending:
        try:
            path = str(resolve_video(cfg.video_root, item.video, item_id=item.id))
        except DataError as e:
            bad_paths[item.id] = str(e)
            continue
        jobs.append(FrameJob(item.id, path, spec, cfg.cache_dir))

    n_tokens = 0
    n_run = 0
    pool = start_pool(cfg.workers) if jobs else None  # starts while the model loads
    try:  # the workers stop even when the backend fails to load or to answer
        if pending and backend is None:
            backend = make_backend(cfg.backend, cfg.model, **cfg.backend_settings(spec))
        t0 = time.monotonic()  # after the model load: items/s measures answering, not start-up
        bar = tqdm(total=len(pending), desc="eval", unit="item", disable=not progress)
        with open(pred_path, "a", encoding="utf-8") as f:

            def write(rec: dict) -> None:
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                f.flush()

            batch: list[Request] = []
            for item_id, reason in bad_paths.items():
                write({"id": item_id, "response": None, "error": reason})
                bar.update(1)

            def flush_batch() -> None:
                nonlocal n_tokens, n_run
                if not batch:
                    return
                for req, res in zip(batch, backend.generate(batch), strict=True):
                    write({"id": req.id, "response": res.response, "p_yes": res.p_yes,
                           "generated_tokens": res.generated_tokens,
                           "prompt_tokens": res.prompt_tokens})
                    n_tokens += res.generated_tokens
                    n_run += 1
                bar.update(len(batch))
                batch.clear()

            for key, video, error in prefetch(jobs, workers=cfg.workers, ahead=2 * cfg.batch_size,
                                              pool=pool):
                item = by_id[key]
                if error is not None:
                    write({"id": key, "response": None, "error": error})
                    bar.update(1)
                    continue
                batch.append(Request(item.id, prompts.render_eval_prompt(item, cfg.prompt),
                                     video, yes_no_letters(item)))
                if len(batch) >= cfg.batch_size:
                    flush_batch()
            flush_batch()
        bar.close()
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    elapsed = time.monotonic() - t0
    final = load_done(pred_path, retry_errors=False)
    task_of = {i.id: i.task for i in items}
    errors = Counter(task_of[i] for i, r in final.items() if r.get("error") and i in task_of)
    summary = {
        "items": len(items), "predictions": len(final), "ran_now": n_run,
        "errors": sum(errors.values()), "errors_per_task": dict(errors),
        "open_ended_not_run": len(skipped_open),
        "seconds": round(elapsed, 2),
        "items_per_s": round(n_run / elapsed, 3) if elapsed > 0 and n_run else None,
        "generated_tokens_per_s": round(n_tokens / elapsed, 2) if elapsed > 0 and n_run else None,
    }
    (run_dir / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
    if summary["errors"]:
        log.warning("%d items failed (per task: %s); rerun with --retry-errors to try them again",
                    summary["errors"], dict(errors))
    return summary



def run_data_parallel(cfg: RunConfig, out: str | os.PathLike[str], num_procs: int,
                      gpus_per_proc: int = 1, retry_errors: bool = False,
                      extra_args: list[str] | None = None) -> dict[str, Any]:
    """One ``eval run`` process per GPU group on shard i of n, then one merged predictions file
    in item order. Each shard resumes on its own; the merge is redone from the shard files."""
    import subprocess
    import sys

    run_dir = Path(out)
    run_dir.mkdir(parents=True, exist_ok=True)
    procs = []
    for i in range(num_procs):
        gpus = ",".join(str(g) for g in range(i * gpus_per_proc, (i + 1) * gpus_per_proc))
        args = [sys.executable, "-m", "camreasoner", "eval", "run", "--model", cfg.model,
                "--items", cfg.items, "--video-root", cfg.video_root, "--backend", cfg.backend,
                "--out", str(run_dir / f"shard-{i}"), "--batch-size", str(cfg.batch_size),
                "--workers", str(cfg.workers), "--protocol", cfg.protocol,
                "--max-new-tokens", str(cfg.max_new_tokens),
                "--max-model-len", str(cfg.max_model_len), "--p-yes", cfg.p_yes,
                "--prompt", cfg.prompt, "--vision-json", json.dumps(cfg.vision),
                "--shard-index", str(i), "--num-shards", str(num_procs), "--no-progress",
                *(["--cache-dir", cfg.cache_dir] if cfg.cache_dir else []),
                *(["--retry-errors"] if retry_errors else []), *(extra_args or [])]
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": gpus}
        log.info("shard %d/%d on GPUs %s", i, num_procs, gpus)
        procs.append(subprocess.Popen(args, env=env))
    codes = [p.wait() for p in procs]
    if any(codes):
        raise RuntimeError(f"data-parallel shards exited with {codes}; rerun to resume")
    return merge_shards(cfg.items, run_dir, num_procs)


def merge_shards(items_path: str, run_dir: Path, num_shards: int) -> dict[str, Any]:
    merged: dict[str, dict] = {}
    for i in range(num_shards):
        merged.update(load_done(run_dir / f"shard-{i}" / PREDICTIONS, retry_errors=False))
    items = load_items(items_path)
    order = [i.id for i in items if i.id in merged]
    tmp = run_dir / (PREDICTIONS + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(merged[item_id], ensure_ascii=False) + "\n" for item_id in order)
    os.replace(tmp, run_dir / PREDICTIONS)
    shard_cfg = json.loads((run_dir / "shard-0" / CONFIG).read_text())
    shard_cfg.update(shard_index=0, num_shards=1)
    (run_dir / CONFIG).write_text(json.dumps(shard_cfg, indent=2) + "\n")
    summaries = [json.loads((run_dir / f"shard-{i}" / SUMMARY).read_text())
                 for i in range(num_shards)]
    summary = {"items": len(items), "predictions": len(order), "shards": summaries,
               "errors": sum(s["errors"] for s in summaries)}
    (run_dir / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
    return summary

