"""The learning probes in benchmarks/: the vision tower alone (both modes, and which clip breaks
it) and SFT through the language model (each target variant), on a small synthetic set."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = ROOT / "maintainers" / "probes" / "probe_vision_tower.py"


@pytest.fixture(scope="module")
def synth_sets(tmp_path_factory):
    from camreasoner.synth.build import build

    d = tmp_path_factory.mktemp("probe")
    build(d / "train", 6, seed=0, size=112, frames=8, fps=2, progress=False)
    build(d / "test", 6, seed=1000, size=112, frames=8, fps=2, progress=False)
    return d


def probe(sets, model, *extra):
    return subprocess.run([sys.executable, str(PROBE), "--train", str(sets / "train"),
                           "--test", str(sets / "test"), "--model", str(model), "--steps", "2",
                           "--eval-every", "1", "--batch", "3", "--threads", "2", *extra],
                          capture_output=True, text=True, check=False)


@pytest.mark.parametrize("mode", ["video", "frames"])
@pytest.mark.slow
def test_probe_trains_and_reports_ap_next_to_chance(synth_sets, tiny_model, tmp_path, mode):
    out = tmp_path / "rows.json"
    r = probe(synth_sets, tiny_model, "--mode", mode, "--out-json", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"{mode} mode, 6 training clips" in r.stdout
    rows = json.loads(out.read_text())
    assert [row["step"] for row in rows] == [1, 2]
    for row in rows:
        assert 0 <= row["test_ap"] <= 100 and 0 < row["chance_ap"] < 100
        # chance is the mean positive rate over primitives with a positive in the test clips
        assert set(row["per_primitive"]) >= {"Pan_Left", "Static", "Zoom_In"}


@pytest.mark.slow
def test_probe_names_the_clip_whose_labels_are_incomplete(synth_sets, tiny_model, tmp_path):
    import shutil

    bad = tmp_path / "train"
    shutil.copytree(synth_sets / "train", bad)
    recs = [json.loads(x) for x in (bad / "manifest.jsonl").read_text().splitlines()]
    del recs[2]["labels"]["Tilt_Up"]
    (bad / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    r = subprocess.run([sys.executable, str(PROBE), "--train", str(bad), "--test",
                        str(synth_sets / "test"), "--model", str(tiny_model), "--steps", "1"],
                       capture_output=True, text=True, check=False)
    assert r.returncode != 0
    assert "clip000002: labels lack primitive 'Tilt_Up'" in r.stderr


@pytest.mark.parametrize(("variant", "lm"), [("chain", "small"), ("answer", "small"),
                                          ("short", "small"), ("caption", "small"),
                                          ("label", "small"), ("label", "gpu"),
                                          ("describe", "small")])
@pytest.mark.slow
def test_sft_pathway_probe_trains_each_variant(synth_sets, tmp_path, variant, lm):
    out = tmp_path / "rows.json"
    r = subprocess.run([sys.executable, str(ROOT / "maintainers" / "probes" / "probe_sft_pathway.py"),
                        "--train", str(synth_sets / "train"), "--work", str(tmp_path / "work"),
                        "--lm", lm,
                        "--variant", variant, "--clips", "6", "--held-clips", "2", "--steps", "2",
                        "--eval-every", "2", "--batch", "2", "--eval-items", "2",
                        "--max-new-tokens", "8", "--threads", "2", "--out-json", str(out)],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    # 4 training clips x (1 MC + 2 yes/no) chains; the motion name, and the description (the MC
    # chain's observation and think), are one target a clip
    n = 4 if variant in ("label", "describe") else 12
    assert f"variant {variant}, {n} chains" in r.stdout
    (row,) = json.loads(out.read_text())
    assert row["step"] == 2 and isinstance(row["video_info_gain"], float)
    layers = json.loads((tmp_path / "work" / f"{lm}_lm" / "config.json").read_text())
    assert layers["text_config"]["num_hidden_layers"] == {"small": 2, "gpu": 6}[lm]
    assert ("mc_acc" in row) == (variant not in ("caption", "label", "describe"))
    assert ("label_acc" in row) == (variant in ("label", "describe"))
    if variant in ("label", "describe"):
        assert 0 <= row["label_acc"] <= 100
    elif variant != "caption":
        assert 0 <= row["mc_acc"] <= 100 and 0 <= row["mc_parse_failures"] <= 2
