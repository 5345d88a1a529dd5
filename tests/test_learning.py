"""The learning test of issue #19: a reduced CPU demo from the shipped base must learn camera
motion, so a pipeline bug that breaks learning (a prompt that differs between SFT and
evaluation, a shifted label, video positions out of order) turns CI red."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def chance_ap(items_file: Path) -> float:
    """The report's Random Chance row: "No" everywhere, its binary AP (%)."""
    from camreasoner.data.readers import load_items
    from camreasoner.eval.score import chance_predictions, score

    items = load_items(items_file)
    return score(items, chance_predictions(items))["binary"]["avg_ap"]


@pytest.mark.slow
def test_sft_from_the_shipped_base_learns_camera_motion(tmp_path):
    """The cpu preset, the main command's (800 training clips, 48 test clips), with one RL step
    (RL is not what is tested; 400 training clips did not learn: AP 9.9 against chance 7.2,
    p 0.28). Measured on 2 cores (maintainers/experiment-log.md, 2026-12-04), LLaMA-Factory's
    seed 42 (the preset's): SFT binary AP 17.6 against chance 7.1, which-movement 58.3% against
    1/25, permutation p 0.005 for both (200 rounds, its floor); seed 1 gave 10.3 (p 0.055) and
    56.2%. A model that ignores the video scores what the shuffled clips score, so this asks
    for p <= 0.01 for both, binary AP 1.5x chance, which-movement 25% (6x chance), and at most
    5% of answers unparsed."""
    from camreasoner.demo import config_with, load_preset, run_demo

    out = run_demo(tmp_path / "demo", config_with(load_preset("cpu"), ["rl.steps=1"]))
    summary = json.loads((out / "summary.json").read_text())["eval"]
    sft, chance = summary["sft"], chance_ap(out / "data" / "test_items.jsonl")
    assert sft["video_p"]["binary.avg_ap"] <= 0.01, (sft, chance)
    assert sft["binary_avg_ap"] >= 1.5 * chance, (sft, chance)
    assert sft["video_p"]["mc.which_motion.acc"] <= 0.01, sft
    assert sft["mc_acc"]["which_motion"] >= 4 * 100 / 16, sft
    metrics = json.loads((out / "eval" / "sft" / "metrics.json").read_text())
    tasks = [*metrics["binary"]["per_task"].values(), *metrics["mc"]["per_task"].values()]
    failures = sum(t["parse_failures"] for t in tasks)
    assert failures <= 0.05 * metrics["counts"]["items"], failures
