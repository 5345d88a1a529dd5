"""Shared fixtures. Tests never touch the network: the hub is switched off and every cache lives
in pytest's temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CAMERABENCH = SHARED / "camerabench"
# A subset of the official annotations inside the repository (tests/fixtures/camerabench/README.md)
CAMERABENCH_FIXTURE = Path(__file__).parent / "fixtures" / "camerabench"


@pytest.fixture(scope="session", autouse=True)
def offline_env(tmp_path_factory):
    home = tmp_path_factory.mktemp("hf_home")
    saved = dict(os.environ)
    os.environ.update({
        "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
        "HF_HOME": str(home), "MPLCONFIGDIR": str(home / "mpl"),
        "TOKENIZERS_PARALLELISM": "false",
    })
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def camerabench_dir() -> Path:
    """The CameraBench fixture in tests/ (the data tests depend on nothing outside the repo)."""
    return CAMERABENCH_FIXTURE


@pytest.fixture(scope="session")
def full_camerabench_dir() -> Path:
    """The full official annotations, for the checks of their counts (where they are present)."""
    if not CAMERABENCH.is_dir():
        pytest.skip(f"the full CameraBench annotations are not at {CAMERABENCH}")
    return CAMERABENCH


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from camreasoner.dev.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture(scope="session")
def clip_root(tmp_path_factory) -> Path:
    """A video root with a few small valid clips."""
    from camreasoner.dev.clips import write_clip

    root = tmp_path_factory.mktemp("videos")
    write_clip(root / "pan.mp4", frames=8, shift=(3, 0), seed=1)
    write_clip(root / "tilt.mp4", frames=8, shift=(0, 3), seed=2)
    write_clip(root / "sub" / "static.mp4", frames=8, shift=(0, 0), seed=3)
    return root


def make_item(**kw):
    from camreasoner.data.schema import Item

    base = {"id": "x1", "video": "pan.mp4", "question": "Does the camera pan to the left?",
            "options": ["A. No", "B. Yes"], "answer": "B", "task": "Pan_Left", "source": "test"}
    base.update(kw)
    return Item(**base)


TASKS = ["Pan_Left", "Tilt_Up", "Static"]
VIDEOS = ["pan.mp4", "tilt.mp4", "sub/static.mp4"]


@pytest.fixture(scope="session")
def eval_items(tmp_path_factory, clip_root):
    from camreasoner.data.schema import write_items

    d = tmp_path_factory.mktemp("eval")
    items = [make_item(id=f"i{k:02d}", video=VIDEOS[k % 3], task=TASKS[k % 3],
                       answer="B" if k % 2 else "A") for k in range(12)]
    write_items(d / "items.jsonl", items)
    return d / "items.jsonl"


def run_cli(args, **kw):
    return subprocess.run([sys.executable, "-m", "camreasoner", *args], capture_output=True,
                          text=True, **kw, check=False)


def eval_args(model, items, root, out, *extra):
    return ["eval", "run", "--model", str(model), "--items", str(items), "--video-root",
            str(root), "--out", str(out), "--vision", "tiny", "--max-new-tokens", "12",
            "--batch-size", "1", "--workers", "1", "--no-progress", *extra]


def lines(path):
    return [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]


@pytest.fixture(scope="session")
def reference_run(tiny_model, eval_items, clip_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    r = run_cli(eval_args(tiny_model, eval_items, clip_root, out))
    assert r.returncode == 0, r.stderr[-3000:]
    return out
