"""camreasoner.rl.verl_logs: per-step numbers from verl's metrics.jsonl and rollout dumps,
checked by hand."""

import json

import pytest

from camreasoner.rl import verl_logs

GOOD = "<observation>o</observation><think>t</think><answer>B</answer>"
WRONG = "<observation>o</observation><think>t</think><answer>A</answer>"
NO_TAGS = "B"


def _run(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(
        json.dumps({"step": 1, "data": {"critic/score/mean": 0.5, "timing_s/gen": 18.7,
                                        "timing_s/update_actor": 6.7, "timing_s/step": 28.9,
                                        "actor/perf/max_memory_allocated_gb": 2.29,
                                        "other/metric": 3}}) + "\n"
        + json.dumps({"step": 2, "data": {"critic/score/mean": 0.7}}) + "\n")
    roll = tmp_path / "rollouts"
    roll.mkdir()
    rows = [{"output": GOOD, "gts": "B", "score": 1.0},   # acc 1, fmt 1 -> cons (1-.8-.1)/.1 = 1
            {"output": WRONG, "gts": "B", "score": 0.1},  # acc 0, fmt 1 -> cons (.1-.1)/.1 = 0
            {"output": NO_TAGS, "gts": "B", "score": 0.0}]  # acc 0 (no tags), fmt 0 -> cons 0
    (roll / "1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path


def test_rollout_parts_by_hand(tmp_path):
    parts = verl_logs.rollout_parts(_run(tmp_path))
    assert list(parts) == [1]
    p = parts[1]
    assert p["samples"] == 3
    assert p["accuracy"] == pytest.approx(1 / 3)
    assert p["format"] == pytest.approx(2 / 3)
    assert p["consistency"] == pytest.approx(1 / 3)
    assert p["score"] == pytest.approx(1.1 / 3)


def test_consistency_weight_zero_is_not_recovered(tmp_path):
    parts = verl_logs.rollout_parts(_run(tmp_path), {"accuracy": 0.9, "format": 0.1,
                                                      "consistency": 0.0})
    assert parts[1]["consistency"] is None and parts[1]["accuracy"] == pytest.approx(1 / 3)


def test_summarize_joins_metrics_and_rollouts(tmp_path):
    rows = verl_logs.summarize(_run(tmp_path))
    assert [r["step"] for r in rows] == [1, 2]
    assert rows[0]["reward"] == 0.5 and rows[0]["gen_s"] == 18.7 and rows[0]["update_s"] == 6.7
    assert rows[0]["actor_peak_gib"] == 2.29 and "other/metric" not in rows[0]
    assert rows[0]["accuracy"] == pytest.approx(1 / 3)
    assert "accuracy" not in rows[1]  # no rollouts dumped for step 2
    assert json.loads((tmp_path / "steps.json").read_text()) == rows
    table = verl_logs.format_table(rows)
    assert table.splitlines()[0].startswith("| step | reward | accuracy | format | consistency")
    assert "| 1 | 0.500 | 0.333 | 0.667 | 0.333 | 18.700 |" in table


def test_bad_metrics_line_names_file_and_line(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "data": {}}\nnot json\n')
    with pytest.raises(ValueError, match=r"metrics.jsonl:2"):
        verl_logs.read_step_metrics(tmp_path)


def test_bad_rollout_row_names_file_and_row(tmp_path):
    _run(tmp_path)
    (tmp_path / "rollouts" / "3.jsonl").write_text(json.dumps({"output": GOOD}) + "\n")
    with pytest.raises(ValueError, match=r"3.jsonl: row 0"):
        verl_logs.rollout_parts(tmp_path)
