import json

import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from camreasoner.data.schema import VQA_ROLES, DataError, write_items
from camreasoner.eval import metrics
from camreasoner.eval.score import (
    chance_predictions,
    read_predictions,
    score,
    score_files,
    weighted_overall,
)
from tests.conftest import make_item


def test_average_precision_hand_checked():
    # Ranked 1,0,1,0: P@1 = 1 (R .5), P@3 = 2/3 (R 1) -> AP = .5*1 + .5*2/3 = 0.8333.
    assert metrics.average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(5 / 6)
    # Hard 0/1 scores, ties: threshold 1 -> P .5 R .5; threshold 0 -> P 2/5 R 1 -> AP = .45.
    assert metrics.average_precision([1, 1, 0, 0, 0], [1, 0, 1, 0, 0]) == pytest.approx(0.45)
    # All scores equal -> AP is the positive rate.
    assert metrics.average_precision([1, 0, 0, 0], [0, 0, 0, 0]) == pytest.approx(0.25)
    assert metrics.average_precision([0, 0], [0.1, 0.2]) is None


def test_roc_auc_hand_checked():
    # pos {1, 0} vs neg {1, 0, 0}: wins/ties = (.5+1+1) + (0+.5+.5) = 3.5 of 6.
    assert metrics.roc_auc([1, 1, 0, 0, 0], [1, 0, 1, 0, 0]) == pytest.approx(3.5 / 6)
    assert metrics.roc_auc([1, 1], [0.2, 0.3]) is None


@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_sklearn(seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 200)
    y[0], y[1] = 0, 1
    s = rng.integers(0, 7, 200) / 6.0  # many ties
    assert metrics.average_precision(y, s) == pytest.approx(average_precision_score(y, s))
    assert metrics.roc_auc(y, s) == pytest.approx(roc_auc_score(y, s))
    c = rng.random(200)  # continuous scores, no ties
    assert metrics.average_precision(y, c) == pytest.approx(average_precision_score(y, c))
    assert metrics.roc_auc(y, c) == pytest.approx(roc_auc_score(y, c))


def test_metrics_where_sklearn_has_no_answer_are_none():
    import math
    import warnings

    # No positive: sklearn warns and scores 0 (an "always wrong" row); ours is undefined.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert average_precision_score([0, 0, 0], [0.1, 0.5, 0.9]) == 0
        # One class: sklearn 1.9 warns and returns nan (older versions raised).
        assert math.isnan(roc_auc_score([1, 1], [0.2, 0.3]))
    assert metrics.average_precision([0, 0, 0], [0.1, 0.5, 0.9]) is None
    assert metrics.average_precision([], []) is None
    # Only positives: AP is defined (every threshold is all precision), AUC is not.
    assert metrics.average_precision([1, 1], [0.2, 0.3]) == 1.0
    assert metrics.roc_auc([1, 1], [0.2, 0.3]) is None
    assert metrics.roc_auc([0, 0, 0], [0.1, 0.5, 0.9]) is None
    assert metrics.roc_auc([], []) is None
    for fn in (metrics.average_precision, metrics.roc_auc):
        with pytest.raises(ValueError, match="differ in shape"):
            fn([1, 0, 1], [0.5, 0.5])
    # numpy input, as benchmarks/probe_vision_tower.py and score() pass lists
    import numpy as np

    assert metrics.average_precision(np.array([1, 0]), np.array([0.9, 0.1])) == 1.0


def test_a_task_without_positives_has_no_ap_and_the_averages_skip_it():
    items = [make_item(id=f"p{k}", task="Pan_Left", answer="B" if k == 0 else "A")
             for k in range(3)]
    items += [make_item(id=f"t{k}", task="Tilt_Up", answer="A") for k in range(3)]
    preds = {i.id: {"id": i.id, "response": _resp(i.answer), "p_yes": 0.5} for i in items}
    b = score(items, preds)["binary"]
    tilt = b["per_task"]["Tilt_Up"]
    assert (tilt["ap"], tilt["ap_prob"], tilt["auc"], tilt["auc_prob"]) == (None,) * 4
    assert tilt["acc"] == 100.0 and tilt["positives"] == 0
    pan = b["per_task"]["Pan_Left"]
    # all p_yes tie: AP of p_yes is the positive rate, AUC of p_yes one half
    assert (pan["ap"], pan["ap_prob"], pan["auc"], pan["auc_prob"]) == pytest.approx(
        (100.0, 100 / 3, 100.0, 50.0), abs=1e-3)
    assert b["avg_ap"] == 100.0 and b["avg_ap_prob"] == pytest.approx(100 / 3, abs=1e-3)
    assert b["avg_acc"] == 100.0  # accuracy is defined for both tasks


