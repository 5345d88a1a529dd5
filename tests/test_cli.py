"""The command line as a user meets it: a user error is one line naming the input and exit status
2, an internal failure exit status 1, no traceback unless --debug; --help shows defaults."""

from __future__ import annotations

import json

import pytest

from tests.conftest import make_item, run_cli


def _one_error_line(r) -> str:
    assert "Traceback" not in r.stderr, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.startswith("camreasoner") and "error:" in x]
    assert len(lines) == 1, r.stderr
    return lines[0]


@pytest.mark.parametrize("args,names", [
    (["data", "check", "nope.jsonl"], "nope.jsonl: file not found"),
    (["eval", "run", "--model", "m", "--items", "i.jsonl", "--video-root", "v", "--out", "o",
      "--vision", "tiny2"], "argument --vision: invalid choice: 'tiny2'"),
    (["synth", "--out", "s", "--clips", "2", "--motions", "Pan_Sideways"],
     "--motions: unknown motion 'Pan_Sideways'"),
    (["synth", "--out", "s", "--clips", "2", "--speeds", "warp"], "--speeds: ['warp']"),
    (["data", "convert", "nope.json", "--to", "items", "--out", "x.jsonl"], "nope.json"),
    (["eval", "score", "--items", "nope.jsonl", "--predictions", "p.jsonl", "--out", "m.json"],
     "nope.jsonl: file not found"),
])
def test_user_errors_are_one_line_naming_the_input(args, names, tmp_path):
    r = run_cli(args, cwd=tmp_path)
    assert r.returncode == 2
    assert names in _one_error_line(r)


def test_missing_predictions_file_is_a_user_error(tmp_path):
    from camreasoner.data.schema import write_items

    write_items(tmp_path / "items.jsonl", [make_item()])
    r = run_cli(["eval", "score", "--items", str(tmp_path / "items.jsonl"), "--predictions",
                 str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "m.json")])
    assert r.returncode == 2
    assert f"{tmp_path / 'nope.jsonl'}: No such file or directory" in _one_error_line(r)


def test_baseline_on_clips_that_all_fail_exits_2(tmp_path):
    """Regression: `baseline geometric` exited 0 when every clip failed."""
    from camreasoner.data.schema import write_items

    write_items(tmp_path / "items.jsonl", [make_item(id="a", video="gone.mp4")])
    (tmp_path / "videos").mkdir()
    r = run_cli(["baseline", "geometric", "--items", str(tmp_path / "items.jsonl"),
                 "--video-root", str(tmp_path / "videos"), "--out", str(tmp_path / "p.jsonl")])
    assert r.returncode == 2
    assert "no clip of" in _one_error_line(r) and "1 of 1 failed" in r.stderr
    (pred,) = [json.loads(x) for x in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert "file not found" in pred["error"]  # the reasons are kept


def test_internal_failures_exit_1_and_debug_shows_the_traceback(monkeypatch, capsys, tmp_path):
    from camreasoner import cli

    def broken(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "cmd_check", broken)
    assert cli.main(["data", "check", "x.jsonl"]) == 1
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: a bug (run again with --debug" in err
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["--debug", "data", "check", "x.jsonl"])


@pytest.mark.slow
def test_help_shows_defaults_and_one_name_per_flag():
    r = run_cli(["eval", "run", "--help"])
    assert r.returncode == 0 and "(default: hf)" in r.stdout and "(default: seed)" in r.stdout
    for sub in (["sft"], ["rl"], ["eval", "run"], ["synth"], ["data", "convert"]):
        text = run_cli([*sub, "--help"]).stdout
        assert "--out" in text and "--output-dir" not in text, sub
    rl = run_cli(["rl", "--help"]).stdout
    assert "--tensor-parallel-size" in rl and "--tp " not in rl


@pytest.mark.slow
def test_sft_dry_run_writes_nothing(tmp_path, clip_root, tiny_model):
    from camreasoner.data.convert import write_sharegpt

    item = make_item(extra={"response": "<observation>o</observation><think>t</think>"
                                        "<answer>B</answer>"})
    write_sharegpt([item], tmp_path / "data" / "sft.json", dataset_name="s")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    r = run_cli(["sft", "--recipe", "tiny_cpu_sft", "--model", str(tiny_model), "--dataset", "s",
                 "--dataset-dir", str(tmp_path / "data"), "--media-dir", str(clip_root),
                 "--out", str(tmp_path / "out"), "--dry-run"])
    assert r.returncode == 0, r.stderr
    assert "camreasoner.lf_cli train" in r.stdout and "dataset: s" in r.stdout
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_rl_trl_flags_reach_its_config(capsys):
    """`rl --backend trl` trains on videos (SFT's input) unless told frames, and passes the
    vision tower's freezing through."""
    from camreasoner import cli

    base = ["rl", "--backend", "trl", "--model", "m", "--train-file", "x.jsonl", "--video-root",
            "v", "--dry-run"]
    assert cli.main(base) == 0
    default = capsys.readouterr().out
    assert "mode='video'" in default and "freeze_vision_tower=False" in default
    assert cli.main([*base, "--vision-mode", "frames", "--freeze-vision-tower"]) == 0
    chosen = capsys.readouterr().out
    assert "mode='frames'" in chosen and "freeze_vision_tower=True" in chosen
