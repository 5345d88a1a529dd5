import json


def test_demo_runs_every_stage_and_resumes(tmp_path):
    from camreasoner.demo import run_demo

    out = run_demo(tmp_path / "demo")
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary) == ["data", "check", "convert", "model", "eval", "report"]
    assert summary["check"] == {"items": 6, "videos": 6, "seconds": summary["check"]["seconds"]}
    assert (out / "report" / "report.html").is_file()
    metrics = json.loads((out / "eval" / "base" / "metrics.json").read_text())
    assert set(metrics["binary"]["per_task"]) == {"Pan_Right", "Static", "Tilt_Down"}
    # A second run finds every stage complete and redoes nothing.
    before = (out / "eval" / "base" / "predictions.jsonl").stat().st_mtime_ns
    run_demo(tmp_path / "demo")
    assert (out / "eval" / "base" / "predictions.jsonl").stat().st_mtime_ns == before