def _binary_items():
    # Pan_Left: truths 1,1,0,0,0 ; Zoom_In: truths 1,0
    truths = {"Pan_Left": [1, 1, 0, 0, 0], "Zoom_In": [1, 0]}
    items = []
    for task, ys in truths.items():
        for k, y in enumerate(ys):
            items.append(make_item(id=f"{task}_{k}", task=task, answer="B" if y else "A"))
    return items


def _resp(letter):
    return f"<observation>o</observation><think>t</think><answer>{letter}</answer>"


def test_binary_scoring_hand_checked():
    items = _binary_items()
    preds = {
        # Pan_Left hard answers 1,0,1,0,0 -> AP .45 (see above); item 3 unparseable counts as
        # wrong (truth 0 -> scored 1), item 4 missing counts as wrong too (scored 1).
        "Pan_Left_0": {"id": "Pan_Left_0", "response": _resp("B"), "p_yes": 0.9},
        "Pan_Left_1": {"id": "Pan_Left_1", "response": _resp("A"), "p_yes": 0.4},
        "Pan_Left_2": {"id": "Pan_Left_2", "response": "Yes", "p_yes": 0.6},
        "Pan_Left_3": {"id": "Pan_Left_3", "response": "maybe?", "p_yes": 0.1},
        "Zoom_In_0": {"id": "Zoom_In_0", "response": _resp("B")},
        "Zoom_In_1": {"id": "Zoom_In_1", "response": _resp("A")},
    }
    m = score(items, preds)
    pan = m["binary"]["per_task"]["Pan_Left"]
    # hard scores: [1, 0, 1 (said Yes), 1 (unparseable, truth 0), 1 (missing, truth 0)]
    # thresholds: 1 -> tp 1 of 4 predicted (P .25, R .5); 0 -> P 2/5, R 1 -> AP .125 + .2 = 32.5%
    assert pan["ap"] == pytest.approx(32.5)
    assert (pan["n"], pan["positives"], pan["parse_failures"], pan["missing"]) == (5, 2, 1, 1)
    # p_yes [.9, .4, .6, .1, 1.0 (missing -> wrong)] ranked: 1.0(0) .9(1) .6(0) .4(1) .1(0);
    # P@2 = 1/2 (R .5), P@4 = 2/4 (R 1) -> AP = .25 + .25 = 50%.
    assert pan["ap_prob"] == pytest.approx(50.0)
    assert pan["acc"] == pytest.approx(20.0)  # only item 0 is right
    zoom = m["binary"]["per_task"]["Zoom_In"]
    assert zoom["ap"] == pytest.approx(100.0) and zoom["ap_prob"] is None
    assert m["binary"]["avg_ap"] == pytest.approx((32.5 + 100.0) / 2)
    assert m["binary"]["avg_ap_prob"] is None


@pytest.mark.slow
def test_chance_row_on_camerabench(full_camerabench_dir, tmp_path):
    """The seed's Random Chance row (12.2) from the full official files."""
    from camreasoner.data import readers

    items = readers.read_camerabench_binary(full_camerabench_dir / "binary_classification")
    m = score(items, chance_predictions(items))
    per = m["binary"]["per_task"]
    assert round(per["Move_In"]["ap"], 1) == 29.3
    assert round(per["Static"]["ap"], 1) == 9.7
    assert round(m["binary"]["avg_ap"], 1) == 12.2
    assert all(v["ap"] == pytest.approx(100 * v["positives"] / v["n"], abs=1e-3)
               for v in per.values())


def _pair_items(skill, task, n, rights):
    """One pair; ``rights`` maps role -> answered right."""
    from camreasoner.data.schema import VQA_ROLES

    items, preds = [], {}
    for role in VQA_ROLES:
        v, q = (p.split("_")[0] for p in role.split("."))
        answer = "B" if v == q else "A"
        iid = f"{skill}/{task}/{n}/{role}"
        items.append(make_item(id=iid, task=task, skill=skill, pair_id=f"{skill}/{task}/{n}",
                               role=role, answer=answer))
        said = answer if rights[role] else ("A" if answer == "B" else "B")
        preds[iid] = {"id": iid, "response": _resp(said)}
    return items, preds


