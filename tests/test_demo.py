import json


def test_reduced_demo_runs_every_stage_end_to_end_and_resumes(tmp_path):
    from camreasoner.demo import PRESETS, run_demo

    out = run_demo(tmp_path / "demo", PRESETS["ci"])
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary) == ["data", "model", "sft", "rl", "eval", "report"]
    assert summary["rl"]["steps"] == 2
    assert set(summary["eval"]) >= {"base", "sft", "rl", "geometric"}
    html = (out / "report" / "report.html").read_text()
    for name in ("base", "sft", "rl", "geometric", "Random Chance", "training_curves"):
        assert name in html
    md = (out / "report" / "report.md").read_text()
    assert "which_motion" in md
    # Killed after the report? Nothing is redone.
    before = (out / "eval" / "sft" / "predictions.jsonl").stat().st_mtime_ns
    run_demo(tmp_path / "demo", PRESETS["ci"])
    assert (out / "eval" / "sft" / "predictions.jsonl").stat().st_mtime_ns == before
