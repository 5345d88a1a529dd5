"""``camreasoner download`` (and ``download.sh``): fetch models, data and videos into one root.

Layout under ``--data-root`` (default ``./data_root``), with the step key that writes each piece::

    models/<model name>/            base-model    Qwen/Qwen2.5-VL-7B-Instruct (or --base-model ID)
    models/CamReasoner-7B/          checkpoint    LaurentWu/CamReasoner-7B (only --with-checkpoint)
    data/camerabench_sft.json       sft-data      CamReasoning-SFT-18k (ShareGPT messages + videos)
    data/camerabench_rl.json        rl-data       CamReasoning-RL-38k (OneThinker JSON)
    data/camerabench_binary.json    eval-data     the seed's CameraBench evaluation files
    data/camerabench_vqa.json       eval-data       (Inference/, eval_bench.py records)
    train_videos/                   train-videos  chancharikm/cambench_train_videos videos.zip,
                                                  unpacked (the SFT/RL media dir)
    camerabench/videos/             test-videos   syCen/Videos4CameraBench, the whole snapshot
                                                  (the evaluation video root: the seed's
                                                  ``video/`` folder)
    download.lock.json              the commit every step was fetched at

Every source is pinned to a commit. The seed's files come from github.com/wuhang03/CamReasoner
at commit ``SEED_COMMIT`` (branch master) through raw.githubusercontent.com. Hub repositories
use ``KNOWN_REVISIONS`` where a commit is known; a repository without one is resolved from its
branch to a commit at its first download, every file is fetched at that commit, and the commit
is recorded in ``download.lock.json``, which later runs (and other machines given the file) use.
``--revision KEY=SHA`` overrides any step. ``--plan`` prints each step's source, revision,
destination and state.

Every step is skipped when its output is complete (files renamed into place, or a folder with a
``.camreasoner_complete`` marker), so a second run resumes. Hub downloads go through
huggingface_hub, which resumes partial files itself. A step that fetched no files fails and is
not marked complete. With no network the command fails within seconds, naming each missing
piece and the command that fetches it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from camreasoner.errors import UserError

log = logging.getLogger(__name__)

COMPLETE_MARKER = ".camreasoner_complete"
LOCK_FILE = "download.lock.json"
DEFAULT_BASE_MODEL = "Qwen/Qwen2.5-VL-7B-Instruct"
CHECKPOINT_MODEL = "LaurentWu/CamReasoner-7B"
SEED_REPO = "wuhang03/CamReasoner"
SEED_BRANCH = "master"  # its only branch; there is no main
SEED_COMMIT = "8b7118833c44b6b49ce9bb9a7ff27cad2945c828"
# raw.githubusercontent.com/<owner>/<repo>/<commit>/<path>; the commit is appended per file.
SEED_REPO_RAW = f"https://raw.githubusercontent.com/{SEED_REPO}"
TRAIN_VIDEOS_DATASET = "chancharikm/cambench_train_videos"
TEST_VIDEOS_DATASET = "syCen/Videos4CameraBench"  # Inference/data_download.py
HUB_BRANCH = "main"
CONNECT_TIMEOUT_S = 5.0

# The commit each source is fetched at unless download.lock.json or --revision says otherwise,
# keyed by source id (``source_id``). Only commits read from a public record are listed: the
# seed commit is the snapshot this project was written against; the Qwen commit is the snapshot
# that public Hugging Face caches and pinned-revision tables of Qwen/Qwen2.5-VL-7B-Instruct name
# (models--Qwen--Qwen2.5-VL-7B-Instruct/snapshots/cc59489...; whether its main has moved since
# cannot be checked from here). No public record of the other hub repositories' commits was
# found, so they are resolved and recorded at first download.
KNOWN_REVISIONS: dict[str, str] = {
    f"github:{SEED_REPO}": SEED_COMMIT,
    f"model:{DEFAULT_BASE_MODEL}": "cc594898137f460bfe9f0759e9844b3ce807cfb5",
}

UNRESOLVED_NOTE = "branch {branch}, resolved and recorded at first download"
_SHA_RE = re.compile(r"[0-9a-f]{40}")
# What huggingface_hub writes beside a snapshot, and what the hub puts into every new repo:
# neither is content, so a snapshot holding only these fetched nothing.
_NOT_CONTENT = {".cache", ".gitattributes", COMPLETE_MARKER}


class DownloadError(UserError, RuntimeError):
    pass


@dataclass(frozen=True)
class Step:
    key: str
    what: str
    kind: str  # "hf_snapshot" | "hf_zip" | "url"
    source: str  # hub repo id, or the seed repository (owner/name on GitHub) for "url"
    dest: str  # relative to the data root; a folder for "url" (the files keep their names)
    repo_type: str = "model"  # hub steps; "github" for "url"
    filename: str | None = None  # hf_zip: the file in the repo
    files: tuple[str, ...] = ()  # url: paths in the seed repository
    allow_patterns: tuple[str, ...] | None = None
    branch: str = HUB_BRANCH
    revision: str | None = None  # a commit SHA; None: resolve the branch at first download
    revision_from: str | None = None  # "default table" | LOCK_FILE | "--revision"
    optional: bool = False

    @property
    def source_id(self) -> str:
        return f"{self.repo_type}:{self.source}"

    def dest_path(self, root: Path) -> Path:
        return root / self.dest

    def url_files(self, root: Path) -> list[tuple[str, Path]]:
        """(URL, destination) of each file of a "url" step, at its revision."""
        rev = self.revision or self.branch
        return [(f"{raw_base()}/{rev}/{path}", self.dest_path(root) / Path(path).name)
                for path in self.files]

    def is_complete(self, root: Path) -> bool:
        if self.kind == "url":
            return all(dest.is_file() and dest.stat().st_size > 0
                       for _, dest in self.url_files(root))
        return (self.dest_path(root) / COMPLETE_MARKER).is_file()

    def revision_text(self) -> str:
        if self.revision is None:
            return UNRESOLVED_NOTE.format(branch=self.branch)
        return f"{self.revision} (branch {self.branch}; from {self.revision_from})"

    def fetch_hint(self, root: Path) -> str:
        dest = self.dest_path(root)
        if self.kind == "url":
            return " && ".join(f"curl -fL -o {d} {u}" for u, d in self.url_files(root))
        args = f"--repo-type {self.repo_type} " if self.repo_type != "model" else ""
        rev = f"--revision {self.revision or '<sha>'}"
        done = f"touch {dest}/{COMPLETE_MARKER}"
        if self.filename:
            fetch = (f"hf download {args}{self.source} {self.filename} {rev} --local-dir <tmp> "
                     f"&& unzip <tmp>/{self.filename} -d {dest} && {done}")
        else:
            patterns = "".join(f" --include '{p}'" for p in self.allow_patterns or ())
            fetch = f"hf download {args}{self.source}{patterns} {rev} --local-dir {dest} && {done}"
        if self.revision is None:
            # Unpinned: the commit fetched by hand has to be recorded on this machine, or the
            # data root would hold files of a commit nothing names.
            fetch += (f"  (<sha>: the commit of {self.branch}, from `hf {self.repo_type}s info "
                      f"{self.source}`; then run here with --revision {self.key}=<sha> to "
                      f"record it in {LOCK_FILE})")
        return fetch


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def raw_base() -> str:
    return os.environ.get("CAMREASONER_SEED_RAW", SEED_REPO_RAW).rstrip("/")


def _hf_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


# --- revisions ----------------------------------------------------------------------------------
def parse_revisions(specs: list[str] | None) -> dict[str, str]:
    """``["KEY=SHA", ...]`` -> {key: sha}; one problem per line in the error."""
    revisions: dict[str, str] = {}
    problems = []
    keys = [s.key for s in all_steps()]
    for spec in specs or []:
        key, sep, sha = spec.partition("=")
        key, sha = key.strip(), sha.strip().lower()
        if not sep or not key:
            problems.append(f"--revision {spec!r}: expected KEY=SHA (a step key, see --plan)")
        elif key not in keys:
            problems.append(f"--revision {spec!r}: unknown step {key}; steps: {', '.join(keys)}")
        elif not _SHA_RE.fullmatch(sha):
            # A branch or tag would move under a later run: only a full commit pins the files.
            problems.append(f"--revision {spec!r}: {sha!r} is not a full 40-hex commit SHA")
        elif revisions.get(key, sha) != sha:
            problems.append(f"--revision {spec!r}: {key} already set to {revisions[key]}")
        else:
            revisions[key] = sha
    if problems:
        raise DownloadError("\n".join(problems))
    return revisions


def lock_path(root: Path) -> Path:
    return Path(root) / LOCK_FILE


def read_lock(root: Path) -> dict[str, dict[str, Any]]:
    """The recorded revisions, {source id: entry}; empty when there is no lock file."""
    path = lock_path(root)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        entries = data["sources"]
        if not isinstance(entries, dict):
            raise TypeError("'sources' is not an object")
    except (ValueError, KeyError, TypeError) as e:
        raise DownloadError(f"{path}: not a download lock file ({type(e).__name__}: {e}); "
                            "fix or remove it") from None
    bad = sorted(k for k, v in entries.items()
                 if not isinstance(v, dict) or not _SHA_RE.fullmatch(str(v.get("revision"))))
    if bad:
        raise DownloadError(f"{path}: no 40-hex commit SHA recorded for {', '.join(bad)}; "
                            "fix or remove those entries")
    return entries


def record_revision(root: Path, step: Step) -> None:
    """Write ``step``'s commit into the lock file (atomically, keeping the other entries)."""
    entries = read_lock(root)
    entries[step.source_id] = {"step": step.key, "source": step.source,
                               "repo_type": step.repo_type, "branch": step.branch,
                               "revision": step.revision,
                               "recorded": time.strftime("%Y-%m-%dT%H:%M:%S")}
    path = lock_path(root)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"about": "commits `camreasoner download` fetched each source at; "
                               "later runs and other machines given this file use them",
                               "sources": dict(sorted(entries.items()))}, indent=2) + "\n")
    os.replace(tmp, path)


