import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camreasoner import answers

OTA = "<observation>scene slides right</observation><think>no parallax: pan</think><answer>B</answer>"


def test_well_formed_response_splits_into_blocks():
    p = answers.parse_response(OTA)
    assert p.well_formed
    assert (p.observation, p.think, p.answer) == ("scene slides right", "no parallax: pan", "B")


@pytest.mark.parametrize("text", [
    "<observation>a</observation> <think>b</think>\n<answer>B</answer>\n",
    "< observation >a< /observation ><THINK>b</ think ><answer >B</answer>",
])
def test_tag_spacing_and_case_are_normalised(text):
    assert answers.parse_response(text).well_formed


@pytest.mark.parametrize("text", [
    "<think>b</think><observation>a</observation><answer>B</answer>",  # order
    "<observation>a</observation><think>b</think>",  # no answer
    "<observation></observation><think>b</think><answer>B</answer>",  # empty block
    "prefix <observation>a</observation><think>b</think><answer>B</answer>",  # outside text
    "<observation>a</observation><think>b</think><answer>B</answer><answer>A</answer>",  # two
    "<observation>a<think>b</think></observation><answer>B</answer>",  # nested
    "<observation>a</observation><think>b<answer>B</answer>",  # unclosed think
])
def test_malformed_responses_are_not_well_formed(text):
    assert not answers.parse_response(text).well_formed


@pytest.mark.parametrize("answer,options,expected", [
    ("B", None, "B"),
    ("B.", None, "B"),
    ("(B)", None, "B"),
    ("B)", None, "B"),
    ("B. Yes", ["A. No", "B. Yes"], "B"),
    ("Yes", ["A. No", "B. Yes"], "B"),
    ("no", ["A. No", "B. Yes"], "A"),
    ("B. No", ["A. No", "B. Yes"], None),  # letter and text disagree
    ("C", ["A. No", "B. Yes"], None),  # not an option
    ("A or B", None, None),
    ("A, B", None, None),
    ("AB", None, None),
    ("", None, None),
    ("b", None, None),
    ("The answer is B", None, None),
])
def test_letter_from_answer_text(answer, options, expected):
    assert answers.letter_from_answer_text(answer, options) == expected


def test_extract_letter_requires_tags_unless_told():
    assert answers.extract_letter("B") is None
    assert answers.extract_letter("B", require_tags=False) == "B"
    assert answers.extract_letter("Yes.", ["A. No", "B. Yes"], require_tags=False) == "B"
    assert answers.extract_letter(OTA) == "B"
    # Two answer blocks are ambiguous even when they agree.
    assert answers.extract_letter(OTA + "<answer>B</answer>") is None
    # A long untagged paragraph is not an answer.
    assert answers.extract_letter("B " + "x" * 100, require_tags=False) is None


def test_parse_solution():
    assert answers.parse_solution("<answer>B</answer>") == "B"
    assert answers.parse_solution(" A ") == "A"
    with pytest.raises(ValueError, match="does not name one option letter"):
        answers.parse_solution("<answer>A or B</answer>")
    assert answers.format_solution("C") == "<answer>C</answer>"


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_parser_never_raises(text):
    answers.parse_response(text)
    answers.extract_letter(text, ["A. No", "B. Yes"], require_tags=False)


def test_adversarial_megabyte_is_linear():
    # Nested/repeated/unclosed tags and whitespace-padded "<": a quadratic scan would take minutes.
    nasty = ("<observation><think>< " + " " * 50) * 20000 + "<answer>" * 20000
    assert len(nasty) > 1_000_000
    t0 = time.perf_counter()
    p = answers.parse_response(nasty)
    elapsed = time.perf_counter() - t0
    assert not p.well_formed
    # Reported, not asserted as a threshold: see benchmarks for speed.
    print(f"1 MB adversarial parse: {elapsed * 1000:.1f} ms")
