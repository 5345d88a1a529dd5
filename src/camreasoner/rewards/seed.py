"""The seed's RL reward for multiple-choice items, as a named alternative to ours.

Source: ``EasyR1/verl/reward_function/onethinker_reward.py`` of github.com/wuhang03/CamReasoner,
commit 8b71188 (``compute_score``, ``tag_format_reward``, ``accuracy_reward``,
``extract_answer``). Its rules, for a multiple-choice item:

- The response is first normalised with ``re.sub(r"\\s*(<|>|/)\\s*", r"\\1", response)``: every
  whitespace run next to a ``<``, ``>`` or ``/`` is deleted, anywhere in the text (so
  ``< /answer >`` becomes ``</answer>``, and ``B / C`` becomes ``B/C``). The normalised text is
  used for both format and accuracy.
- format = 1 when the normalised response fully matches
  ``\\A\\s*<observation>.*?</observation>\\s*<think>.*?</think>\\s*<answer>.*?</answer>\\s*\\Z``
  (DOTALL), else 0. Tags are case-sensitive; blocks may be empty and may contain other tags.
- The answer is the first ``<answer>…</answer>`` block, stripped; when there is none, or it is
  empty, the whole (normalised, stripped) response is the answer.
- The truth is the first ``<answer>`` block of the ground truth (not normalised), else the
  ground truth as given.
- accuracy = 1 when ``mathruler.grader.grade_answer(answer, truth)`` holds (the problem type is
  forced to "multiple choice"), else 0; any exception scores 0.
- overall = 0.9 accuracy + 0.1 format (``format_weight`` 0.1); any exception for the sample
  scores all three 0.

Where it differs from ours (:mod:`camreasoner.rewards`): our format requires each block once,
non-empty, with no tags nested inside and case-insensitive tags; the seed accepts empty blocks,
nested and repeated blocks, and rejects ``<ANSWER>``. Our accuracy reads one unhedged upper-case
letter (``B``, ``B.``, ``B)``, ``(B)``, ``B. Yes``, and ``Yes`` given the options) from exactly one
answer block; ``grade_answer`` lower-cases and compares text and sympy expressions, so it accepts
``b``, ``(B)``, ``[B]``, ``$B$``, ``\\boxed{B}`` and ``B degree``, rejects ``B.``, ``B)``,
``B. Yes`` and ``Yes``, reads the first of several answer blocks, and credits a bare ``B`` written
outside any tags (0.9 of the reward with no format at all). The seed has no consistency term.

Deviations from the seed, both only for answers no model writes for a letter question, both
scoring accuracy 0 without calling ``grade_answer`` (the seed would hang, or grade them):

1. an answer longer than :data:`MAX_GRADED_ANSWER_CHARS` characters (after stripping);
2. an answer with a character outside letters, whitespace and :data:`GRADABLE_PUNCTUATION`
   (digits and ``+ - * / ^ ! < >`` among them), or a number word (``million``…): those are
   how sympy is made to compute a huge number or simplify a large polynomial.

Rewards here never raise and take time linear in the response, plus one bounded
``grade_answer`` call: the seed's three regular expressions backtrack badly (``"<answer>"`` and
2,000 spaces take 8 s in its ``extract_answer``, ``"a" + 20,000 spaces + "a"`` 5 s in its
normalisation), so each is reimplemented here with the same result in linear time (checked
against the seed's own patterns in tests/test_seed_reward.py).
"""

from __future__ import annotations

import re
from typing import Any

from camreasoner import answers

SEED_SOURCE = ("github.com/wuhang03/CamReasoner@8b71188:"
               "EasyR1/verl/reward_function/onethinker_reward.py")
FORMAT_WEIGHT = 0.1  # the seed's compute_score(format_weight=0.1)

# Deviation 1. grade_answer's normalisation deletes spaces, "$", "%", "\\!", "\\left", unit words
# and the like, so it does accept a letter padded to any length ("B" + " %" * 600 is B): no bound
# is exact. Outer whitespace is stripped before the bound applies ("<answer>B" + 5,000 spaces +
# "</answer>" is still B; the seed's normalisation even removes those spaces, as they touch
# "</answer>"), so the bound only cuts answers with that much filler *inside* them, which a model
# answering with an option letter never writes. 1,000 characters keeps the slowest answer that
# passes the screen below under a second in grade_answer (measured: ~0.7 s for 700 characters of
# nested products "(b(x(b(x…"), and its quadratic passes (comma stripping) cheap.
MAX_GRADED_ANSWER_CHARS = 1000

# Deviation 2. grade_answer hands anything with at most two distinct letters to sympy's
# parse_expr and simplify, and the length bound does not make that safe: "9**9**9**9",
# "((…(9^9)^9…)^9" and "ff(99999999,99999999)" never finish, "[b]billion" builds a list of 10^9
# items (19 s, 8 GB), "(b+x(b+x(…)))" (500 characters) does not simplify within 20 s. Large
# numbers need digits, a number word (grade_answer turns "billion" into "*10^9") or an
# operator; large polynomials need "+" or "-". So only answers made of letters, whitespace and
# this punctuation are graded: that keeps every form grade_answer credits for a letter truth
# ("b", "(B)", "[B]", "{B}", "$B$", "\\boxed{B}", "\\text{B}", "B%", "x=B") and drops only
# contrived algebra the seed would have credited ("B+0", "1B", "B*1", "B^1", "-(-B)", "B/1").
# LaTeX ("\\") is kept: its macros yield products, quotients and powers of letters, never a
# digit, "+" or "-" that sympy could evaluate.
GRADABLE_PUNCTUATION = frozenset("()[]{}.,:;=$%\\")
_NUMBER_WORD = "illion"  # million, billion, trillion (grade_answer is case-sensitive; we are not)

