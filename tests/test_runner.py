import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest

from camreasoner.data.schema import write_items
from camreasoner.eval.backends import answer_prefix, divergent_tokens
from camreasoner.eval.runner import repair_tail
from camreasoner.media.frames import FrameJob, load_frames, prefetch
from camreasoner.vision import TINY_VISION
from tests.conftest import TASKS, eval_args, lines, make_item, run_cli


@pytest.mark.slow
def test_run_score_end_to_end(reference_run, eval_items, tmp_path):
    preds = lines(reference_run / "predictions.jsonl")
    assert sorted(p["id"] for p in preds) == [f"i{k:02d}" for k in range(12)]
    assert all(0.0 <= p["p_yes"] <= 1.0 for p in preds)
    summary = json.loads((reference_run / "summary.json").read_text())
    assert summary["predictions"] == 12 and summary["errors"] == 0
    r = run_cli(["eval", "score", "--items", str(eval_items), "--predictions",
              str(reference_run / "predictions.jsonl"), "--out", str(tmp_path / "m.json")])
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "m.json").read_text())
    assert set(m["binary"]["per_task"]) == set(TASKS)
    assert all(v["n"] == 4 and v["missing"] == 0 for v in m["binary"]["per_task"].values())
    assert m["binary"]["avg_ap_prob"] is not None


