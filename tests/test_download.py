"""``camreasoner download``: the pinned plan, the lock file, --revision, empty fetches, resume.

Nothing here touches the network: seed files come from an ``http.server`` on 127.0.0.1 (through
``CAMREASONER_SEED_RAW``), and the hub is replaced at its boundary, huggingface_hub's download
and repo_info functions, by fakes that write files into the destination.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
import pytest

from camreasoner import download

REPO = Path(__file__).resolve().parents[1]
SEED_SHA = "8b7118833c44b6b49ce9bb9a7ff27cad2945c828"
QWEN_SHA = "cc594898137f460bfe9f0759e9844b3ce807cfb5"
RAW = "https://raw.githubusercontent.com/wuhang03/CamReasoner"
ALL_KEYS = ["base-model", "sft-data", "rl-data", "eval-data", "train-videos", "test-videos"]
SHA_A = "a" * 40
SHA_B = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def server():
    """A loopback HTTP server: ``files`` maps a path to its bytes; ``seen`` lists the requests."""
    state = SimpleNamespace(files={}, seen=[])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state.seen.append(self.path)
            body = state.files.get(self.path)
            self.send_response(404 if body is None else 200)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{srv.server_port}"
    try:
        yield state
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def online(monkeypatch, server):
    """The hub "reachable" (the preflight's TCP check hits the loopback server) and the seed
    served by it; the hub's functions themselves are faked by each test."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("CAMREASONER_SEED_RAW", server.url)
    return server


class FakeHub:
    """Records every call; ``write`` decides what a download puts into the destination."""

    def __init__(self, monkeypatch, write, sha=SHA_A):
        self.calls: list[tuple[str, dict]] = []
        self.write = write
        self.sha = sha
        hub = self

        def repo_info(api_self, repo_id, **kw):
            hub.calls.append(("repo_info", {"repo_id": repo_id, **kw}))
            return SimpleNamespace(sha=hub.sha)

        def snapshot_download(**kw):
            hub.calls.append(("snapshot_download", kw))
            hub.write(Path(kw["local_dir"]), kw)
            return str(kw["local_dir"])

        def hf_hub_download(**kw):
            hub.calls.append(("hf_hub_download", kw))
            path = Path(kw["local_dir"]) / kw["filename"]
            path.parent.mkdir(parents=True, exist_ok=True)
            hub.write(path, kw)
            return str(path)

        monkeypatch.setattr(huggingface_hub.HfApi, "repo_info", repo_info)
        monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
        monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def _write_clips(folder: Path, kw: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "clip_000.mp4").write_bytes(b"mp4")
    (folder / ".cache" / "huggingface").mkdir(parents=True, exist_ok=True)


def _zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


# --- the plan -----------------------------------------------------------------------------------
def test_plan_pins_every_source(monkeypatch):
    monkeypatch.delenv("CAMREASONER_SEED_RAW", raising=False)
    by_key = {s.key: s for s in download.make_plan()}
    assert list(by_key) == ALL_KEYS
    base = by_key["base-model"]
    assert (base.source, base.repo_type, base.branch, base.revision, base.dest) == (
        "Qwen/Qwen2.5-VL-7B-Instruct", "model", "main", QWEN_SHA, "models/Qwen2.5-VL-7B-Instruct")
    root = Path("/r")
    for key, name in [("sft-data", "LLaMA-Factory/data/camerabench_sft.json"),
                      ("rl-data", "EasyR1/camerabench_rl.json")]:
        step = by_key[key]
        assert (step.source, step.branch, step.revision) == ("wuhang03/CamReasoner", "master",
                                                             SEED_SHA)
        assert step.url_files(root) == [(f"{RAW}/{SEED_SHA}/{name}",
                                         root / "data" / Path(name).name)]
    assert by_key["eval-data"].url_files(root) == [
        (f"{RAW}/{SEED_SHA}/Inference/camerabench_binary.json",
         root / "data/camerabench_binary.json"),
        (f"{RAW}/{SEED_SHA}/Inference/camerabench_vqa.json", root / "data/camerabench_vqa.json")]
    train = by_key["train-videos"]
    assert (train.source, train.repo_type, train.filename, train.branch, train.revision,
            train.dest) == ("chancharikm/cambench_train_videos", "dataset", "videos.zip", "main",
                            None, "train_videos")
    test = by_key["test-videos"]
    assert (test.source, test.repo_type, test.allow_patterns, test.branch, test.revision,
            test.dest) == ("syCen/Videos4CameraBench", "dataset", None, "main", None,
                           "camerabench/videos")
    with_ckpt = download.make_plan("my-org/Other-VL", with_checkpoint=True)
    assert [s.key for s in with_ckpt][:2] == ["base-model", "checkpoint"]
    assert (with_ckpt[0].dest, with_ckpt[0].revision) == ("models/Other-VL", None)
    assert (with_ckpt[1].source, with_ckpt[1].revision) == ("LaurentWu/CamReasoner-7B", None)
    with pytest.raises(download.DownloadError, match="unknown step"):
        download.make_plan(only=["videos"])


def _run_cli(args, env_extra, cwd=REPO):
    # A value of None removes the variable (the defaults are under test).
    env = {k: v for k, v in {**os.environ, **env_extra}.items() if v is not None}
    t0 = time.monotonic()
    out = subprocess.run(args, check=False, capture_output=True, text=True, env=env, cwd=cwd,
                         timeout=60)
    return out, time.monotonic() - t0


def test_plan_flag_prints_sources_revisions_and_destinations(tmp_path):
    env = {"DATA_ROOT": str(tmp_path), "CAMREASONER_SEED_RAW": None}
    out, _ = _run_cli(["bash", "download.sh", "--plan", "--with-checkpoint"],
                      {**env, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr
    text = out.stdout
    blocks = {b.split(":", 1)[0]: b for b in text.split("\n") if b and not b.startswith(" ")}
    assert list(blocks)[1:] == ["base-model", "checkpoint", *ALL_KEYS[1:]]
    assert f"revision:    {QWEN_SHA} (branch main; from default table)" in text
    assert f"revision:    {SEED_SHA} (branch master; from default table)" in text
    assert "source:      github wuhang03/CamReasoner, branch master" in text
    assert f"{RAW}/{SEED_SHA}/Inference/camerabench_vqa.json" in text
    assert f"-> {tmp_path}/data/camerabench_binary.json" in text
    assert "source:      hub dataset syCen/Videos4CameraBench\n" in text
    assert f"destination: {tmp_path}/camerabench/videos\n" in text
    assert text.count("revision:    branch main, resolved and recorded at first download") == 3
    assert text.count("complete:    no") == 7
    assert "/main/" not in text  # no URL follows a branch

    out, _ = _run_cli(["bash", "download.sh", "--plan", "--json",
                       "--revision", f"test-videos={SHA_B.upper()}"], env)
    assert out.returncode == 0, out.stderr
    plan = {s["key"]: s for s in json.loads(out.stdout)}
    assert list(plan) == ALL_KEYS
    assert (plan["test-videos"]["revision"], plan["test-videos"]["revision_from"]) == (
        SHA_B, "--revision")
    assert plan["test-videos"]["source"] == "syCen/Videos4CameraBench"
    assert plan["train-videos"]["revision"] is None
    assert plan["train-videos"]["revision_note"] == (
        "branch main, resolved and recorded at first download")
    assert plan["eval-data"]["urls"][0] == {
        "url": f"{RAW}/{SEED_SHA}/Inference/camerabench_binary.json",
        "dest": f"{tmp_path}/data/camerabench_binary.json"}
    assert not plan["base-model"]["complete"]
    assert not any(tmp_path.iterdir())  # --plan writes nothing


# --- --revision ---------------------------------------------------------------------------------
def test_revision_parsing():
    assert download.parse_revisions([f"test-videos={SHA_B.upper()}", f"rl-data= {SHA_A} "]) == {
        "test-videos": SHA_B, "rl-data": SHA_A}
    assert download.parse_revisions(None) == {}
    with pytest.raises(download.DownloadError) as err:
        download.parse_revisions(["test-videos", "=" + SHA_A, "test-videos=main",
                                  "base-model=abc123", f"rl-data={SHA_A}", f"rl-data={SHA_B}"])
    lines = str(err.value).splitlines()
    assert len(lines) == 5
    assert "expected KEY=SHA" in lines[0] and "expected KEY=SHA" in lines[1]
    assert "'main' is not a full 40-hex commit SHA" in lines[2]
    assert "'abc123' is not a full 40-hex commit SHA" in lines[3]
    assert f"rl-data already set to {SHA_A}" in lines[4]
    with pytest.raises(download.DownloadError, match="unknown step tests-videos"):
        download.parse_revisions([f"tests-videos={SHA_A}"])
    with pytest.raises(download.DownloadError, match="unknown step tests-videos"):
        download.make_plan(revisions={"tests-videos": SHA_A})
    # An override pins a step that has no known commit, and replaces a known one.
    steps = {s.key: s for s in download.make_plan(
        revisions={"test-videos": SHA_A, "sft-data": SHA_B})}
    assert (steps["test-videos"].revision, steps["test-videos"].revision_from) == (
        SHA_A, "--revision")
    assert steps["sft-data"].url_files(Path("/r"))[0][0].endswith(
        f"/{SHA_B}/LLaMA-Factory/data/camerabench_sft.json")
    assert steps["rl-data"].revision == SEED_SHA


def test_user_errors_exit_2_one_line_each_no_traceback(tmp_path):
    out, _ = _run_cli([sys.executable, "-m", "camreasoner", "download", "--data-root",
                       str(tmp_path), "--only", "videos,sft-data", "--revision", "test-videos=v1",
                       "--revision", f"nope={SHA_A}"], {"HF_HUB_OFFLINE": "1"})
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 3, out.stderr
    assert "'v1' is not a full 40-hex commit SHA" in lines[0]
    assert lines[1].startswith(f"--revision 'nope={SHA_A}': unknown step nope;")
    assert lines[2].startswith("--only: unknown step(s) videos;")
    assert not any(tmp_path.iterdir())


# --- the lock file ------------------------------------------------------------------------------
def test_unpinned_step_is_resolved_recorded_and_reused(tmp_path, online, monkeypatch):
    hub = FakeHub(monkeypatch, _write_clips, sha=SHA_A)
    root = tmp_path / "root"
    steps = download.make_plan(only=["test-videos"], root=root)
    assert steps[0].revision is None
    assert download.download(root, steps) == ["test-videos"]
    assert hub.names() == ["repo_info", "snapshot_download"]
    assert hub.calls[0][1] == {"repo_id": "syCen/Videos4CameraBench", "repo_type": "dataset",
                               "revision": "main"}
    snap = hub.calls[1][1]
    assert (snap["repo_id"], snap["repo_type"], snap["revision"], snap["allow_patterns"]) == (
        "syCen/Videos4CameraBench", "dataset", SHA_A, None)
    assert Path(snap["local_dir"]) == root / "camerabench/videos"
    assert (root / "camerabench/videos" / download.COMPLETE_MARKER).is_file()

    lock = json.loads((root / "download.lock.json").read_text())
    entry = lock["sources"]["dataset:syCen/Videos4CameraBench"]
    assert (entry["step"], entry["branch"], entry["revision"]) == ("test-videos", "main", SHA_A)

    # A later run reads the recorded commit back; the plan says where it came from.
    again = download.make_plan(only=["test-videos"], root=root)[0]
    assert (again.revision, again.revision_from) == (SHA_A, "download.lock.json")
    assert download.download(root, [again]) == []  # complete: skipped, nothing asked

    # Another machine given the lock file fetches at that commit without asking the branch,
    # even after the branch has moved on.
    other = tmp_path / "other"
    other.mkdir()
    (other / "download.lock.json").write_text((root / "download.lock.json").read_text())
    hub.sha, hub.calls = SHA_B, []
    text = download.format_plan(download.make_plan(only=["test-videos"], root=other), other)
    assert f"{SHA_A} (branch main; from download.lock.json)" in text
    assert download.download(other, download.make_plan(only=["test-videos"], root=other)) == [
        "test-videos"]
    assert hub.names() == ["snapshot_download"] and hub.calls[0][1]["revision"] == SHA_A

    # --revision beats the lock file, and the new commit is recorded.
    (other / "camerabench/videos" / download.COMPLETE_MARKER).unlink()
    hub.calls = []
    steps = download.make_plan(only=["test-videos"], revisions={"test-videos": SHA_B}, root=other)
    download.download(other, steps)
    assert hub.calls[0][1]["revision"] == SHA_B
    assert download.read_lock(other)["dataset:syCen/Videos4CameraBench"]["revision"] == SHA_B


def test_pinned_steps_are_fetched_at_their_commit_and_recorded(tmp_path, online, monkeypatch):
    hub = FakeHub(monkeypatch, _write_clips)
    download.download(tmp_path, download.make_plan(only=["base-model"], root=tmp_path))
    assert hub.names() == ["snapshot_download"]  # a known commit needs no resolving
    assert hub.calls[0][1]["revision"] == QWEN_SHA
    assert hub.calls[0][1]["endpoint"] == online.url
    assert download.read_lock(tmp_path)["model:Qwen/Qwen2.5-VL-7B-Instruct"]["revision"] == (
        QWEN_SHA)
    # The lock entry equal to the default keeps saying where the commit comes from.
    step = download.make_plan(only=["base-model"], root=tmp_path)[0]
    assert (step.revision, step.revision_from) == (QWEN_SHA, "default table")


def test_a_broken_lock_file_is_a_one_line_error(tmp_path):
    (tmp_path / "download.lock.json").write_text("{not json")
    with pytest.raises(download.DownloadError, match="not a download lock file"):
        download.make_plan(root=tmp_path)
    (tmp_path / "download.lock.json").write_text(json.dumps(
        {"sources": {"dataset:syCen/Videos4CameraBench": {"revision": "main"}}}))
    with pytest.raises(download.DownloadError, match="no 40-hex commit SHA recorded for "
                       "dataset:syCen/Videos4CameraBench"):
        download.make_plan(root=tmp_path)


# --- fetching, and fetches that gave nothing ----------------------------------------------------
def test_seed_files_come_from_the_pinned_commit(tmp_path, online):
    names = {"Inference/camerabench_binary.json": b'[{"problem": "b"}]',
             "Inference/camerabench_vqa.json": b'[{"problem": "v"}]'}
    online.files = {f"/{SEED_SHA}/{k}": v for k, v in names.items()}
    assert download.download(tmp_path, download.make_plan(only=["eval-data"])) == ["eval-data"]
    assert sorted(online.seen) == sorted(online.files)
    assert (tmp_path / "data/camerabench_binary.json").read_bytes() == b'[{"problem": "b"}]'
    assert (tmp_path / "data/camerabench_vqa.json").read_bytes() == b'[{"problem": "v"}]'
    assert download.read_lock(tmp_path)["github:wuhang03/CamReasoner"]["revision"] == SEED_SHA


def test_url_giving_zero_bytes_fails_and_is_not_complete(tmp_path, online):
    sft = f"/{SEED_SHA}/LLaMA-Factory/data/camerabench_sft.json"
    online.files = {sft: b""}
    steps = download.make_plan(only=["sft-data"])
    with pytest.raises(download.DownloadError) as err:
        download.download(tmp_path, steps)
    assert str(err.value) == f"{online.url}{sft} (revision {SEED_SHA}) gave 0 bytes"
    assert not steps[0].is_complete(tmp_path)
    assert not list((tmp_path / "data").iterdir())  # neither the file nor a .part


def test_url_not_found_is_a_download_error(tmp_path, online):
    with pytest.raises(download.DownloadError, match=f"{SEED_SHA}/EasyR1/camerabench_rl.json "
                       f"\\(revision {SEED_SHA}\\): HTTP Error 404"):
        download.download(tmp_path, download.make_plan(only=["rl-data"]))


def test_snapshot_with_only_caches_fails_and_is_not_complete(tmp_path, online, monkeypatch):
    def caches_only(folder: Path, kw: dict) -> None:
        (folder / ".cache" / "huggingface" / "download").mkdir(parents=True)
        (folder / ".cache" / "huggingface" / "download" / "x.metadata").write_text("m")
        (folder / ".gitattributes").write_text("*.mp4 filter=lfs\n")

    FakeHub(monkeypatch, caches_only, sha=SHA_B)
    steps = download.make_plan(only=["test-videos"], root=tmp_path)
    with pytest.raises(download.DownloadError) as err:
        download.download(tmp_path, steps)
    assert str(err.value).startswith(
        f"test-videos: dataset syCen/Videos4CameraBench at revision {SHA_B} gave no files")
    assert not steps[0].is_complete(tmp_path)
    assert not (tmp_path / "camerabench/videos" / download.COMPLETE_MARKER).exists()


def test_zip_with_no_members_fails_and_is_not_complete(tmp_path, online, monkeypatch):
    FakeHub(monkeypatch, lambda path, kw: _zip(path, {}), sha=SHA_B)
    steps = download.make_plan(only=["train-videos"], root=tmp_path)
    with pytest.raises(download.DownloadError) as err:
        download.download(tmp_path, steps)
    assert str(err.value) == (f"train-videos: dataset chancharikm/cambench_train_videos "
                              f"videos.zip at revision {SHA_B} is a zip with no files")
    assert not steps[0].is_complete(tmp_path) and not (tmp_path / "train_videos").exists()
    assert not (tmp_path / ".download_cache" / "videos.zip").exists()  # a rerun fetches again


def test_zip_is_unpacked_at_the_resolved_commit(tmp_path, online, monkeypatch):
    hub = FakeHub(monkeypatch, lambda path, kw: _zip(path, {"a.mp4": b"1", "sub/b.mp4": b"2"}))
    steps = download.make_plan(only=["train-videos"], root=tmp_path)
    assert download.download(tmp_path, steps) == ["train-videos"]
    assert hub.names() == ["repo_info", "hf_hub_download"]
    call = hub.calls[1][1]
    assert (call["repo_id"], call["filename"], call["revision"]) == (
        "chancharikm/cambench_train_videos", "videos.zip", SHA_A)
    assert (tmp_path / "train_videos/sub/b.mp4").read_bytes() == b"2"
    assert (tmp_path / "train_videos" / download.COMPLETE_MARKER).is_file()
    assert not (tmp_path / ".download_cache" / "videos.zip").exists()


def test_a_revision_the_hub_does_not_know_is_a_one_line_error(tmp_path, online, monkeypatch):
    import httpx
    from huggingface_hub.errors import RevisionNotFoundError

    def refuse(folder: Path, kw: dict) -> None:
        response = httpx.Response(404, request=httpx.Request("GET", f"{online.url}/api"))
        raise RevisionNotFoundError(f"Invalid rev id: {kw['revision']}\nSee the docs.",
                                    response=response)

    FakeHub(monkeypatch, refuse)
    steps = download.make_plan(only=["test-videos"], revisions={"test-videos": SHA_B})
    with pytest.raises(download.DownloadError) as err:
        download.download(tmp_path, steps)
    assert str(err.value) == (f"test-videos: dataset syCen/Videos4CameraBench at revision "
                              f"{SHA_B}: RevisionNotFoundError: Invalid rev id: {SHA_B} See the "
                              "docs.")
    assert not steps[0].is_complete(tmp_path)


# --- skipping, offline, resume ------------------------------------------------------------------
def test_complete_steps_are_skipped(tmp_path):
    steps = download.make_plan(only=["sft-data", "eval-data", "test-videos"])
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "camerabench_sft.json").write_text("[]")
    (tmp_path / "data" / "camerabench_binary.json").write_text("[]")
    (tmp_path / "camerabench" / "videos").mkdir(parents=True)
    status = {s["key"]: s["complete"] for s in download.plan_status(steps, tmp_path)}
    assert status == {"sft-data": True, "eval-data": False, "test-videos": False}
    (tmp_path / "data" / "camerabench_vqa.json").write_text("[]")
    (tmp_path / "camerabench" / "videos" / download.COMPLETE_MARKER).write_text("x")
    # Everything complete: nothing is fetched and the network is never asked.
    assert download.download(tmp_path, steps) == []
    assert not (tmp_path / "download.lock.json").exists()
    # Files fetched by hand: --revision records their commit (and fetches nothing).
    steps = download.make_plan(only=["test-videos"], revisions={"test-videos": SHA_B})
    assert download.download(tmp_path, steps) == []
    assert download.read_lock(tmp_path)["dataset:syCen/Videos4CameraBench"]["revision"] == SHA_B
    # A recorded commit is what the files are at: another --revision does not overwrite it.
    download.download(tmp_path, download.make_plan(only=["test-videos"],
                                                   revisions={"test-videos": SHA_A}))
    assert download.read_lock(tmp_path)["dataset:syCen/Videos4CameraBench"]["revision"] == SHA_B


def test_offline_fails_fast_naming_what_is_missing(tmp_path):
    out, elapsed = _run_cli(
        [sys.executable, "-m", "camreasoner", "download", "--data-root", str(tmp_path)],
        {"HF_HUB_OFFLINE": "1", "CAMREASONER_SEED_RAW": "http://127.0.0.1:9/seed"})
    assert out.returncode == 2
    assert elapsed < 30  # "fails in seconds"; a hung connection would hit the 60 s timeout
    msg = out.stderr
    assert "Traceback" not in msg
    assert "HF_HUB_OFFLINE is set" in msg and "cannot reach http://127.0.0.1:9" in msg
    for key in ALL_KEYS:
        assert f"- {key}:" in msg
    assert f"hf download Qwen/Qwen2.5-VL-7B-Instruct --revision {QWEN_SHA}" in msg
    assert ("hf download --repo-type dataset syCen/Videos4CameraBench --revision <sha> "
            f"--local-dir {tmp_path}/camerabench/videos") in msg
    assert "`hf datasets info syCen/Videos4CameraBench`" in msg
    assert "--revision test-videos=<sha> to record it" in msg
    assert f"http://127.0.0.1:9/seed/{SEED_SHA}/Inference/camerabench_vqa.json" in msg
    assert "bash download.sh --data-root" in msg and "download.lock.json" in msg
    assert not any(tmp_path.iterdir()) or all(p.is_dir() for p in tmp_path.iterdir())


def test_unreachable_hub_through_download_sh(tmp_path):
    out, _ = _run_cli(["bash", "download.sh", "--only", "base-model"],
                      {"DATA_ROOT": str(tmp_path), "HF_HUB_OFFLINE": "0",
                       "HF_ENDPOINT": "http://127.0.0.1:9"})
    assert out.returncode == 2
    assert "cannot reach http://127.0.0.1:9" in out.stderr
    assert "base-model" in out.stderr and "sft-data" not in out.stderr


def test_url_download_resumes_a_partial_file(tmp_path):
    """A loopback server that honours Range: the second half is fetched, not the whole file."""
    payload = bytes(range(256)) * 64
    seen_ranges = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            rng = self.headers.get("Range")
            seen_ranges.append(rng)
            start = int(rng.split("=")[1].rstrip("-")) if rng else 0
            self.send_response(206 if rng else 200)
            self.send_header("Content-Length", str(len(payload) - start))
            self.end_headers()
            self.wfile.write(payload[start:])

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        dest = tmp_path / "data" / "f.json"
        dest.parent.mkdir()
        (tmp_path / "data" / "f.json.part").write_bytes(payload[:1000])
        download._fetch_url(f"http://127.0.0.1:{srv.server_port}/f.json", dest)
    finally:
        srv.shutdown()
        srv.server_close()
    assert dest.read_bytes() == payload
    assert seen_ranges == ["bytes=1000-"]
    assert not (tmp_path / "data" / "f.json.part").exists()