_DELIMITER_SPLIT = re.compile(r"([<>/])")
# Each is a literal, a whitespace run and a literal: the engine tries the run only after finding
# the first literal, and the runs after distinct occurrences are disjoint, so a search is linear.
_OBS_THINK = re.compile(r"</observation>\s*<think>")
_THINK_ANSWER = re.compile(r"</think>\s*<answer>")
_CLOSE = "</answer>"
_OBS_OPEN = "<observation>"


def normalise(text: str) -> str:
    r"""The seed's ``re.sub(r"\s*(<|>|/)\s*", r"\1", text)``, in linear time.

    That substitution deletes exactly the maximal whitespace runs that touch a ``<``, ``>`` or
    ``/`` on either side (a match never starts inside a run: it starts at the run or at the
    delimiter, and its trailing ``\s*`` eats the whole run after), so: split at the delimiters
    and strip each piece on the sides that touch one. The seed's leading ``\s*`` re-scans a run
    that touches none from each of its positions: quadratic in the run.
    """
    parts = _DELIMITER_SPLIT.split(text)  # pieces at even indices, delimiters at odd ones
    if len(parts) == 1:
        return text
    pieces = parts[0::2]
    parts[0::2] = [pieces[0].rstrip(), *map(str.strip, pieces[1:-1]), pieces[-1].lstrip()]
    return "".join(parts)


def extract_answer(text: Any) -> str | None:
    """The seed's ``extract_answer``: :func:`camreasoner.answers.seed_answer_block` (one owner for
    reading the seed's answer block, shared with the seed's evaluation reading)."""
    return answers.seed_answer_block(text)


def _well_formed(text: str) -> bool:
    """The seed's full match of ``\\A\\s*<observation>.*?</observation>\\s*<think>.*?</think>
    \\s*<answer>.*?</answer>\\s*\\Z`` (DOTALL) on normalised text, in linear time.

    The text, stripped, must open with ``<observation>`` and close with ``</answer>``; in between
    the blocks' contents are arbitrary, so a match exists exactly when the earliest
    ``</observation>\\s*<think>`` is followed by some ``</think>\\s*<answer>``. (The seed's
    pattern backtracks through every such pair: cubic in their number.)
    """
    t = text.strip()  # str.strip and re's \s agree on every code point (tested)
    if (len(t) < len(_OBS_OPEN) + len(_CLOSE) or not t.startswith(_OBS_OPEN)
            or not t.endswith(_CLOSE)):
        return False
    middle = t[len(_OBS_OPEN):len(t) - len(_CLOSE)]
    first = _OBS_THINK.search(middle)
    return first is not None and _THINK_ANSWER.search(middle, first.end()) is not None


def gradable(answer: str) -> bool:
    """Whether ``grade_answer`` is called on this answer (the two deviations above)."""
    return (len(answer) <= MAX_GRADED_ANSWER_CHARS
            and all(c.isalpha() or c.isspace() or c in GRADABLE_PUNCTUATION for c in answer)
            and _NUMBER_WORD not in answer.lower())


def _grade(answer: str, truth: str) -> bool:
    if not gradable(answer):
        return False
    # Imported here so that importing camreasoner.rewards does not load sympy. A missing
    # mathruler is a set-up error and is raised, not scored 0.
    from mathruler.grader import grade_answer

    try:
        return bool(grade_answer(answer, truth))
    except Exception:  # noqa: BLE001 - the seed's accuracy_reward scores any exception 0
        return False


def _accuracy(normalised: str, truth: Any) -> float:
    # The seed reads the truth's answer block from the ground truth as given (not normalised).
    gt = extract_answer(truth) or truth or ""
    if not isinstance(gt, str):
        return 0.0  # the seed's gt.strip() raises here, which its accuracy_reward scores 0
    ans = extract_answer(normalised) or normalised.strip()
    return 1.0 if _grade(ans.strip(), gt.strip()) else 0.0


def _normalised(response: Any) -> str | None:
    """The seed's ``re.sub`` of ``item.get("response", "") or ""``; None where that raises."""
    response = response or ""
    return normalise(response) if isinstance(response, str) else None


def seed_format_reward(response: Any, **_: Any) -> float:
    """1.0 when the normalised response is ``<observation>…</observation><think>…</think>
    <answer>…</answer>`` by the seed's pattern, else 0.0."""
    text = _normalised(response)
    return 1.0 if text is not None and _well_formed(text) else 0.0


def seed_accuracy_reward(response: Any, truth: Any, **_: Any) -> float:
    """1.0 when ``grade_answer`` accepts the first answer block (else the whole response) as the
    truth; ``truth`` may be ``B`` or ``<answer>B</answer>``."""
    text = _normalised(response)
    return 0.0 if text is None else _accuracy(text, truth)


def seed_score(response: Any, truth: Any,
               format_weight: float = FORMAT_WEIGHT) -> dict[str, float]:
    """``{"score": 0.9 accuracy + 0.1 format, "accuracy": …, "format": …}``, as the seed's
    ``compute_score`` for one multiple-choice item."""
    text = _normalised(response)
    if text is None:  # the seed's whole-sample fallback
        return {"score": 0.0, "accuracy": 0.0, "format": 0.0}
    fmt = 1.0 if _well_formed(text) else 0.0
    acc = _accuracy(text, truth)
    return {"score": (1.0 - format_weight) * acc + format_weight * fmt, "accuracy": acc,
            "format": fmt}