def resolve_hub_revision(step: Step) -> str:
    """The commit the hub repository's branch points at now."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    try:
        info = HfApi(endpoint=hub_endpoint()).repo_info(step.source, repo_type=step.repo_type,
                                                        revision=step.branch)
    except HfHubHTTPError as e:
        raise DownloadError(f"{step.key}: cannot resolve {step.repo_type} {step.source} branch "
                            f"{step.branch} to a commit: {_one_line(e)}") from None
    sha = getattr(info, "sha", None)
    if not sha or not _SHA_RE.fullmatch(sha):
        raise DownloadError(f"{step.key}: the hub gave no commit for {step.repo_type} "
                            f"{step.source} branch {step.branch} (got {sha!r})")
    return sha


# --- the plan -----------------------------------------------------------------------------------
def all_steps(base_model: str = DEFAULT_BASE_MODEL) -> list[Step]:
    seed = {"repo_type": "github", "branch": SEED_BRANCH}
    steps = [
        Step("base-model", f"base model {base_model}", "hf_snapshot", base_model,
             f"models/{base_model.rstrip('/').split('/')[-1]}"),
        Step("checkpoint", f"released checkpoint {CHECKPOINT_MODEL}", "hf_snapshot",
             CHECKPOINT_MODEL, "models/CamReasoner-7B", optional=True),
        Step("sft-data", "CamReasoning-SFT-18k (camerabench_sft.json)", "url", SEED_REPO, "data",
             files=("LLaMA-Factory/data/camerabench_sft.json",), **seed),
        Step("rl-data", "CamReasoning-RL-38k (camerabench_rl.json)", "url", SEED_REPO, "data",
             files=("EasyR1/camerabench_rl.json",), **seed),
        Step("eval-data", "the seed's evaluation files (camerabench_binary.json, "
             "camerabench_vqa.json)", "url", SEED_REPO, "data",
             files=("Inference/camerabench_binary.json", "Inference/camerabench_vqa.json"),
             **seed),
        Step("train-videos", f"training videos ({TRAIN_VIDEOS_DATASET} videos.zip)", "hf_zip",
             TRAIN_VIDEOS_DATASET, "train_videos", repo_type="dataset", filename="videos.zip"),
        Step("test-videos", f"CameraBench test videos ({TEST_VIDEOS_DATASET}, whole snapshot)",
             "hf_snapshot", TEST_VIDEOS_DATASET, "camerabench/videos", repo_type="dataset"),
    ]
    return [replace(s, revision=KNOWN_REVISIONS[s.source_id], revision_from="default table")
            if s.source_id in KNOWN_REVISIONS else s for s in steps]


def make_plan(base_model: str = DEFAULT_BASE_MODEL, with_checkpoint: bool = False,
              only: list[str] | None = None, revisions: dict[str, str] | None = None,
              root: str | os.PathLike[str] | None = None) -> list[Step]:
    """The steps to run, each pinned by --revision, else the lock file in ``root``, else the
    default table; a step left with ``revision=None`` is resolved at its first download."""
    steps = all_steps(base_model)
    keys = [s.key for s in steps]
    problems = []
    unknown = sorted(set(only or ()) - set(keys))
    if unknown:
        problems.append(f"--only: unknown step(s) {', '.join(unknown)}; steps: {', '.join(keys)}")
    for key in sorted(set(revisions or {}) - set(keys)):
        problems.append(f"--revision {key}=...: unknown step {key}; steps: {', '.join(keys)}")
    if problems:
        raise DownloadError("\n".join(problems))
    locked = read_lock(Path(root)) if root is not None else {}
    pinned = []
    for step in steps:
        entry = locked.get(step.source_id)
        if step.key in (revisions or {}):
            step = replace(step, revision=revisions[step.key], revision_from="--revision")
        elif entry and entry.get("revision") and entry["revision"] != step.revision:
            if step.revision:
                # The lock file says what this data root holds (or is half-way through
                # fetching); switching commits under it would mix two versions.
                log.warning("%s: %s records %s, not the default %s; using the recorded one "
                            "(--revision %s=SHA to change it)", step.key, LOCK_FILE,
                            entry["revision"], step.revision, step.key)
            step = replace(step, revision=entry["revision"], revision_from=LOCK_FILE)
        pinned.append(step)
    if only:
        return [s for s in pinned if s.key in only]
    if with_checkpoint:
        return pinned
    return [s for s in pinned if not s.optional]


def plan_status(steps: list[Step], root: Path) -> list[dict[str, Any]]:
    rows = []
    for s in steps:
        row = {**asdict(s), "dest": str(s.dest_path(root)), "complete": s.is_complete(root),
               "revision_note": s.revision_text()}
        if s.kind == "url":
            row["urls"] = [{"url": u, "dest": str(d)} for u, d in s.url_files(root)]
        rows.append(row)
    return rows


def format_plan(steps: list[Step], root: Path) -> str:
    """The plan as text: per step its source, revision, destination and whether it is there."""
    lock = lock_path(root)
    lines = [f"data root {root} (lock file {lock}: {'present' if lock.is_file() else 'absent'})"]
    for s in steps:
        if s.kind == "url":
            source = f"github {s.source}, branch {s.branch}"
        else:
            item = f" file {s.filename}" if s.filename else ""
            patterns = f" ({', '.join(s.allow_patterns)})" if s.allow_patterns else ""
            source = f"hub {s.repo_type} {s.source}{item}{patterns}"
        lines += [f"{s.key}: {s.what}",
                  f"    source:      {source}",
                  f"    revision:    {s.revision_text()}"]
        if s.kind == "url":
            for i, (url, dest) in enumerate(s.url_files(root)):
                lines.append(f"    {'files:' if i == 0 else '':<12} {url}")
                lines.append(f"    {'':<12}   -> {dest}")
        else:
            lines.append(f"    destination: {s.dest_path(root)}")
        lines.append(f"    complete:    {'yes' if s.is_complete(root) else 'no'}")
    return "\n".join(lines)


# --- fetching -----------------------------------------------------------------------------------
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
    if needs_hub and _hf_offline():
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
            lines.append(f"      revision: {s.revision_text()}")
            lines.append(f"      fetch: {s.fetch_hint(root)}")
        lines.append(f"Run `bash download.sh --data-root {root}` on a machine with network (it "
                     f"records the commits it fetched in {LOCK_FILE}), copy the data root with "
                     "that file here (or fetch the pieces above and copy them into place), then "
                     "run it again here: complete steps are skipped.")
        raise DownloadError("\n".join(lines))


def _fetch_url(url: str, dest: Path, revision: str | None = None) -> None:
    """Download to ``dest.part`` with HTTP range resume, then rename into place."""
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    start = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            mode = "ab" if start and resp.status == 206 else "wb"
            with open(part, mode) as f:
                shutil.copyfileobj(resp, f, length=1 << 20)
    except urllib.error.URLError as e:
        raise DownloadError(f"{url} (revision {revision}): {e}") from None
    if part.stat().st_size == 0:
        # An empty body is never one of the seed's files; keeping it would mark the step done.
        part.unlink()
        raise DownloadError(f"{url} (revision {revision}) gave 0 bytes")
    os.replace(part, dest)


def _content_files(folder: Path) -> list[Path]:
    """The files of a downloaded folder, without huggingface_hub's cache and our marker."""
    return [p for p in folder.rglob("*")
            if p.is_file() and not _NOT_CONTENT.intersection(p.relative_to(folder).parts)]


