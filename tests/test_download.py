import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from camreasoner import download

REPO = Path(__file__).resolve().parents[1]


def test_plan_lists_the_published_sources(tmp_path):
    steps = download.make_plan()
    by_key = {s.key: s for s in steps}
    assert list(by_key) == ["base-model", "sft-data", "rl-data", "train-videos", "test-videos"]
    assert by_key["base-model"].source == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert by_key["base-model"].dest == "models/Qwen2.5-VL-7B-Instruct"
    assert by_key["sft-data"].source.endswith("/LLaMA-Factory/data/camerabench_sft.json")
    assert by_key["rl-data"].source.endswith("/EasyR1/camerabench_rl.json")
    assert (by_key["train-videos"].source, by_key["train-videos"].filename) == (
        "chancharikm/cambench_train_videos", "videos.zip")
    assert (by_key["test-videos"].source, by_key["test-videos"].allow_patterns) == (
        "syCen/CameraBench", ("videos/*",))
    with_ckpt = download.make_plan("my-org/Other-VL", with_checkpoint=True)
    assert [s.key for s in with_ckpt][:2] == ["base-model", "checkpoint"]
    assert with_ckpt[0].dest == "models/Other-VL"
    with pytest.raises(download.DownloadError, match="unknown step"):
        download.make_plan(only=["videos"])


def test_complete_steps_are_skipped(tmp_path):
    steps = download.make_plan(only=["sft-data", "test-videos"])
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "camerabench_sft.json").write_text("[]")
    (tmp_path / "camerabench").mkdir()
    status = {s["key"]: s["complete"] for s in download.plan_status(steps, tmp_path)}
    assert status == {"sft-data": True, "test-videos": False}
    (tmp_path / "camerabench" / download.COMPLETE_MARKER).write_text("x")
    # Everything complete: nothing is fetched and the network is never asked.
    assert download.download(tmp_path, steps) == []


def _run_cli(args, env_extra, cwd=REPO):
    env = {**os.environ, **env_extra}
    t0 = time.monotonic()
    out = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=60)
    return out, time.monotonic() - t0


def test_offline_fails_fast_naming_what_is_missing(tmp_path):
    out, elapsed = _run_cli(
        [sys.executable, "-m", "camreasoner", "download", "--data-root", str(tmp_path)],
        {"HF_HUB_OFFLINE": "1", "CAMREASONER_SEED_RAW": "http://127.0.0.1:9/seed"})
    assert out.returncode == 2
    assert elapsed < 30  # "fails in seconds"; a hung connection would hit the 60 s timeout
    msg = out.stderr
    assert "HF_HUB_OFFLINE is set" in msg and "cannot reach http://127.0.0.1:9" in msg
    for key in ("base-model", "sft-data", "rl-data", "train-videos", "test-videos"):
        assert f"- {key}:" in msg
    assert "hf download Qwen/Qwen2.5-VL-7B-Instruct" in msg
    assert "bash download.sh --data-root" in msg
    assert not any(tmp_path.iterdir()) or all(p.is_dir() for p in tmp_path.iterdir())


def test_unreachable_hub_through_download_sh(tmp_path):
    out, _ = _run_cli(["bash", "download.sh", "--only", "base-model"],
                      {"DATA_ROOT": str(tmp_path), "HF_HUB_OFFLINE": "0",
                       "HF_ENDPOINT": "http://127.0.0.1:9"})
    assert out.returncode == 2
    assert "cannot reach http://127.0.0.1:9" in out.stderr
    assert "base-model" in out.stderr and "sft-data" not in out.stderr


def test_plan_flag_prints_json(tmp_path):
    out, _ = _run_cli(["bash", "download.sh", "--plan"], {"DATA_ROOT": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)
    assert [s["key"] for s in plan][0] == "base-model" and not plan[0]["complete"]


def test_url_download_resumes_a_partial_file(tmp_path):
    """A loopback server that honours Range: the second half is fetched, not the whole file."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    payload = bytes(range(256)) * 64
    seen_ranges = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            rng = self.headers.get("Range")
            seen_ranges.append(rng)
            start = int(rng.split("=")[1].rstrip("-")) if rng else 0
            self.send_response(206 if rng else 200)
            self.send_header("Content-Length", str(len(payload) - start))
            self.end_headers()
            self.wfile.write(payload[start:])

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        dest = tmp_path / "data" / "f.json"
        dest.parent.mkdir()
        (tmp_path / "data" / "f.json.part").write_bytes(payload[:1000])
        download._fetch_url(f"http://127.0.0.1:{server.server_port}/f.json", dest)
    finally:
        server.shutdown()
    assert dest.read_bytes() == payload
    assert seen_ranges == ["bytes=1000-"]
    assert not (tmp_path / "data" / "f.json.part").exists()
