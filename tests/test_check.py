import json
import shutil
import subprocess
import sys

import pytest

from camreasoner.data.check import CheckLimits, check_items
from camreasoner.data.schema import write_items
from camreasoner.dev.clips import write_clip
from tests.conftest import make_item


@pytest.fixture()
def messy(tmp_path, clip_root):
    """A video root with good, missing, empty, corrupt, one-frame and escaping items."""
    root = tmp_path / "videos"
    shutil.copytree(clip_root, root)
    (root / "empty.mp4").write_bytes(b"")
    good = (root / "pan.mp4").read_bytes()
    (root / "corrupt.mp4").write_bytes(b"\x00\x01junk" + good[200:600])
    write_clip(root / "one.mp4", frames=1)
    items = [
        make_item(id="good", video="pan.mp4"),
        make_item(id="good2", video="sub/static.mp4"),
        make_item(id="shared", video="pan.mp4"),
        make_item(id="missing", video="nope.mp4"),
        make_item(id="empty", video="empty.mp4"),
        make_item(id="corrupt", video="corrupt.mp4"),
        make_item(id="one_frame", video="one.mp4"),
    ]
    path = tmp_path / "items.jsonl"
    write_items(path, items)
    with open(path, "a") as f:  # lines the schema rejects, written by hand
        f.write(json.dumps({**make_item(id="escape").to_dict(), "video": "../x.mp4"}) + "\n")
        f.write(json.dumps({**make_item(id="badans").to_dict(), "answer": "Z"}) + "\n")
        f.write(json.dumps(make_item(id="good").to_dict()) + "\n")
    return path, root


def test_every_bad_item_is_reported_with_its_reason(messy):
    path, root = messy
    report = check_items(path, root, workers=1, progress=False)
    bad = {b["id"]: b["reason"] for b in report.bad}
    assert report.n_items == 10
    assert report.n_videos == 6  # pan.mp4 is probed once for two items
    assert set(bad) == {"missing", "empty", "corrupt", "one_frame", "escape", "badans", "good"}
    assert "file not found" in bad["missing"]
    assert "file is empty" in bad["empty"]
    assert "cannot decode" in bad["corrupt"] or "no frame" in bad["corrupt"]
    assert "too few frames: 1 < 2" in bad["one_frame"]
    assert "escapes the video root" in bad["escape"]
    assert "field 'answer'" in bad["badans"]
    assert "duplicate id" in bad["good"]
    assert not report.ok


def test_clean_file_passes_with_parallel_workers(tmp_path, clip_root):
    path = tmp_path / "ok.jsonl"
    write_items(path, [make_item(id="a"), make_item(id="b", video="tilt.mp4")])
    report = check_items(path, clip_root, CheckLimits(decode_all=True), workers=2, progress=False)
    assert report.ok and report.n_videos == 2


def test_min_duration(tmp_path, clip_root):
    path = tmp_path / "ok.jsonl"
    write_items(path, [make_item(id="a")])  # 8 frames at 8 fps = 1 s
    report = check_items(path, clip_root, CheckLimits(min_duration=2.0), workers=1,
                         progress=False)
    assert "too short: 1.00s < 2.0s" in report.bad[0]["reason"]


def test_cli_exit_codes_and_report(messy, tmp_path, clip_root):
    path, root = messy
    out = subprocess.run([sys.executable, "-m", "camreasoner", "data", "check", str(path),
                          "--video-root", str(root), "--report", str(tmp_path / "r.json"),
                          "--workers", "1"], capture_output=True, text=True, check=False)
    assert out.returncode == 1
    assert "10 records (items), 6 videos checked, 7 bad" in out.stdout
    assert f"{path}:4: id 'missing': video nope.mp4: file not found" in out.stdout
    assert json.loads((tmp_path / "r.json").read_text())["bad"] == 7
    good = tmp_path / "good.jsonl"
    write_items(good, [make_item(id="a")])
    ok = subprocess.run([sys.executable, "-m", "camreasoner", "data", "check", str(good),
                         "--video-root", str(clip_root)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_a_malformed_line_is_one_bad_record_and_the_rest_are_checked(tmp_path, clip_root):
    """Regression: one line of broken JSON used to end the check with 0 items."""
    path = tmp_path / "items.jsonl"
    write_items(path, [make_item(id="a"), make_item(id="b", video="tilt.mp4")])
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "{not json", lines[1]]) + "\n")
    report = check_items(path, clip_root, workers=1, progress=False)
    assert report.n_items == 3 and report.n_videos == 2
    assert [(b["where"], b["reason"]) for b in report.bad] == [
        (f"{path}:2", "schema: invalid JSON: Expecting property name enclosed in double quotes")]