def test_vqa_pair_metrics_hand_checked():
    items, preds = _pair_items("has_motion", "has_pan_left", 1, {
        "pos_video.pos_question": True, "neg_video.pos_question": True,
        "pos_video.neg_question": False, "neg_video.neg_question": True})
    items2, preds2 = _pair_items("has_motion", "has_pan_left", 2, dict.fromkeys(
        ["pos_video.pos_question", "neg_video.pos_question", "pos_video.neg_question",
         "neg_video.neg_question"], True))
    items3, preds3 = _pair_items("motion_speed", "x", 1, dict.fromkeys(
        ["pos_video.pos_question", "neg_video.pos_question", "pos_video.neg_question",
         "neg_video.neg_question"], False))
    m = score(items + items2 + items3, {**preds, **preds2, **preds3})
    hm = m["vqa"]["per_skill"]["has_motion"]
    # acc 7/8; questions right: pair1 pos_q only (1 of 2), pair2 both -> 3/4; videos: pair1
    # neg video only, pair2 both -> 3/4; groups: pair2 -> 1/2.
    assert (hm["acc"], hm["q_acc"], hm["img_acc"], hm["group_acc"]) == (87.5, 75.0, 75.0, 50.0)
    assert m["vqa"]["per_skill"]["motion_speed"]["acc"] == 0.0
    # Weighted by question count: (7 + 0) / 12.
    assert m["vqa"]["avg_overall"] == pytest.approx(100 * 7 / 12)


def test_weighted_overall_formula():
    # Two skills: 80% over 300 questions and 60% over 100 -> (240 + 60) / 400 = 75%.
    assert weighted_overall({"a": 80.0, "b": 60.0}, {"a": 300, "b": 100}) == pytest.approx(75.0)


