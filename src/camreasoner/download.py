"""``camreasoner download`` (and ``download.sh``): fetch models, data and videos into one root.

Layout under ``--data-root`` (default ``./data_root``)::

    models/<model name>/            base model (Qwen/Qwen2.5-VL-7B-Instruct, or --base-model ID)
    models/CamReasoner-7B/          the released checkpoint (only with --with-checkpoint)
    data/camerabench_sft.json       CamReasoning-SFT-18k (ShareGPT messages + videos)
    data/camerabench_rl.json        CamReasoning-RL-38k (OneThinker JSON)
    train_videos/                   training clips (videos.zip unpacked; SFT/RL media dir)
    camerabench/videos/             CameraBench test clips (the evaluation video root)

Every step is skipped when its output is complete (a file renamed into place, or a folder with
a ``.camreasoner_complete`` marker), so a second run resumes. Hub downloads go through
huggingface_hub, which resumes partial files itself. With no network the command fails within
seconds, naming each missing piece and the command that fetches it.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import time
import urllib.parse
import urllib.request
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

COMPLETE_MARKER = ".camreasoner_complete"
DEFAULT_BASE_MODEL = "Qwen/Qwen2.5-VL-7B-Instruct"
CHECKPOINT_MODEL = "LaurentWu/CamReasoner-7B"
SEED_REPO_RAW = "https://raw.githubusercontent.com/wuhang03/CamReasoner/main"
TRAIN_VIDEOS_DATASET = "chancharikm/cambench_train_videos"
TEST_VIDEOS_DATASET = "syCen/CameraBench"
CONNECT_TIMEOUT_S = 5.0


class DownloadError(RuntimeError):
    pass


@dataclass(frozen=True)
class Step:
    key: str
    what: str
    kind: str  # "hf_snapshot" | "hf_zip" | "url"
    source: str  # hub repo id, or URL
    dest: str  # relative to the data root
    repo_type: str = "model"
    filename: str | None = None  # hf_zip: the file in the repo
    allow_patterns: tuple[str, ...] | None = None
    optional: bool = False

    def dest_path(self, root: Path) -> Path:
        return root / self.dest

    def is_complete(self, root: Path) -> bool:
        path = self.dest_path(root)
        if self.kind == "url":
            return path.is_file() and path.stat().st_size > 0
        return (path / COMPLETE_MARKER).is_file()

    def fetch_hint(self, root: Path) -> str:
        dest = self.dest_path(root)
        if self.kind == "url":
            return f"curl -L -o {dest} {self.source}"
        args = f"--repo-type {self.repo_type} " if self.repo_type != "model" else ""
        if self.filename:
            return f"hf download {args}{self.source} {self.filename} --local-dir <tmp>  # then unzip into {dest}"
        patterns = " ".join(f"--include '{p}'" for p in self.allow_patterns or ())
        return f"hf download {args}{self.source} {patterns} --local-dir {dest}".replace("  ", " ")


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def raw_base() -> str:
    return os.environ.get("CAMREASONER_SEED_RAW", SEED_REPO_RAW).rstrip("/")


def make_plan(base_model: str = DEFAULT_BASE_MODEL, with_checkpoint: bool = False,
              only: list[str] | None = None) -> list[Step]:
    steps = [
        Step("base-model", f"base model {base_model}", "hf_snapshot", base_model,
             f"models/{base_model.rstrip('/').split('/')[-1]}"),
        Step("checkpoint", f"released checkpoint {CHECKPOINT_MODEL}", "hf_snapshot",
             CHECKPOINT_MODEL, "models/CamReasoner-7B", optional=not with_checkpoint),
        Step("sft-data", "CamReasoning-SFT-18k (camerabench_sft.json)", "url",
             f"{raw_base()}/LLaMA-Factory/data/camerabench_sft.json", "data/camerabench_sft.json"),
        Step("rl-data", "CamReasoning-RL-38k (camerabench_rl.json)", "url",
             f"{raw_base()}/EasyR1/camerabench_rl.json", "data/camerabench_rl.json"),
        Step("train-videos", f"training videos ({TRAIN_VIDEOS_DATASET} videos.zip)", "hf_zip",
             TRAIN_VIDEOS_DATASET, "train_videos", repo_type="dataset", filename="videos.zip"),
        Step("test-videos", f"CameraBench test videos ({TEST_VIDEOS_DATASET} videos/)",
             "hf_snapshot", TEST_VIDEOS_DATASET, "camerabench", repo_type="dataset",
             allow_patterns=("videos/*",)),
    ]
    keys = [s.key for s in steps]
    if only:
        unknown = sorted(set(only) - set(keys))
        if unknown:
            raise DownloadError(f"unknown step(s) {unknown}; steps: {', '.join(keys)}")
        return [s for s in steps if s.key in only]
    return [s for s in steps if not s.optional]


def plan_status(steps: list[Step], root: Path) -> list[dict]:
    return [{**asdict(s), "dest": str(s.dest_path(root)), "complete": s.is_complete(root)}
            for s in steps]


def _reachable(url: str, timeout: float) -> str | None:
    """None when a TCP connection to the URL's host opens within ``timeout``, else the reason."""
    parsed = urllib.parse.urlparse(url)
    host = parsed.hostname or ""
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as e:
        return f"cannot reach {parsed.scheme}://{host}:{port} ({type(e).__name__}: {e})"