def _one_line(e: Exception) -> str:
    # huggingface_hub's messages add a line of advice; the CLI reports one line per problem.
    return f"{type(e).__name__}: {' '.join(str(e).split())}"


def _hub_error(step: Step, e: Exception) -> DownloadError:
    return DownloadError(f"{step.key}: {step.repo_type} {step.source} at revision "
                         f"{step.revision}: {_one_line(e)}")


def run_step(step: Step, root: Path) -> None:
    """Fetch one step at ``step.revision`` (which must be set) and mark it complete."""
    if step.revision is None:
        raise DownloadError(f"{step.key}: no revision to fetch (resolve it first)")
    dest = step.dest_path(root)
    if step.kind == "url":
        for url, file_dest in step.url_files(root):
            if file_dest.is_file() and file_dest.stat().st_size > 0:
                continue  # fetched by an earlier, interrupted run
            _fetch_url(url, file_dest, step.revision)
        return
    from huggingface_hub import hf_hub_download, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    if step.kind == "hf_snapshot":
        try:
            snapshot_download(repo_id=step.source, repo_type=step.repo_type,
                              revision=step.revision, local_dir=dest, endpoint=hub_endpoint(),
                              allow_patterns=list(step.allow_patterns) if step.allow_patterns
                              else None)
        except HfHubHTTPError as e:
            raise _hub_error(step, e) from None
        if not dest.is_dir() or not _content_files(dest):
            raise DownloadError(f"{step.key}: {step.repo_type} {step.source} at revision "
                                f"{step.revision} gave no files (into {dest})")
    elif step.kind == "hf_zip":
        cache = root / ".download_cache"
        try:
            zip_path = hf_hub_download(repo_id=step.source, repo_type=step.repo_type,
                                       filename=step.filename, revision=step.revision,
                                       local_dir=cache, endpoint=hub_endpoint())
        except HfHubHTTPError as e:
            raise _hub_error(step, e) from None
        where = f"{step.repo_type} {step.source} {step.filename} at revision {step.revision}"
        tmp = dest.with_name(dest.name + ".unzipping")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            with zipfile.ZipFile(zip_path) as zf:
                members = [m for m in zf.infolist() if not m.is_dir()]
                if not members:
                    raise DownloadError(f"{step.key}: {where} is a zip with no files")
                zf.extractall(tmp)
        except zipfile.BadZipFile as e:
            raise DownloadError(f"{step.key}: {where} is not a zip file ({e})") from None
        finally:
            if not tmp.is_dir():
                # Nothing was unpacked: drop the archive so that a rerun fetches it again.
                Path(zip_path).unlink(missing_ok=True)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
        os.remove(zip_path)
        log.info("%s: unpacked %d files into %s", step.key, len(members), dest)
    else:
        raise DownloadError(f"unknown step kind {step.kind!r}")
    (dest / COMPLETE_MARKER).write_text(time.strftime("%Y-%m-%dT%H:%M:%S") + "\n")


