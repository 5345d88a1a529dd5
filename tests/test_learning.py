"""The learning test of issue #19: a reduced CPU demo from the shipped base must learn camera
motion, so a pipeline bug that breaks learning (a prompt that differs between SFT and
evaluation, a shifted label, video positions out of order) turns CI red."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

EXPERIMENT = Path(__file__).resolve().parents[1] / "maintainers" / "experiments" / "cpu_base.yaml"


def chance_ap(items_file: Path) -> float:
    """The report's Random Chance row: "No" everywhere, its binary AP (%)."""
    from camreasoner.data.readers import load_items
    from camreasoner.eval.score import chance_predictions, score

    items = load_items(items_file)
    return score(items, chance_predictions(items))["binary"]["avg_ap"]


@pytest.mark.slow
def test_sft_from_the_shipped_base_ranks_binary_items_by_the_video(tmp_path):
    """maintainers/experiments/cpu_base.yaml (800 training clips, 48 test clips), binary items
    only, one RL step (RL is not what is tested; 400 training clips did not learn: AP 9.9
    against chance 7.2, p 0.28). Measured 2026-12-03 on 2 cores: SFT
    binary AP 18.2 against chance 7.1, permutation p 0.005 (200 rounds, its floor), SFT 204 s,
    the whole test 307 s. A model that ignores the video scores the shuffled clips' AP, so
    this asks for p <= 0.01 and 1.5x chance."""
    from camreasoner.demo import config_with, load_preset, run_demo

    cfg = config_with(load_preset(EXPERIMENT), [
        "rl.steps=1", "eval.sets=items_binary.jsonl"])
    out = run_demo(tmp_path / "demo", cfg)
    summary = json.loads((out / "summary.json").read_text())["eval"]
    sft, chance = summary["sft"], chance_ap(out / "data" / "test_items.jsonl")
    metrics = json.loads((out / "eval" / "sft" / "metrics.json").read_text())
    assert sft["video_p"]["binary.avg_ap"] <= 0.01, (sft, chance)
    assert sft["binary_avg_ap"] >= 1.5 * chance, (sft, chance)
    failures = sum(t["parse_failures"] for t in metrics["binary"]["per_task"].values())
    assert failures == 0, failures
