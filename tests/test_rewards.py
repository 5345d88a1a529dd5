"""Rewards: hand-checked cases for every rule, properties on any string, and the adapters."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camreasoner import prompts, rewards
from camreasoner.rewards import consistency

YN = list(prompts.YES_NO_OPTIONS)
PAN_LEFT_Q = "Does the camera pan to the left?"


def ota(obs, think, ans):
    return f"<observation>{obs}</observation><think>{think}</think><answer>{ans}</answer>"


GOOD_PAN = ota("The whole view slides to the right; near and far move together, with no parallax.",
               "No parallax means rotation. The scene slides right, so the camera pans left.", "B")


# --- format -----------------------------------------------------------------------------------
@pytest.mark.parametrize("text,want", [
    (GOOD_PAN, 1.0),
    ("<observation> a </observation>\n<think> b </think>\n<answer> B </answer>\n", 1.0),
    ("< observation >a< /observation >< think >b</think><ANSWER>B</ANSWER>", 1.0),
    ("<think>b</think><observation>a</observation><answer>B</answer>", 0.0),
    ("<observation>a</observation><answer>B</answer>", 0.0),
    ("<observation>a</observation><think> </think><answer>B</answer>", 0.0),
    ("Sure! <observation>a</observation><think>b</think><answer>B</answer>", 0.0),
    (GOOD_PAN + GOOD_PAN, 0.0),
    ("", 0.0),
])
def test_format(text, want):
    assert rewards.format_reward(text) == want


# --- accuracy ---------------------------------------------------------------------------------
@pytest.mark.parametrize("answer,want", [
    ("B", 1.0), ("B.", 1.0), ("(B)", 1.0), ("B. Yes", 1.0), (" B ", 1.0),
    ("A", 0.0), ("A or B", 0.0), ("A, B", 0.0), ("AB", 0.0), ("", 0.0), ("B. No", 0.0),
])
def test_accuracy_letter_forms(answer, want):
    assert rewards.accuracy_reward(ota("o", "t", answer), "B", YN) == want


def test_accuracy_needs_the_tags_and_accepts_tagged_truth():
    assert rewards.accuracy_reward("B", "B") == 0.0  # outside the tags
    assert rewards.accuracy_reward("The answer is <answer>B</answer>", "<answer>B</answer>") == 1.0
    assert rewards.accuracy_reward(GOOD_PAN + "<answer>B</answer>", "B") == 0.0  # two answers
    assert rewards.accuracy_reward(GOOD_PAN, "not a letter") == 0.0


# --- consistency ------------------------------------------------------------------------------
def test_read_movements():
    rm = consistency.read_movements
    assert rm("the camera pans left, not a truck left") == {"Pan_Left"}
    assert rm("It dollies in while zooming out") == {"Move_In", "Zoom_Out"}
    assert rm("the camera moves forward") == {"Move_In"}
    assert rm("a truck right") == {"Move_Right"}
    assert rm("the camera tilts downward") == {"Tilt_Down"}
    assert rm("the camera rolls counter-clockwise") == {"Roll_Counterclockwise"}
    assert rm("the camera is static") == {"Static"}
    assert rm("it shakes in place") == {"Shake"}
    assert rm("it is not static and does not pan") == set()
    assert rm("the camera is still panning") == set()  # "still" is not read as static


def test_concluded_movement_is_the_last_one_named():
    think = "At first it looks like a truck left. But there is no parallax, so it pans left."
    assert consistency.concluded_movements(think) == {"Pan_Left"}


@pytest.mark.parametrize("response,options,question,task,rule", [
    # grounded, yes/no: concluded pan left, answered Yes to "pan left?"
    (GOOD_PAN, YN, PAN_LEFT_Q, "Pan_Left", "ok"),
    # right letter reached by contradictory reasoning: concludes pan right, answers Yes
    (ota("The view slides to the left.", "So the camera pans right.", "B"), YN, PAN_LEFT_Q,
     "Pan_Left", "R1"),
    # answers No although its conclusion is pan left
    (ota("The view slides right.", "The camera pans left.", "A"), YN, PAN_LEFT_Q, "Pan_Left",
     "R1"),
    # answers No to "zoom in?" after concluding a pan: consistent
    (ota("The view slides right with no parallax.", "The camera pans left.", "A"), YN,
     "Does the camera zoom in?", "Zoom_In", "ok"),
    # the think names no movement
    (ota("Things move.", "Hard to say.", "B"), YN, PAN_LEFT_Q, "Pan_Left", "R1-none"),
    # no readable answer
    (ota("o", "The camera pans left.", "A or B"), YN, PAN_LEFT_Q, "Pan_Left", "R0"),
    # R2a: "no parallax" observed, truck concluded
    (ota("The scene slides right; near and far move together, no parallax.",
         "So the camera trucks left.", "B"), YN, "Does the camera move leftward in the scene?",
     "Move_Left", "R2a"),
    # R2b: parallax observed, pan concluded
    (ota("The scene slides right and near objects move much faster than the background.",
         "So the camera pans left.", "B"), YN, PAN_LEFT_Q, "Pan_Left", "R2b"),
    # R2c: uniform scaling observed, dolly concluded
    (ota("Everything grows uniformly, near and far by the same factor.",
         "So the camera moves forward.", "B"), YN,
     "Does the camera move forward (not zooming in) with respect to the initial frame?",
     "Move_In", "R2c"),
    # R2d: nothing moves, but a tilt is concluded; and a moving view concluded static
    (ota("There is no change between frames.", "The camera tilts up.", "B"), YN,
     "Does the camera tilt upward?", "Tilt_Up", "R2d"),
    (ota("The scene slides to the left.", "The camera is static.", "B"), YN,
     "Is the camera completely still without any motion or shaking?", "Static", "R2d"),
    # R2e: scene slides left, yet "pan left" (which slides it right)
    (ota("The view slides to the left with no parallax.", "The camera pans left.", "B"), YN,
     PAN_LEFT_Q, "Pan_Left", "R2e"),
])
def test_consistency_rules(response, options, question, task, rule):
    score, got = consistency.explain(response, options, question, task)
    assert got == rule
    assert score == (1.0 if rule == "ok" else 0.0)


def test_consistency_multiple_choice_and_question_without_task():
    opts = prompts.make_options(["tilts up", "pans left", "dollies in while panning right"])
    ok = ota("The scene slides right.", "No parallax: the camera pans left.", "B")
    assert consistency.explain(ok, opts)[1] == "ok"
    combo = ota("The image expands and slides left, near things faster.",
                "It dollies in and pans right.", "C")
    assert consistency.explain(combo, opts)[1] == "ok"
    assert consistency.explain(ota("o", "It pans left.", "A"), opts)[1] == "R1"
    # The primitive is read from the question's wording when no task is given.
    assert consistency.explain(GOOD_PAN, YN, PAN_LEFT_Q, None)[1] == "ok"


@pytest.mark.parametrize("style", ["full", "short"])
def test_synthetic_chains_are_consistent(tmp_path, style):
    """Every chain SFT trains on earns every reward, the consistency one included (the short
    chains once ended with the question's primitive, which that reward read as the conclusion:
    every correct No scored 0)."""
    from camreasoner.data.schema import read_items
    from camreasoner.synth.build import build

    build(tmp_path, clips=24, seed=5, size=96, frames=8, progress=False, chain_style=style)
    for name in ("items_binary.jsonl", "items_mc.jsonl"):
        for it in read_items(tmp_path / name):
            parts = rewards.combined(it.extra["response"], it.answer, it.options, it.question,
                                     it.task)
            assert parts == {"accuracy": 1.0, "format": 1.0, "consistency": 1.0,
                             "score": pytest.approx(1.0)}, it.id


# --- combined and adapters --------------------------------------------------------------------
def test_combined_weights():
    parts = rewards.combined(GOOD_PAN, "B", YN, PAN_LEFT_Q, "Pan_Left")
    assert parts["score"] == pytest.approx(1.0)
    wrong = ota("The view slides right.", "The camera pans left.", "A")
    seed = rewards.combined(wrong, "B", YN, PAN_LEFT_Q, "Pan_Left", rewards.SEED_WEIGHTS)
    assert seed == {"accuracy": 0.0, "format": 1.0, "consistency": 0.0,
                    "score": pytest.approx(0.1)}
    with pytest.raises(ValueError, match="unknown reward weights"):
        rewards.combined(GOOD_PAN, "B", weights={"style": 1.0})
    with pytest.raises(ValueError, match=">= 0"):
        rewards.combined(GOOD_PAN, "B", weights={"format": -1.0})


def test_verl_compute_score_signature():
    out = rewards.compute_score("synthetic", GOOD_PAN, "B",
                                {"options": YN, "question": PAN_LEFT_Q, "task": "Pan_Left"})
    assert out == {"score": pytest.approx(1.0), "acc": 1.0, "format": 1.0, "consistency": 1.0}
    out = rewards.compute_score("s", GOOD_PAN, "<answer>A</answer>", None, w_accuracy=0.9,
                                w_format=0.1, w_consistency=0.0)
    assert out["acc"] == 0.0 and out["score"] == pytest.approx(0.1)
    assert rewards.compute_score("s", None, "B")["score"] == 0.0


def test_trl_reward_funcs():
    funcs = rewards.trl_reward_funcs()
    assert [f.__name__ for f in funcs] == ["format_reward", "accuracy_reward",
                                           "consistency_reward"]
    completions = [[{"role": "assistant", "content": GOOD_PAN}], [{"role": "assistant",
                                                                   "content": "B"}]]
    kw = {"answer": ["B", "B"], "options": [YN, YN], "question": [PAN_LEFT_Q] * 2,
          "task": ["Pan_Left"] * 2}
    assert [f(None, completions, **kw) for f in funcs] == [[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]
    assert rewards.trl_reward_weights() == [0.1, 0.8, 0.1]


@given(st.text(max_size=400), st.sampled_from(["A", "B", "<answer>B</answer>", "Z", ""]))
@settings(max_examples=400, deadline=None)
def test_rewards_never_raise_and_stay_in_range(text, truth):
    out = rewards.compute_score("s", text, truth, {"options": YN, "question": PAN_LEFT_Q})
    assert all(0.0 <= out[k] <= 1.0 for k in ("acc", "format", "consistency"))
    assert 0.0 <= out["score"] <= 1.0


@given(st.lists(st.sampled_from(["<observation>", "</observation>", "<think>", "</think>",
                                 "<answer>", "</answer>", "B", "A", " pans left ", " no parallax ",
                                 "< /think >", "\n"]), max_size=60))
@settings(max_examples=400, deadline=None)
def test_tag_soup_never_raises(parts):
    text = "".join(parts)
    parts_out = rewards.combined(text, "B", YN, PAN_LEFT_Q, "Pan_Left")
    if parts_out["format"] == 1.0:
        assert text.count("<answer>") == 1


def test_megabyte_adversarial_responses_complete():
    nasty = [
        ("<observation><think>" * 40000)[:1_000_000],
        "<answer>" + "B " * 500_000,
        "<observation>" + "slides left " * 90000 + "</observation><think>" + "pans left. " * 90000
        + "</think><answer>B</answer>",
        "<" + " " * 1_000_000 + ">",
    ]
    for text in nasty:
        out = rewards.compute_score("s", text, "B", {"options": YN, "task": "Pan_Left"})
        assert 0.0 <= out["score"] <= 1.0
