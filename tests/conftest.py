"""Shared fixtures. Tests never touch the network: the hub is switched off and every cache lives
in pytest's temporary folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CAMERABENCH = SHARED / "camerabench"


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
    if not CAMERABENCH.is_dir():
        pytest.skip(f"CameraBench annotations not found at {CAMERABENCH}")
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

    base = dict(id="x1", video="pan.mp4", question="Does the camera pan to the left?",
                options=["A. No", "B. Yes"], answer="B", task="Pan_Left", source="test")
    base.update(kw)
    return Item(**base)
