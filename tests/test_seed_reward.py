"""The seed's reward (camreasoner.rewards.seed): hand-checked cases beside ours, agreement with the
seed's own patterns and grader, its two documented deviations, bounded time, and the protocol
switch in the verl and TRL adapters."""

from __future__ import annotations

import logging
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camreasoner import rewards
from camreasoner.rewards import seed

YN = ["A. No", "B. Yes"]

# The seed's patterns, verbatim from onethinker_reward.py at 8b71188: the reference the linear
# reimplementations are checked against (on inputs short enough for their backtracking).
SEED_NORMALISE = re.compile(r"\s*(<|>|/)\s*")
SEED_FORMAT = re.compile(
    r"\A\s*<observation>.*?</observation>\s*<think>.*?</think>\s*<answer>.*?</answer>\s*\Z",
    re.DOTALL)
SEED_ANSWER = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.DOTALL)


def seed_extract(text):
    if not isinstance(text, str):
        return None
    m = SEED_ANSWER.search(text)
    return m.group(1).strip() if m else None


def literal_seed(raw_response: str, raw_gt: str) -> tuple[float, float]:
    """(accuracy, format) exactly as the seed's compute_score computes them."""
    from mathruler.grader import grade_answer

    response = SEED_NORMALISE.sub(r"\1", raw_response)
    fmt = 1.0 if SEED_FORMAT.fullmatch(response) else 0.0
    gt = seed_extract(raw_gt) or raw_gt
    ans = seed_extract(response) or response.strip()
    return (1.0 if grade_answer(ans.strip(), gt.strip()) else 0.0), fmt


def ota(answer: str, obs: str = "o", think: str = "t") -> str:
    return f"<observation>{obs}</observation><think>{think}</think><answer>{answer}</answer>"


CHAIN = ("The whole view slides to the right with no parallax, so the camera pans left. " * 16
         + "The answer is B.")  # 1,264 characters, no tags

# id, response, truth, seed accuracy, seed format, our accuracy, our format (ours with the
# yes/no options, so that "Yes" reads as B). Every value checked by hand against the rules (the
# seed's: rewards/seed.py's docstring; ours: camreasoner.answers) and by running both.
TABLE = [
    ("well-formed", ota("B"), "B", 1, 1, 1, 1),
    # The seed's .*? allows empty blocks; ours requires each block non-empty.
    ("empty blocks", "<observation></observation><think></think><answer>B</answer>", "B",
     1, 1, 1, 0),
    # The seed's last .*? swallows "</answer><answer>A"; it reads the first block. Ours: two
    # answers are no answer and no format.
    ("two answer blocks", ota("B") + "<answer>A</answer>", "B", 1, 1, 0, 0),
    ("two answer blocks, first wrong", ota("A") + "<answer>B</answer>", "B", 0, 1, 0, 0),
    # Tags nested inside a block: any text suits the seed's .*?; ours rejects the format but
    # still reads the single answer block.
    ("think nested in observation",
     "<observation><think>o</think></observation><think>t</think><answer>B</answer>", "B",
     1, 1, 1, 0),
    # The seed reads the first <answer>, even inside <think>.
    ("answer nested in think", ota("B", think="maybe <answer>A</answer>"), "B", 0, 1, 0, 0),
    # The seed's tags are case-sensitive: no format, and the whole response is graded as the
    # answer (many letters: not B). Ours normalises case.
    ("upper-case tags", "<OBSERVATION>o</OBSERVATION><THINK>t</THINK><ANSWER>B</ANSWER>", "B",
     0, 0, 1, 1),
    ("upper-case answer tag", "<observation>o</observation><think>t</think><ANSWER>B</ANSWER>",
     "B", 0, 0, 1, 1),
    # Both normalise spaced tags (the seed deletes whitespace next to < > /).
    ("spaced tags", "< observation >o< /observation >< think >t< /think >< answer > B < /answer >",
     "B", 1, 1, 1, 1),
    # grade_answer lower-cases; ours wants the upper-case letter.
    ("answer b", ota("b"), "B", 1, 1, 0, 1),
    # grade_answer: "(b)" is a 1-tuple whose element sympy equates with b.
    ("answer (B)", ota("(B)"), "B", 1, 1, 1, 1),
    # grade_answer: "b." and "b)" do not parse in sympy; "b.yes" has more than two letters.
    ("answer B.", ota("B."), "B", 0, 1, 1, 1),
    ("answer B)", ota("B)"), "B", 0, 1, 1, 1),
    ("answer B. Yes", ota("B. Yes"), "B", 0, 1, 1, 1),
    ("answer Yes", ota("Yes"), "B", 0, 1, 1, 1),
    ("answer [B]", ota("[B]"), "B", 1, 1, 0, 1),
    ("answer \\boxed{B}", ota("\\boxed{B}"), "B", 1, 1, 0, 1),
    ("answer A or B", ota("A or B"), "B", 0, 1, 0, 1),
    # An empty answer block: the seed grades the whole response instead (not B).
    ("empty answer block", ota(""), "B", 0, 1, 0, 0),
    # No tags at all: the seed grades the whole response, so a bare letter earns 0.9.
    ("bare B", "B", "B", 1, 0, 0, 0),
    ("bare chain, no tags", CHAIN, "B", 0, 0, 0, 0),
    ("truth <answer>B</answer>", ota("B"), "<answer>B</answer>", 1, 1, 1, 1),
    ("truth <answer>A</answer>", ota("B"), "<answer>A</answer>", 0, 1, 0, 1),
    ("truth B, answer A", ota("A"), "B", 0, 1, 0, 1),
    # 5,000 spaces before </answer>: the seed's normalisation deletes them (they touch "<").
    ("B + 5,000 spaces", ota("B" + " " * 5000), "B", 1, 1, 1, 1),
    # Deviation 1: 5,002 characters inside the block; the seed would credit it (grade_answer
    # deletes the spaces and "%"), we do not grade it. Ours: "%" is not the option text.
    ("B + 5,000 spaces + %", ota("B" + " " * 5000 + "%"), "B", 0, 1, 0, 1),
    # Deviation 2: algebra the seed credits (b + 0 = b), not graded here.
    ("answer B+0", ota("B+0"), "B", 0, 1, 0, 1),
    # Deviation 2: the seed never returns (sympy evaluates 9^(9^(9^9))).
    ("answer 9**9**9**9", ota("9**9**9**9"), "B", 0, 1, 0, 1),
]
DEVIATIONS = {"B + 5,000 spaces + %", "answer B+0"}  # the seed credits these; we score 0
HANGS = {"answer 9**9**9**9"}  # the seed's grade_answer does not finish


