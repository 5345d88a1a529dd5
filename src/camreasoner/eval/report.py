"""``camreasoner eval report RUN [RUN ...] --out DIR``: tables, plots and a browsable HTML page.

- ``table_binary_acc.{md,csv}``: binary accuracy per primitive and its mean, the paper's
  CamReasoner row (answers read as the run's protocol reads them: ``answer_reading``).
- ``table_binary.{md,csv}``: the seed's Table 1 layout — one row per run plus the chance row,
  one column per primitive (AP of the answers, %) and ``Avg``; a second row per run gives the AP
  of ``p_yes`` where the run recorded it.
- ``table_vqa.{md,csv}``: Table 2 — one row per run, one column per skill (accuracy, %) and
  ``Avg Overall``; ``table_vqa_pairs.md`` adds question/image/group accuracy.
- ``table_mc.{md,csv}``: accuracy per task of other multiple-choice items.
- ``binary_ap.png``, ``vqa_acc.png``: grouped bars per run.
- ``report.html``: self-contained (plots and frame strips inlined): the tables, the plots, and a
  list of items with a strip of the sampled frames, the question, each run's observation / think /
  answer, the truth and whether each run was right. Filters (task, run, right/wrong) live in the
  URL hash (``report.html#task=Pan_Left&run=0&correct=wrong``), so a filtered view can be shared.
  The page is the Jinja2 template ``templates/report.html.j2``, rendered with autoescaping (item
  texts and model outputs are data, never markup); this module only gathers what it shows.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import os
from pathlib import Path
from typing import Any

from camreasoner import taxonomy
from camreasoner.answers import parse_response, read_answer
from camreasoner.data.readers import load_items
from camreasoner.data.schema import Item
from camreasoner.eval.score import chance_predictions, read_predictions, score
from camreasoner.tables import md_table
from camreasoner.vision import VisionSpec

log = logging.getLogger(__name__)

CHANCE = "Random Chance"


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}"


def _write_table(out: Path, stem: str, header: list[str], rows: list[list[str]]) -> str:
    md = md_table(header, rows)
    (out / f"{stem}.md").write_text(md)
    with open(out / f"{stem}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return md


def load_run(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    run_dir = Path(run_dir)
    cfg = json.loads((run_dir / "config.json").read_text())
    items = load_items(cfg["items"])
    preds = read_predictions(run_dir / "predictions.jsonl")
    # `camreasoner eval permute --out RUN/permutation.json` and the demo write this one
    perm = run_dir / "permutation.json"
    reading = cfg.get("answer_reading", "strict")  # runs made before protocols read strictly
    return {"name": run_dir.name, "dir": run_dir, "config": cfg, "items": items,
            "predictions": preds, "reading": reading,
            "metrics": score(items, preds, reading=reading),
            "permutation": json.loads(perm.read_text())["tests"] if perm.is_file() else None}


def _bar_plot(path: Path, groups: list[str], series: dict[str, list[float | None]],
              ylabel: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.arange(len(groups))
    width = 0.8 / max(1, len(series))
    fig, ax = plt.subplots(figsize=(max(8, 0.7 * len(groups) * max(1, len(series)) ** 0.5), 4.5))
    for k, (name, values) in enumerate(series.items()):
        vals = [v if v is not None else 0.0 for v in values]
        ax.bar(x + (k - (len(series) - 1) / 2) * width, vals, width, label=name)
    ax.set_xticks(x, [g.replace("_", " ") for g in groups], rotation=45, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _frame_strip(item: Item, cfg: dict, n: int = 4, height: int = 72) -> str | None:
    """A JPEG data URI of ``n`` frames side by side, or None when the video cannot be read."""
    from PIL import Image

    from camreasoner.data.schema import resolve_video
    from camreasoner.media.frames import load_frames
    from camreasoner.media.video import VideoError

    try:
        path = resolve_video(cfg["video_root"], item.video, item_id=item.id)
        video = load_frames(path, VisionSpec(**cfg["vision"]), cfg.get("cache_dir"))
    except (VideoError, ValueError) as e:
        log.debug("no frame strip for %s: %s", item.id, e)
        return None
    frames = video.frames
    picks = [frames[round(i * (len(frames) - 1) / max(1, n - 1))] for i in range(n)]
    thumbs = []
    for f in picks:
        im = Image.fromarray(f)
        im = im.resize((max(1, round(im.width * height / im.height)), height))
        thumbs.append(im)
    strip = Image.new("RGB", (sum(t.width for t in thumbs) + 2 * (n - 1), height), "white")
    x = 0
    for t in thumbs:
        strip.paste(t, (x, 0))
        x += t.width + 2
    buf = io.BytesIO()
    strip.save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def _png_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _select_items(items: list[Item], max_items: int) -> list[Item]:
    """Up to ``max_items`` items spread evenly over the file (every task keeps some)."""
    if len(items) <= max_items:
        return items
    by_task: dict[str, list[Item]] = {}
    for it in items:
        by_task.setdefault(it.skill or it.task, []).append(it)
    per = max(1, max_items // len(by_task))
    chosen = []
    for group in by_task.values():
        step = max(1, len(group) // per)
        chosen += group[::step][:per]
    return chosen[:max_items]


def _item_view(item: Item, runs: list[dict], strip: str | None) -> dict[str, Any]:
    """What the page shows of one item: its texts and, per run, the answer as that run's
    protocol reads it (``kind``: missing, error, chain (observation / think) or raw)."""
    answers = []
    for run in runs:
        pred = run["predictions"].get(item.id)
        view: dict[str, Any] = {"name": run["name"], "right": False}
        if pred is None:
            view["kind"] = "missing"
        elif pred.get("error"):
            view.update(kind="error", error=str(pred["error"]))
        else:
            resp = pred.get("response") or ""
            parsed = parse_response(resp)
            letter = read_answer(resp, item.options, run["reading"])
            view.update(right=letter == item.answer, letter=str(letter), p_yes=pred.get("p_yes"))
            if parsed.observation is not None or parsed.think is not None:
                view.update(kind="chain", observation=parsed.observation or "",
                            think=parsed.think or "")
            else:
                view.update(kind="raw", raw=resp[:600])
        answers.append(view)
    return {"id": item.id, "task": item.skill or item.task, "subtask": item.task, "strip": strip,
            "question": item.question, "options": item.options, "answer": item.answer,
            "runs": answers}


def _render_page(**context: Any) -> str:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    # autoescape on for every value (the template's name ends in .j2, which select_autoescape
    # would not recognise as HTML); a name the template uses but we did not pass is an error
    env = Environment(loader=PackageLoader("camreasoner.eval", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    return env.get_template("report.html.j2").render(**context)


def build_report(run_dirs: list[str | os.PathLike[str]], out: str | os.PathLike[str],
                 max_items: int = 300, frames_per_strip: int = 4,
                 extra_images: list[str | os.PathLike[str]] | None = None) -> Path:
    """Write the report for ``run_dirs`` (side by side) into ``out``; ``extra_images`` (PNG files
    such as training curves) are copied beside it and shown under the plots."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs = [load_run(d) for d in run_dirs]
    names = [r["name"] for r in runs]
    if len(set(names)) != len(names):  # same folder name under different parents
        for k, r in enumerate(runs):
            r["name"] = f"{k}:{r['name']}"
    base_items = runs[0]["items"]
    chance = score(base_items, chance_predictions(base_items))
    sections: list[str] = []  # markdown
    tables: list[dict[str, Any]] = []  # the same tables on the page
    plots: list[Path] = []

    def add(title: str, stem: str | None, header: list[str], rows: list[list[str]]) -> None:
        table = _write_table(out, stem, header, rows) if stem else md_table(header, rows)
        sections.append(f"## {title}\n\n{table}")
        tables.append({"title": title, "header": header, "rows": rows})

    if any("binary" in r["metrics"] for r in runs):
        present = sorted({t for r in runs for t in r["metrics"].get("binary", {}).get("per_task", {})},
                         key=lambda t: taxonomy.PRIMITIVE_NAMES.index(t))
        header = ["Model", *present, "Avg"]
        acc_rows = []
        for name, m in [(CHANCE, chance)] + [(r["name"], r["metrics"]) for r in runs]:
            b = m.get("binary", {"per_task": {}, "avg_acc": None})
            acc_rows.append([name, *(_fmt(b["per_task"].get(t, {}).get("acc")) for t in present),
                             _fmt(b.get("avg_acc"))])
        add("Binary classification: accuracy per primitive (%) — the paper's CamReasoner row "
            "(chance: 'No' everywhere)", "table_binary_acc", header, acc_rows)
        rows = []
        for name, m in [(CHANCE, chance)] + [(r["name"], r["metrics"]) for r in runs]:
            b = m.get("binary", {"per_task": {}, "avg_ap": None})
            rows.append([name, *(_fmt(b["per_task"].get(t, {}).get("ap")) for t in present),
                         _fmt(b["avg_ap"])])
            if name != CHANCE and b.get("avg_ap_prob") is not None:
                rows.append([f"{name} (AP of p_yes)",
                             *(_fmt(b["per_task"].get(t, {}).get("ap_prob")) for t in present),
                             _fmt(b["avg_ap_prob"])])
        add("Binary classification: AP per primitive (%)", "table_binary", header, rows)
        series = {name: [m.get("binary", {}).get("per_task", {}).get(t, {}).get("ap")
                         for t in present]
                  for name, m in [(CHANCE, chance)] + [(r["name"], r["metrics"]) for r in runs]}
        _bar_plot(out / "binary_ap.png", present, series, "AP (%)", "Binary AP per primitive")
        plots.append(out / "binary_ap.png")

    if any("vqa" in r["metrics"] for r in runs):
        skills = sorted({s for r in runs for s in r["metrics"].get("vqa", {}).get("per_skill", {})},
                        key=lambda s: taxonomy.VQA_SKILL_NAMES.index(s))
        header = ["Model", *skills, "Avg Overall"]
        rows, pair_rows = [], []
        for name, m in [(CHANCE, chance)] + [(r["name"], r["metrics"]) for r in runs]:
            v = m.get("vqa", {"per_skill": {}, "avg_overall": None})
            rows.append([name, *(_fmt(v["per_skill"].get(s, {}).get("acc")) for s in skills),
                         _fmt(v["avg_overall"])])
            for s in skills:
                ps = v["per_skill"].get(s, {})
                pair_rows.append([name, s, _fmt(ps.get("acc")), _fmt(ps.get("q_acc")),
                                  _fmt(ps.get("img_acc")), _fmt(ps.get("group_acc"))])
        add("VQA: accuracy per skill (%)", "table_vqa", header, rows)
        add("VQA pair metrics (%)", "table_vqa_pairs",
            ["Model", "Skill", "Acc", "Question", "Image", "Group"], pair_rows)
        series = {r["name"]: [r["metrics"].get("vqa", {}).get("per_skill", {}).get(s, {})
                              .get("acc") for s in skills] for r in runs}
        _bar_plot(out / "vqa_acc.png", skills, series, "accuracy (%)", "VQA accuracy per skill")
        plots.append(out / "vqa_acc.png")

    if any("mc" in r["metrics"] for r in runs):
        tasks = sorted({t for r in runs for t in r["metrics"].get("mc", {}).get("per_task", {})})
        rows = [[r["name"], *(_fmt(r["metrics"].get("mc", {}).get("per_task", {}).get(t, {})
                                   .get("acc")) for t in tasks)] for r in runs]
        add("Multiple choice: accuracy per task (%)", "table_mc", ["Model", *tasks], rows)

    perm_rows = [[r["name"], stat, _fmt(v["observed"]), _fmt(v["null_mean"]),
                  _fmt(v["null_p95"]), f"{v['p']:.3f}"]
                 for r in runs for stat, v in (r["permutation"] or {}).items()]
    if perm_rows:
        add("Does the score follow the video? Answers shuffled among clips (permutation test)",
            "table_permutation", ["Model", "Statistic", "Observed", "Shuffled mean",
                                  "Shuffled 95th pct", "p"], perm_rows)

    counts = []
    for r in runs:
        for sec in ("binary", "vqa", "mc"):
            per = r["metrics"].get(sec, {}).get("per_task") or r["metrics"].get(sec, {}).get(
                "per_skill") or {}
            miss = sum(v.get("missing", 0) for v in per.values())
            fails = sum(v.get("parse_failures", 0) for v in per.values())
            errs = sum(v.get("errors", 0) for v in per.values())
            if per:
                counts.append([r["name"], sec, str(sum(v["n"] for v in per.values())),
                               str(fails), str(errs), str(miss)])
    add("Counts", None, ["Model", "Section", "Items", "Parse failures", "Errors", "Missing"],
        counts)
    (out / "report.md").write_text("# CameraBench report\n\n" + "\n".join(sections))

    shown = _select_items(base_items, max_items)
    strips = {}
    from tqdm.auto import tqdm

    for item in tqdm(shown, desc="frame strips", unit="item", disable=len(shown) < 50):
        strips[item.id] = _frame_strip(item, runs[0]["config"], frames_per_strip)
    task_names = sorted({it.skill or it.task for it in shown} | {it.task for it in shown})
    import shutil

    for img in extra_images or []:
        img = Path(img)
        if img.is_file():
            target = out / img.name
            if target.resolve() != img.resolve():
                shutil.copy(img, target)
            plots.append(target)
        else:
            log.warning("extra image %s not found: left out of the report", img)
    page = _render_page(
        runs=[r["name"] for r in runs], items_file=str(runs[0]["config"]["items"]), tables=tables,
        plots=[{"uri": _png_uri(p), "alt": p.stem} for p in plots], task_names=task_names,
        items=[_item_view(it, runs, strips[it.id]) for it in shown], n_items=len(base_items))
    (out / "report.html").write_text(page, encoding="utf-8")
    log.info("report written to %s (report.md, report.html, tables, plots)", out)
    return out