def preflight(steps: list[Step], root: Path, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast, before any download, when the sources of missing steps are unreachable."""
    missing = [s for s in steps if not s.is_complete(root)]
    if not missing:
        return
    problems = []
    needs_hub = any(s.kind != "url" for s in missing)
    if needs_hub and os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        problems.append("HF_HUB_OFFLINE is set: the hub is not to be contacted")
    elif needs_hub:
        reason = _reachable(hub_endpoint(), timeout)
        if reason:
            problems.append(reason)
    if any(s.kind == "url" for s in missing):
        reason = _reachable(raw_base(), timeout)
        if reason:
            problems.append(reason)
    if problems:
        lines = ["download cannot start: " + "; ".join(problems), "missing:"]
        for s in missing:
            lines.append(f"  - {s.key}: {s.what} -> {s.dest_path(root)}")
            lines.append(f"      fetch: {s.fetch_hint(root)}")
        lines.append(f"Run `bash download.sh --data-root {root}` on a machine with network (or "
                     "fetch the pieces above and copy them into place), then run it again here: "
                     "complete steps are skipped.")
        raise DownloadError("\n".join(lines))


def _fetch_url(url: str, dest: Path) -> None:
    """Download to ``dest.part`` with HTTP range resume, then rename into place."""
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    start = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
    with urllib.request.urlopen(req, timeout=60) as resp:
        mode = "ab" if start and resp.status == 206 else "wb"
        with open(part, mode) as f:
            shutil.copyfileobj(resp, f, length=1 << 20)
    os.replace(part, dest)


def run_step(step: Step, root: Path) -> None:
    dest = step.dest_path(root)
    if step.kind == "url":
        _fetch_url(step.source, dest)
        return
    from huggingface_hub import hf_hub_download, snapshot_download

    if step.kind == "hf_snapshot":
        snapshot_download(repo_id=step.source, repo_type=step.repo_type, local_dir=dest,
                          allow_patterns=list(step.allow_patterns) if step.allow_patterns else None)
    elif step.kind == "hf_zip":
        cache = root / ".download_cache"
        zip_path = hf_hub_download(repo_id=step.source, repo_type=step.repo_type,
                                   filename=step.filename, local_dir=cache)
        tmp = dest.with_name(dest.name + ".unzipping")
        shutil.rmtree(tmp, ignore_errors=True)
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(tmp)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
        os.remove(zip_path)
    else:
        raise DownloadError(f"unknown step kind {step.kind!r}")
    (dest / COMPLETE_MARKER).write_text(time.strftime("%Y-%m-%dT%H:%M:%S") + "\n")


def download(root: str | os.PathLike[str], steps: list[Step]) -> list[str]:
    """Run the missing steps in order; returns the keys that were fetched."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    preflight(steps, root)
    fetched = []
    for i, step in enumerate(steps, 1):
        if step.is_complete(root):
            log.info("[%d/%d] %s: complete, skipped (%s)", i, len(steps), step.key,
                     step.dest_path(root))
            continue
        log.info("[%d/%d] %s: fetching %s -> %s", i, len(steps), step.key, step.what,
                 step.dest_path(root))
        t0 = time.monotonic()
        run_step(step, root)
        log.info("[%d/%d] %s: done in %.0fs", i, len(steps), step.key, time.monotonic() - t0)
        fetched.append(step.key)
    return fetched
