import csv
import os
import shutil
import subprocess

import numpy as np
import pytest

from camreasoner.eval.report import build_report
from tests.conftest import lines

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--virtual-time-budget=3000"]


@pytest.fixture(scope="module")
def report_dir(reference_run, tmp_path_factory):
    import json

    # A second "run": the reference with every answer flipped to the truth (a perfect model).
    perfect = tmp_path_factory.mktemp("perfect") / "perfect"
    shutil.copytree(reference_run, perfect)
    cfg = json.loads((perfect / "config.json").read_text())
    from camreasoner.data.schema import read_items

    truth = {i.id: i.answer for i in read_items(cfg["items"])}
    with open(perfect / "predictions.jsonl", "w") as f:
        for p in lines(reference_run / "predictions.jsonl"):
            p["response"] = (f"<observation>o</observation><think>t</think>"
                             f"<answer>{truth[p['id']]}</answer>")
            f.write(json.dumps(p) + "\n")
    from camreasoner.eval.permutation import permutation_files

    (perfect / "permutation.json").write_text(json.dumps(
        permutation_files(cfg["items"], perfect / "predictions.jsonl", rounds=50)))
    out = tmp_path_factory.mktemp("report")
    build_report([reference_run, perfect], out)
    return out


@pytest.mark.slow
def test_tables_lay_out_runs_and_chance(report_dir):
    with open(report_dir / "table_binary.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["Model", "Pan_Left", "Static", "Tilt_Up", "Avg"]  # taxonomy order
    assert [r[0] for r in rows[1:]] == ["Random Chance", "run", "run (AP of p_yes)", "perfect",
                                        "perfect (AP of p_yes)"]
    # 4 items per primitive, 2 positives: chance AP = 50; a perfect run = 100.
    assert rows[1][1:] == ["50.0"] * 4
    assert rows[4][1:] == ["100.0"] * 4
    md = (report_dir / "report.md").read_text()
    assert "| Random Chance | 50.0 | 50.0 | 50.0 | 50.0 |" in md
    # The paper's row: binary accuracy per primitive and its mean (chance: "No" everywhere, 2 of
    # 4 right), in the tables and on the HTML page.
    with open(report_dir / "table_binary_acc.csv") as f:
        acc = list(csv.reader(f))
    assert acc[0] == rows[0] and [r[0] for r in acc[1:]] == ["Random Chance", "run", "perfect"]
    assert acc[1][1:] == ["50.0"] * 4 and acc[3][1:] == ["100.0"] * 4
    assert "accuracy per primitive (%) — the paper's CamReasoner row" in md
    # escaped as Jinja2's autoescape (MarkupSafe) writes an apostrophe
    assert "the paper&#39;s CamReasoner row" in (report_dir / "report.html").read_text()
    for png in ("binary_ap.png",):
        from PIL import Image

        im = np.asarray(Image.open(report_dir / png).convert("L"))
        assert im.shape[0] > 200 and im.std() > 10


@pytest.mark.slow
def test_permutation_table_shows_the_runs_that_have_one(report_dir):
    with open(report_dir / "table_permutation.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["Model", "Statistic", "Observed", "Shuffled mean", "Shuffled 95th pct", "p"]
    assert {r[0] for r in rows[1:]} == {"perfect"}  # the reference run has no permutation.json
    ap = next(r for r in rows[1:] if r[1] == "binary.avg_ap")
    assert ap[2] == "100.0" and 0 < float(ap[5]) < 1
    assert "answers shuffled among clips" in (report_dir / "report.html").read_text().lower()


def test_item_texts_and_model_outputs_are_escaped_in_the_page(clip_root, tmp_path):
    import json
    from html.parser import HTMLParser

    from camreasoner.data.schema import write_items
    from tests.conftest import make_item

    evil = "<script>alert(1)</script>"
    items = [make_item(id=f"b{evil}", video="pan.mp4", question=f"Does it {evil} pan?"),
             make_item(id="m1", video="tilt.mp4", task='odd"task\'<b>', answer="A",
                       options=[f"A. {evil}", "B. right"], question="Which way?"),
             make_item(id="e1", video="sub/static.mp4", answer="A")]
    write_items(tmp_path / "items.jsonl", items)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({
        "items": str(tmp_path / "items.jsonl"), "video_root": str(clip_root),
        "vision": {"fps": 2.0, "max_frames": 4}, "answer_reading": "strict"}))
    preds = [{"id": f"b{evil}", "response": f"<observation>{evil}</observation><think>"
              f"t</think><answer>B</answer>", "p_yes": 0.9},
             {"id": "m1", "response": f"</div>{evil}"},
             {"id": "e1", "response": None, "error": f"CUDA {evil}"}]
    (run / "predictions.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds))
    page = (build_report([run], tmp_path / "out") / "report.html").read_text()
    assert page.count("<script>") == 1  # the page's own
    assert "alert(1)" in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page

    class Items(HTMLParser):  # the attributes the filters read come back as written
        def __init__(self):
            super().__init__()
            self.found = []

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if "item" in (a.get("class") or "").split():
                self.found.append(a)

    parser = Items()
    parser.feed(page)
    assert [a["data-task"] for a in parser.found] == ["Pan_Left", 'odd"task\'<b>', "Pan_Left"]
    assert [a["data-right-0"] for a in parser.found] == ["1", "0", "0"]
    assert page.count("error: CUDA &lt;script&gt;") == 1


def _chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (see .ci/run)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return exe


@pytest.mark.slow
def test_html_report_filters_in_chromium(report_dir, tmp_path):
    exe = _chromium()
    page = (report_dir / "report.html").as_uri()
    html = (report_dir / "report.html").read_text()
    assert "data:image/jpeg;base64," in html and "data:image/png;base64," in html
    assert "http://" not in html and "https://" not in html  # self-contained

    def visible(hash_):
        out = subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'u'}",
                              "--dump-dom", page + hash_], capture_output=True, text=True,
                             timeout=120, check=False)  # a failure shows in the assert below
        import re

        m = re.search(r'id="count" data-visible="(\d+)"', out.stdout)
        assert m, out.stderr[-2000:]
        return int(m.group(1))

    assert visible("") == 12
    assert visible("#task=Pan_Left") == 4
    # The perfect run (index 1) is never wrong; the reference run's wrong answers are counted.
    assert visible("#run=1&correct=wrong") == 0
    assert visible("#run=1&correct=right") == 12
    n_wrong = visible("#task=Static&run=0&correct=wrong")
    n_right = visible("#task=Static&run=0&correct=right")
    assert n_wrong + n_right == 4

    shot = tmp_path / "shot.png"
    subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'u2'}",
                    "--window-size=1200,1600", f"--screenshot={shot}",
                    page + "#task=Pan_Left&run=0&correct=all"], capture_output=True, timeout=120,
                   check=True)
    from PIL import Image

    im = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert im.shape == (1600, 1200)
    assert im.std() > 20 and (im < 128).mean() > 0.01  # text, tables and frames, not blank


@pytest.mark.slow
def test_eval_sh_runs_scores_and_reports(tiny_model, eval_items, clip_root, tmp_path):
    import json
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "MODEL_PATH": str(tiny_model), "BENCH": str(eval_items),
           "VIDEO_ROOT": str(clip_root), "BACKEND": "hf", "OUT": str(tmp_path / "out"),
           "CACHE_DIR": str(tmp_path / "cache"), "VENV": str(Path(sys.executable).parents[1])}
    r = subprocess.run(["bash", "Evaluation/eval.sh", "--vision", "tiny", "--max-new-tokens", "8",
                        "--no-progress"], cwd=repo, env=env, capture_output=True, text=True,
                       timeout=300, check=False)  # the assert below shows stderr
    assert r.returncode == 0, r.stderr[-3000:]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert set(metrics["binary"]["per_task"]) == {"Pan_Left", "Tilt_Up", "Static"}
    assert (tmp_path / "out" / "report" / "report.html").is_file()
    assert len(list((tmp_path / "cache").glob("*.json"))) == 3  # one cached clip per video
    assert "report:" in r.stdout
