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


def test_gpu_preset_model_and_token_budgets(tmp_path):
    """The GPU preset's model builds (tens of millions of parameters) and its generation budgets
    hold the longest synthetic chain: a cut chain has no <answer>, so RL's format reward would
    be 0 for every completion and GRPO would have nothing to learn from (seen on the H100)."""
    from camreasoner.demo import PRESETS
    from camreasoner.dev.tiny_model import TinyModelSpec, build_tiny_model
    from camreasoner.synth.build import build
    from transformers import AutoTokenizer

    cfg = PRESETS["gpu"]
    assert cfg.vision_mode == "frames" and not cfg.use_cpu
    model = build_tiny_model(tmp_path / "m", TinyModelSpec(**dict(cfg.model)))
    n_params = json.loads((model / "camreasoner_tiny.json").read_text())["parameters"]
    assert 10e6 < n_params < 100e6
    build(tmp_path / "s", 24, seed=0, size=cfg.size, frames=cfg.frames, fps=cfg.fps, progress=False)
    tok = AutoTokenizer.from_pretrained(model)
    chains = [r["messages"][1]["content"] for r in json.loads((tmp_path / "s" / "sft.json").read_text())]
    longest = max(len(tok(c)["input_ids"]) for c in chains) + 1  # + <|im_end|>
    assert longest <= cfg.rl_completion_tokens and longest <= cfg.max_new_tokens


def test_demo_stops_after_the_stage_asked(tmp_path):
    import pytest
    from camreasoner.demo import PRESETS, run_demo

    out = run_demo(tmp_path / "demo", PRESETS["ci"], until="model")
    assert (out / "data" / ".done").exists() and (out / "model" / ".done").exists()
    assert not (out / "sft").exists() and not (out / "summary.json").exists()
    with pytest.raises(ValueError, match="not a stage"):
        run_demo(tmp_path / "demo", PRESETS["ci"], until="training")


def test_verl_backend_without_gpu_says_what_it_needs(tmp_path):
    """rl_backend=verl (the gpu_video preset) stops at the RL stage with a clear error on a
    machine without a GPU and vLLM, after the earlier stages completed (they resume later)."""
    import dataclasses

    import pytest
    from camreasoner.demo import PRESETS, run_demo

    assert PRESETS["gpu_video"].rl_backend == "verl" and PRESETS["gpu_video"].vision_mode == "video"
    cfg = dataclasses.replace(PRESETS["ci"], rl_backend="verl")
    with pytest.raises(RuntimeError, match="needs a GPU and vLLM"):
        run_demo(tmp_path / "demo", cfg)
    assert (tmp_path / "demo" / "sft" / ".done").exists()
    assert not (tmp_path / "demo" / "rl" / ".done").exists()