@pytest.mark.parametrize("response,truth,seed_acc,seed_fmt,our_acc,our_fmt",
                         [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_seed_and_ours_table(response, truth, seed_acc, seed_fmt, our_acc, our_fmt):
    assert seed.seed_accuracy_reward(response, truth) == seed_acc
    assert seed.seed_format_reward(response) == seed_fmt
    assert seed.seed_score(response, truth) == {
        "score": 0.9 * seed_acc + 0.1 * seed_fmt, "accuracy": seed_acc, "format": seed_fmt}
    assert rewards.accuracy_reward(response, truth, YN) == our_acc
    assert rewards.format_reward(response) == our_fmt


@pytest.mark.parametrize("row", [r for r in TABLE if r[0] not in HANGS], ids=lambda r: r[0])
def test_table_agrees_with_the_seeds_own_code(row):
    name, response, truth, seed_acc, seed_fmt = row[:5]
    want = (1.0 - seed_acc, seed_fmt) if name in DEVIATIONS else (seed_acc, seed_fmt)
    assert literal_seed(response, truth) == want


def test_the_table_has_the_disagreements():
    disagree = {r[0] for r in TABLE if r[3:5] != r[5:7]}
    assert {"empty blocks", "two answer blocks", "think nested in observation",
            "upper-case tags", "answer b", "answer B.", "answer B)", "answer B. Yes",
            "answer Yes", "bare B"} <= disagree


# --- grade_answer's forms, and the two deviations ------------------------------------------
@pytest.mark.parametrize("answer,want", [
    ("B", True), ("b", True), ("(B)", True), ("[B]", True), ("{B}", True), ("$B$", True),
    ("\\boxed{B}", True), ("\\text{B}", True), ("B%", True), ("B degree", True), ("x = B", True),
    ("B.", False), ("B)", False), ("B. Yes", False), ("Yes", False), ("B:", False),
    ("A", False), ("A or B", False), ("Option B", False), ("b.", False),
])
def test_gradable_forms_score_as_grade_answer(answer, want):
    from mathruler.grader import grade_answer

    assert seed.gradable(answer)
    assert grade_answer(answer, "B") is want
    assert seed.seed_accuracy_reward(ota(answer), "B") == float(want)


@pytest.mark.parametrize("answer", ["B+0", "1B", "B*1", "B^1", "-(-B)", "+B", "B/1",
                                    "B" + " %" * 600])
def test_deviations_the_seed_would_credit(answer):
    from mathruler.grader import grade_answer

    assert grade_answer(answer, "B")  # the seed: correct
    assert not seed.gradable(answer)
    assert seed.seed_accuracy_reward(ota(answer), "B") == 0.0  # here: not graded


@pytest.mark.parametrize("answer", [
    "9**9**9**9", "9**99999999", "((((((((9^9)^9)^9)^9)^9)^9)^9)^9)^9", "99999999!",
    "ff(99999999,99999999)", "9<<9<<99999999999", "9\\times\\times99999999", "[b]billion",
    "(b+x" * 100 + ")" * 100, "B" * 1001,
])
def test_sympy_hazards_are_not_graded(answer):
    # Each of these runs grade_answer past 10 s (or out of memory); here they are refused at once.
    t0 = time.perf_counter()
    assert seed.seed_accuracy_reward(ota(answer), "B") == 0.0
    assert time.perf_counter() - t0 < 0.5


def test_whitespace_inside_the_answer_is_stripped_before_the_bound():
    assert seed.extract_answer("<answer>" + " " * 5000 + "B" + " " * 5000 + "</answer>") == "B"
    # The seed's normalisation keeps whitespace that touches no < > /, so this block is long.
    assert seed.seed_accuracy_reward(ota("B" + " " * 5000 + "C"), "B") == 0.0


# --- the linear reimplementations agree with the seed's patterns -----------------------------
def test_re_whitespace_is_str_whitespace():
    # _well_formed and extract_answer strip with str.strip where the seed's patterns use \s.
    chars = "".join(map(chr, range(0x110000)))
    assert set(re.findall(r"\s", chars)) == {c for c in chars if c.isspace()}


TOKENS = ["<observation>", "</observation>", "<think>", "</think>", "<answer>", "</answer>",
          "<", ">", "/", " ", "\n", "\t", "\u3000", "\x1c", "\x85", "a", "B", " < answer > ",
          "< /answer >", "<ANSWER>", "answer"]
SKELETON = ["<observation>", "o", "</observation>", "<think>", "t", "</think>", "<answer>", "B",
            "</answer>"]


@st.composite
def tag_soup(draw):
    if draw(st.booleans()):
        return "".join(draw(st.lists(st.sampled_from(TOKENS), max_size=16)))
    parts = list(SKELETON)  # near-valid responses, so that both answers occur
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.booleans()) or not parts:
            parts.insert(draw(st.integers(0, len(parts))), draw(st.sampled_from(TOKENS)))
        else:
            parts.pop(draw(st.integers(0, len(parts) - 1)))
    return "".join(parts)


@given(tag_soup())
@settings(max_examples=1500, deadline=None)
@pytest.mark.slow
def test_linear_parsing_matches_the_seeds_patterns(text):
    normalised = SEED_NORMALISE.sub(r"\1", text)
    assert seed.normalise(text) == normalised
    for t in (text, normalised):
        assert seed._well_formed(t) == bool(SEED_FORMAT.fullmatch(t))
        assert seed.extract_answer(t) == seed_extract(t)


# --- robustness -----------------------------------------------------------------------------
@given(st.text(max_size=300), st.sampled_from(["A", "B", "<answer>B</answer>", "Z", "", "Yes"]))
@settings(max_examples=300, deadline=None)
def test_seed_reward_never_raises_and_stays_in_range(text, truth):
    logging.disable(logging.WARNING)  # pylatexenc warns on stray LaTeX the grader parses
    try:
        out = seed.seed_score(text, truth)
        verl = rewards.compute_score("s", text, truth, protocol="seed")
    finally:
        logging.disable(logging.NOTSET)
    assert all(0.0 <= out[k] <= 1.0 for k in ("score", "accuracy", "format"))
    assert verl == {"score": out["score"], "acc": out["accuracy"], "format": out["format"]}


@given(st.lists(st.sampled_from(TOKENS + ["b", "(B)", "9**9", "[b]billion"]), max_size=40))
@settings(max_examples=300, deadline=None)
def test_seed_reward_on_tag_soup(parts):
    out = seed.seed_score("".join(parts), "B")
    assert all(0.0 <= out[k] <= 1.0 for k in ("score", "accuracy", "format"))


def test_odd_inputs():
    zeros = {"score": 0.0, "accuracy": 0.0, "format": 0.0}
    assert seed.seed_score(None, "B") == zeros  # the seed reads None as ""
    assert seed.seed_score(123, "B") == zeros  # the seed's re.sub raises: the sample scores 0
    assert seed.seed_score(ota("B"), None) == {"score": pytest.approx(0.1), "accuracy": 0.0,
                                               "format": 1.0}
    assert seed.seed_accuracy_reward(ota("B"), 7) == 0.0


def test_megabyte_adversarial_responses_complete():
    nasty = [
        "<" + " " * 1_000_000 + ">",
        "x" + " " * 1_000_000 + "x",  # the seed's normalisation: quadratic
        "<answer>" + " " * 1_000_000,  # the seed's extract_answer: cubic
        "<answer>" * 125_000,
        "<observation>" + "</observation><think></think><answer></answer>" * 20_000 + "x",
        ("<observation><think>" * 40_000)[:1_000_000],
        "<observation>" + "slides left " * 40_000 + "</observation><think>"
        + "pans left. " * 40_000 + "</think><answer>B</answer>",
    ]
    for text in nasty:
        t0 = time.perf_counter()
        out = seed.seed_score(text, "B")
        assert 0.0 <= out["score"] <= 1.0
        assert time.perf_counter() - t0 < 5.0, text[:40]


# --- the protocol switch --------------------------------------------------------------------
@pytest.mark.parametrize("row", TABLE, ids=lambda r: r[0])
def test_verl_seed_protocol(row):
    _, response, truth, acc, fmt = row[:5]
    out = rewards.compute_score("s", response, truth, {"options": YN}, protocol="seed")
    assert out == {"score": 0.9 * acc + 0.1 * fmt, "acc": acc, "format": fmt}


def test_verl_default_protocol_is_ours():
    info = {"options": YN, "question": "Does the camera pan to the left?", "task": "Pan_Left"}
    for response in (ota("B"), ota("b"), "B"):
        ours = rewards.compute_score("s", response, "B", info)
        assert ours == rewards.compute_score("s", response, "B", info, protocol="camreasoner")
        assert set(ours) == {"score", "acc", "format", "consistency"}


def test_unknown_protocol_and_weights_are_errors():
    with pytest.raises(ValueError, match=r"unknown reward protocol 'seeds'; known: camreasoner, "
                                         r"seed"):
        rewards.compute_score("s", ota("B"), "B", protocol="seeds")
    with pytest.raises(ValueError, match="unknown reward protocol"):
        rewards.trl_reward_funcs(protocol="easyr1")
    with pytest.raises(ValueError, match="unknown reward protocol"):
        rewards.trl_reward_weights(protocol="easyr1")
    with pytest.raises(ValueError, match=r"\['consistency'\] for the seed protocol"):
        rewards.compute_score("s", ota("B"), "B", protocol="seed", w_consistency=0.1)
    with pytest.raises(ValueError, match="for the seed protocol"):
        rewards.trl_reward_weights({"consistency": 1.0}, protocol="seed")


def test_verl_seed_weights_can_be_set():
    out = rewards.compute_score("s", "B", "B", protocol="seed", w_accuracy=0.5, w_format=0.5)
    assert out == {"score": 0.5, "acc": 1.0, "format": 0.0}


def test_trl_seed_protocol():
    funcs = rewards.trl_reward_funcs(protocol="seed")
    assert [f.__name__ for f in funcs] == ["seed_accuracy_reward", "seed_format_reward"]
    assert rewards.trl_reward_weights(protocol="seed") == [0.9, 0.1]
    completions = [[{"role": "assistant", "content": ota("b")}], "B", ota("B.")]
    kw = {"answer": ["B", "<answer>B</answer>", "B"], "options": [YN] * 3}
    assert [f(None, completions, **kw) for f in funcs] == [[1.0, 1.0, 0.0], [1.0, 0.0, 1.0]]
    # ours is unchanged by default
    assert rewards.trl_reward_weights() == [0.1, 0.8, 0.1]
    assert [f.__name__ for f in rewards.trl_reward_funcs()] == [
        "format_reward", "accuracy_reward", "consistency_reward"]