@pytest.mark.slow
def test_kill_and_resume_gives_the_uninterrupted_predictions(tiny_model, eval_items, clip_root,
                                                             reference_run, tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "camreasoner", *eval_args(tiny_model, eval_items, clip_root,
                                                             out)]
    pred = out / "predictions.jsonl"
    # Kill during start-up (no line yet), then after 2, 5 and 9 finished items.
    for kill_after in (0, 2, 5, 9):
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            n = len(pred.read_text().splitlines()) if pred.exists() else 0
            if (kill_after == 0 and (out / "config.json").exists()) or (kill_after and n >= kill_after):
                break
            time.sleep(0.005)
        workers = psutil.Process(proc.pid).children(recursive=True)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        # The decode workers exit with it instead of waiting on their queue forever.
        _, alive = psutil.wait_procs(workers, timeout=30)
        assert not alive, [p.cmdline() for p in alive]
    # Simulate a kill mid-write: half a line at the end.
    with open(pred, "a") as f:
        f.write('{"id": "i11", "respon')
    r = subprocess.run(args, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    got = lines(pred)
    ids = [p["id"] for p in got]
    assert len(ids) == len(set(ids)) == 12  # none lost, none duplicated
    want = {p["id"]: p for p in lines(reference_run / "predictions.jsonl")}
    for p in got:
        assert p["response"] == want[p["id"]]["response"]
        assert p["p_yes"] == pytest.approx(want[p["id"]]["p_yes"], abs=1e-6)


@pytest.mark.slow
def test_bad_videos_fail_only_their_items_and_retry(tiny_model, clip_root, tmp_path):
    root = tmp_path / "videos"
    root.mkdir()
    (root / "ok.mp4").write_bytes((clip_root / "pan.mp4").read_bytes())
    (root / "empty.mp4").write_bytes(b"")
    (root / "corrupt.mp4").write_bytes(b"garbage" * 100)
    items = [make_item(id="ok", video="ok.mp4"), make_item(id="empty", video="empty.mp4"),
             make_item(id="corrupt", video="corrupt.mp4", task="Zoom_In"),
             make_item(id="gone", video="missing.mp4"),
             make_item(id="escape", video="link.mp4")]
    (tmp_path / "outside.mp4").write_bytes((clip_root / "pan.mp4").read_bytes())
    (root / "link.mp4").symlink_to(tmp_path / "outside.mp4")
    write_items(tmp_path / "items.jsonl", items)
    out = tmp_path / "run"
    r = run_cli(eval_args(tiny_model, tmp_path / "items.jsonl", root, out))
    assert r.returncode == 0, r.stderr[-3000:]
    preds = {p["id"]: p for p in lines(out / "predictions.jsonl")}
    assert preds["ok"]["response"] is not None and "error" not in preds["ok"]
    assert "file is empty" in preds["empty"]["error"]
    assert "cannot decode" in preds["corrupt"]["error"]
    assert "file not found" in preds["gone"]["error"]
    assert "outside the video root" in preds["escape"]["error"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["errors"] == 4 and summary["errors_per_task"] == {"Pan_Left": 3, "Zoom_In": 1}
    # Fix one video; a plain rerun leaves errors alone, --retry-errors runs them again.
    (root / "empty.mp4").write_bytes((clip_root / "tilt.mp4").read_bytes())
    run_cli(eval_args(tiny_model, tmp_path / "items.jsonl", root, out))
    assert len(lines(out / "predictions.jsonl")) == 5
    r = run_cli(eval_args(tiny_model, tmp_path / "items.jsonl", root, out, "--retry-errors"))
    assert r.returncode == 0
    last = {p["id"]: p for p in lines(out / "predictions.jsonl")}
    assert "error" not in last["empty"] and last["empty"]["response"] is not None
    assert json.loads((out / "summary.json").read_text())["errors"] == 3


def test_resume_with_other_settings_is_refused(tiny_model, eval_items, clip_root, reference_run,
                                               tmp_path):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(reference_run, out)
    r = run_cli(eval_args(tiny_model, eval_items, clip_root, out, "--prompt", "direct"))
    assert r.returncode == 2
    assert "holds predictions made with other settings" in r.stderr


@pytest.mark.slow
def test_data_parallel_shards_merge_to_the_singlerun_cli(tiny_model, eval_items, clip_root,
                                                      reference_run, tmp_path):
    out = tmp_path / "dp"
    r = run_cli(eval_args(tiny_model, eval_items, clip_root, out, "--data-parallel", "2"))
    assert r.returncode == 0, r.stderr[-3000:]
    merged = lines(out / "predictions.jsonl")
    ref = lines(reference_run / "predictions.jsonl")
    assert [p["id"] for p in merged] == [p["id"] for p in ref]  # item order
    assert [p["response"] for p in merged] == [p["response"] for p in ref]
    assert len(lines(out / "shard-0" / "predictions.jsonl")) == 6


def test_frame_cache_hits_and_keys(clip_root, tmp_path):
    cache = tmp_path / "cache"
    a = load_frames(clip_root / "pan.mp4", TINY_VISION, cache)
    assert len(list(cache.glob("*.json"))) == 1
    b = load_frames(clip_root / "pan.mp4", TINY_VISION, cache)
    assert np.array_equal(a.frames, b.frames) and a.indices == b.indices
    # Same bytes under another name: same entry; other sampling: a new entry.
    (tmp_path / "copy.mp4").write_bytes((clip_root / "pan.mp4").read_bytes())
    load_frames(tmp_path / "copy.mp4", TINY_VISION, cache)
    assert len(list(cache.glob("*.json"))) == 1
    load_frames(clip_root / "pan.mp4", TINY_VISION.with_overrides(fps=4.0), cache)
    assert len(list(cache.glob("*.json"))) == 2


def test_prefetch_keeps_order_and_reports_errors(clip_root, tmp_path):
    jobs = [FrameJob(str(i), str(clip_root / v), TINY_VISION) for i, v in
            enumerate(["pan.mp4", "tilt.mp4", "nope.mp4", "sub/static.mp4"] * 3)]
    got = list(prefetch(jobs, workers=2, ahead=3))
    assert [k for k, _, _ in got] == [j.key for j in jobs]
    assert [e is not None for _, _, e in got] == [False, False, True, False] * 3


def test_repair_tail(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text('{"id": 1}\n{"id": 2}\n{"id": 3, "resp')
    assert repair_tail(p) == len('{"id": 3, "resp')
    assert p.read_text() == '{"id": 1}\n{"id": 2}\n'
    assert repair_tail(p) == 0


def test_answer_position_tokens(tiny_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    assert answer_prefix("<observation>o</observation><answer>B</answer>") == (
        "<observation>o</observation><answer>")
    assert answer_prefix("I think yes") == "I think yes<answer>"
    common, (a, b) = divergent_tokens(tok, "<think>t</think><answer>", ("A", "B"))
    assert a != b
    assert tok.decode(common + [a]).endswith("A") and tok.decode(common + [b]).endswith("B")


@pytest.mark.slow
def test_official_protocol_scores_p_yes_of_the_bare_question(tiny_model, eval_items, clip_root,
                                                             tmp_path):
    """CameraBench's protocol: the question + " Please only answer Yes or No.", one new token,
    p_yes = P("Yes") at it, the video at 8 fps."""
    out = tmp_path / "official"
    r = run_cli(["eval", "run", "--model", str(tiny_model), "--items", str(eval_items),
                 "--video-root", str(clip_root), "--out", str(out), "--protocol", "official",
                 "--workers", "0", "--no-progress", "--batch-size", "4"])
    assert r.returncode == 0, r.stderr[-3000:]
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["prompt"], cfg["p_yes"], cfg["max_new_tokens"]) == ("official", "yes_token", 1)
    assert (cfg["vision"]["fps"], cfg["vision"]["max_pixels"]) == (8.0, 151_200)
    preds = lines(out / "predictions.jsonl")
    assert len(preds) == 12 and all(p["generated_tokens"] <= 1 for p in preds)
    assert all(isinstance(p["p_yes"], float) for p in preds)
    assert len({round(p["p_yes"], 6) for p in preds}) > 1  # it depends on the item
    r = run_cli(["eval", "score", "--items", str(eval_items), "--predictions",
                 str(out / "predictions.jsonl"), "--out", str(tmp_path / "m.json")])
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "m.json").read_text())["binary"]["avg_ap_prob"] is not None