def test_score_files_and_cli(tmp_path):
    from camreasoner.cli import main

    items = _binary_items()
    write_items(tmp_path / "items.jsonl", items)
    with open(tmp_path / "pred.jsonl", "w") as f:
        f.writelines(json.dumps({"id": it.id, "response": _resp(it.answer), "p_yes": 0.5})
                     + "\n" for it in items)
        f.write('{"id": "Zoom_In_1", "resp')  # truncated last line of a killed run
    m = score_files(tmp_path / "items.jsonl", tmp_path / "pred.jsonl")
    assert m["binary"]["avg_ap"] == 100.0 and len(m["items_sha256"]) == 64
    assert main(["eval", "score", "--items", str(tmp_path / "items.jsonl"), "--predictions",
                 str(tmp_path / "pred.jsonl"), "--out", str(tmp_path / "m.json")]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["binary"]["avg_ap"] == 100.0


def test_bad_predictions_are_named(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text('{"id": "a", "response": "B", "p_yes": 1.5}\n')
    with pytest.raises(DataError, match="item 'a': field 'p_yes'"):
        read_predictions(p)
    p.write_text('{"id": "a"}\n{"id": "b", "response": "x"}\n')
    with pytest.raises(DataError, match="item 'a': field 'response': missing"):
        read_predictions(p)
    p.write_text('{"id": "a", "respo\n{"id": "b", "response": "x"}\n')
    with pytest.raises(DataError, match="p.jsonl:1: invalid JSON"):
        read_predictions(p)


def _pan_left_items(positives):
    # one binary task, four clips; options A. No / B. Yes as CameraBench's binary items
    return [make_item(id=f"c{k}", video=f"c{k}.mp4", answer="B" if k in positives else "A")
            for k in range(4)]


@pytest.mark.slow
def test_permutation_test_of_a_perfect_binary_predictor_hand_checked():
    from camreasoner.eval.permutation import clip_permutation_test

    items = _pan_left_items({0})
    preds = {i.id: {"id": i.id, "response": f"<answer>{i.answer}</answer>"} for i in items}
    r = clip_permutation_test(items, preds, rounds=1500, seed=1)["binary.avg_ap"]
    # The one Yes lands on the positive clip in 1/4 of the shuffles (AP 100); otherwise the
    # positive ties at 0 with two negatives under one Yes: AP = 1 * 1/4 = 25. Null mean =
    # .25 * 100 + .75 * 25 = 43.75; p = P(shuffled >= 100) = 1/4.
    assert r["observed"] == 100.0
    assert r["null_mean"] == pytest.approx(43.75, abs=2.0)
    assert r["p"] == pytest.approx(0.25, abs=0.03)


def test_permutation_test_of_a_constant_answer_finds_nothing():
    from camreasoner.eval.permutation import clip_permutation_test

    items = _pan_left_items({0, 2})
    preds = {i.id: {"id": i.id, "response": "<answer>A</answer>"} for i in items}
    r = clip_permutation_test(items, preds, rounds=50)["binary.avg_ap"]
    # the same answer for every clip: every shuffle scores the positive rate, 2/4
    assert r == {"observed": 50.0, "null_mean": 50.0, "null_p95": 50.0, "p": 1.0}


def test_permutation_test_of_multiple_choice_hand_checked():
    from camreasoner.eval.permutation import clip_permutation_test

    opts = ["A. pan left", "B. pan right", "C. tilt up", "D. static"]
    items = [make_item(id=f"m{k}", video=f"m{k}.mp4", options=opts, answer="ABCD"[k],
                       task="which_motion", question="How does the camera move?")
             for k in range(4)]
    preds = {i.id: {"id": i.id, "response": f"<answer>{i.answer}</answer>"} for i in items}
    r = clip_permutation_test(items, preds, rounds=4000, seed=2)["mc.which_motion.acc"]
    # a random permutation of 4 fixes 1 of the 4 on average (null mean 25 %) and all 4 in
    # 1 of 4! = 24 (p = 1/24 = 0.042)
    assert r["observed"] == 100.0
    assert r["null_mean"] == pytest.approx(25.0, abs=2.0)
    assert r["p"] == pytest.approx(1 / 24, abs=0.01)


def test_permutation_test_rejects_what_it_cannot_test():
    from camreasoner.eval.permutation import clip_permutation_test

    items = _pan_left_items({0})
    with pytest.raises(ValueError, match="rounds=0"):
        clip_permutation_test(items, {}, rounds=0)
    open_ended = [make_item(id="o1", options=[], answer="pans left", task="captioning")]
    with pytest.raises(ValueError, match="no binary, multiple-choice or VQA statistic"):
        clip_permutation_test(open_ended, {}, rounds=5)


def test_eval_permute_cli_writes_the_test(tmp_path):
    from camreasoner.cli import main

    items = _pan_left_items({1})
    write_items(tmp_path / "items.jsonl", items)
    (tmp_path / "p.jsonl").write_text("".join(
        json.dumps({"id": i.id, "response": f"<answer>{i.answer}</answer>"}) + "\n" for i in items))
    assert main(["eval", "permute", "--items", str(tmp_path / "items.jsonl"), "--predictions",
                 str(tmp_path / "p.jsonl"), "--rounds", "20", "--out", str(tmp_path / "t.json")]) == 0
    out = json.loads((tmp_path / "t.json").read_text())
    assert out["rounds"] == 20 and out["tests"]["binary.avg_ap"]["observed"] == 100.0
    assert out["items"] == str(tmp_path / "items.jsonl")


def test_seed_answer_reading_hand_checked():
    from camreasoner.answers import read_answer, seed_letter

    yn = ["A. No", "B. Yes"]
    cases = {  # response -> (the seed's eval_bench.py letter, our strict letter)
        "<answer>B</answer>": ("B", "B"),
        "<answer>b</answer>": ("B", None),  # first character, upper-cased
        "<answer>B. Yes</answer>": ("B", "B"),
        "<answer>(B)</answer>": (None, "B"),  # "(" is not a letter
        "<answer>Yes</answer>": (None, "B"),  # "Y" is no option's letter
        "<answer></answer>B": (None, None),  # an empty block: the whole text, "<" first
        "<answer>A</answer><answer>B</answer>": ("A", None),  # the first block; ours: hedged
        "B because the view slides": ("B", None),  # no tags: the whole text's first letter
        "< answer >B< /answer >": (None, "B"),  # the seed: no tag normalisation, "<" first
    }
    for response, (seed, strict) in cases.items():
        assert seed_letter(response, yn) == seed, response
        assert read_answer(response, yn, "seed") == seed, response
        assert read_answer(response, yn, "strict") == strict, response


def test_binary_accuracy_per_primitive_and_its_mean_hand_checked():
    from camreasoner.data.schema import Item
    from camreasoner.eval.score import score

    def item(i, task, answer):
        return Item(id=f"{task}{i}", video=f"{i}.mp4", question="q", options=["A. No", "B. Yes"],
                    answer=answer, task=task)

    items = [item(0, "Pan_Left", "B"), item(1, "Pan_Left", "A"), item(2, "Pan_Left", "A"),
             item(3, "Tilt_Up", "B"), item(4, "Tilt_Up", "A")]
    preds = {"Pan_Left0": "<answer>b</answer>", "Pan_Left1": "<answer>A</answer>",
             "Pan_Left2": "<answer>B</answer>", "Tilt_Up3": "<answer>(B)</answer>",
             "Tilt_Up4": "<answer>A</answer>"}
    preds = {k: {"id": k, "response": v} for k, v in preds.items()}
    seed = score(items, preds, reading="seed")["binary"]
    # seed: Pan_Left 2 of 3 right ("b" reads B), Tilt_Up 1 of 2 ("(B)" unreadable)
    assert seed["per_task"]["Pan_Left"]["acc"] == pytest.approx(100 * 2 / 3, abs=1e-3)
    assert seed["per_task"]["Tilt_Up"]["acc"] == 50.0
    assert seed["avg_acc"] == pytest.approx((200 / 3 + 50) / 2, abs=1e-3)
    strict = score(items, preds, reading="strict")["binary"]
    # strict: "b" unreadable, "(B)" reads B: Pan_Left 1 of 3, Tilt_Up 2 of 2
    assert strict["per_task"]["Pan_Left"]["acc"] == pytest.approx(100 / 3, abs=1e-3)
    assert strict["per_task"]["Tilt_Up"]["acc"] == 100.0
    assert strict["per_task"]["Pan_Left"]["parse_failures"] == 1


@pytest.mark.slow
def test_eval_score_reads_answers_as_the_run_did(tmp_path):
    import json

    from camreasoner.data.schema import Item, write_items
    from tests.conftest import run_cli

    write_items(tmp_path / "items.jsonl", [
        Item(id="a", video="a.mp4", question="q", options=["A. No", "B. Yes"], answer="B",
             task="Pan_Left")])
    run = tmp_path / "run"
    run.mkdir()
    (run / "predictions.jsonl").write_text(json.dumps({"id": "a", "response": "<answer>b</answer>"}) + "\n")
    for config, want in ((None, 100.0), ({"answer_reading": "strict"}, 0.0),
                         ({"answer_reading": "seed"}, 100.0)):
        if config is not None:
            (run / "config.json").write_text(json.dumps(config))
        r = run_cli(["eval", "score", "--items", str(tmp_path / "items.jsonl"), "--predictions",
                     str(run / "predictions.jsonl"), "--out", str(tmp_path / "m.json")])
        assert r.returncode == 0, r.stderr
        m = json.loads((tmp_path / "m.json").read_text())
        assert m["binary"]["avg_acc"] == want, config


VQA_ALL = tuple(VQA_ROLES)


def test_an_incomplete_vqa_pair_is_the_one_named():
    """Regression: the error named the skill's first pair, not the incomplete one."""
    items, preds = _pair_items("has_motion", "has_pan_left", 1, dict.fromkeys(VQA_ALL, True))
    items2, preds2 = _pair_items("has_motion", "has_pan_left", 2, dict.fromkeys(VQA_ALL, True))
    items2 = [i for i in items2 if i.role != "neg_video.neg_question"]
    with pytest.raises(DataError, match=r"item 'has_motion/has_pan_left/2': field 'role'"):
        score(items + items2, {**preds, **preds2})


def test_permutation_test_of_vqa_items():
    """Regression: eval permute raised on VQA items. A perfect answerer on 6 pairs scores 100;
    its answers shuffled among the 24 items of the task score less almost always."""
    from camreasoner.eval.permutation import clip_permutation_test

    items, preds = [], {}
    for n in range(1, 7):
        i, p = _pair_items("has_motion", "has_pan_left", n, dict.fromkeys(VQA_ALL, True))
        items += i
        preds.update(p)
    result = clip_permutation_test(items, preds, rounds=200, seed=0)
    assert set(result) == {"vqa.avg_overall"}
    assert result["vqa.avg_overall"]["observed"] == 100.0
    assert result["vqa.avg_overall"]["null_mean"] < 75 and result["vqa.avg_overall"]["p"] < 0.05