def _record_override_of_complete(root: Path, step: Step) -> None:
    """``--revision KEY=SHA`` on a complete step with no recorded commit says which commit its
    files (fetched by hand) are at: record it. One already recorded is what the files are."""
    if step.revision_from != "--revision":
        return
    entry = read_lock(root).get(step.source_id)
    if entry is None:
        record_revision(root, step)
        log.info("%s: recorded %s for the files in %s", step.key, step.revision,
                 step.dest_path(root))
    elif entry["revision"] != step.revision:
        log.warning("%s: complete at %s (%s); --revision %s not applied: remove %s to fetch "
                    "it", step.key, entry["revision"], LOCK_FILE, step.revision,
                    step.dest_path(root))


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
            _record_override_of_complete(root, step)
            continue
        if step.revision is None:
            step = replace(step, revision=resolve_hub_revision(step),
                           revision_from=f"branch {step.branch} at first download")
            log.info("[%d/%d] %s: branch %s of %s is commit %s", i, len(steps), step.key,
                     step.branch, step.source, step.revision)
        # Recorded before fetching, so that a resumed run fetches the rest at the same commit.
        record_revision(root, step)
        log.info("[%d/%d] %s: fetching %s at %s -> %s", i, len(steps), step.key, step.what,
                 step.revision, step.dest_path(root))
        t0 = time.monotonic()
        run_step(step, root)
        log.info("[%d/%d] %s: done in %.0fs", i, len(steps), step.key, time.monotonic() - t0)
        fetched.append(step.key)
    return fetched
