"""The answer parser: one owner for reading model responses, used by rewards and evaluation.

A response in the Observation-Think-Answer format::

    <observation>…</observation><think>…</think><answer>B</answer>

Everything here runs in linear time in the response length (one tokenising regex pass, no
backtracking patterns over the whole text) and never raises on any string, so rewards can be
called on adversarial RL samples.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

TAGS: tuple[str, ...] = ("observation", "think", "answer")

# Tag normalisation ("< /think >", "<THINK>", "</ answer>" -> canonical). Candidates are "<...>"
# spans of at most 40 characters, so each "<" costs a bounded scan (the pattern starts with a
# literal, which the regex engine finds with a fast search).
_TAG_CANDIDATE_RE = re.compile(r"<[^<>]{1,40}>")
# Past this many "<" a response is tag soup whatever its spelling; only canonical tags count then
# (this bounds the normalisation's per-tag work).
MAX_NORMALISED = 4096
_TAG_NAMES = frozenset(TAGS)
# More tags than this is tag soup: it cannot be well formed, and is read without a per-tag loop.
MAX_TAGS_SCANNED = 64

# Answer text forms that name one letter: "B", "B.", "(B)", "B)", "B:", "B. Yes".
_LETTER_RE = re.compile(r"\(?([A-Z])(?:\)|\.|:)?(?:\s+(.*))?", re.DOTALL)
# A second standalone capital letter in the rest ("A or B") means a hedged answer.
_STANDALONE_LETTER_RE = re.compile(r"(?<![A-Za-z])[A-Z](?![A-Za-z])")
_SOLUTION_RE = re.compile(r"^\s*<answer>\s*(.*?)\s*</answer>\s*$", re.DOTALL)

# A bare response (no tags) is read as an answer only when it is this short: a model that
# writes a paragraph without tags has not answered.
MAX_BARE_ANSWER_CHARS = 64


def _canonical_tag(m: re.Match) -> str:
    inner = "".join(m.group(0)[1:-1].split()).lower()
    closing = inner.startswith("/")
    name = inner[1:] if closing else inner
    return f"<{'/' if closing else ''}{name}>" if name in _TAG_NAMES else m.group(0)


def normalize_tags(text: str) -> str:
    """Rewrite spaced or upper-case O-T-A tags to their canonical form."""
    if text.count("<") > MAX_NORMALISED:
        return text
    return _TAG_CANDIDATE_RE.sub(_canonical_tag, text)


@dataclass
class ParsedResponse:
    """What a response contains, block by block. ``None`` marks a block that is absent."""

    observation: str | None = None
    think: str | None = None
    answer: str | None = None
    well_formed: bool = False
    tag_sequence: list[str] = field(default_factory=list)  # e.g. ["observation", "/observation", …]
    outside_text: str = ""  # non-whitespace text outside the blocks, joined


def parse_response(text: str) -> ParsedResponse:
    """Split a response into its O-T-A blocks.

    ``well_formed`` is True exactly when the tags are one ``<observation>``, then one ``<think>``,
    then one ``<answer>``, each closed, each non-empty after stripping, with only whitespace
    outside them. A block's text is that of its first complete occurrence; a tag inside another
    open block does not open a block. Responses with more than :data:`MAX_TAGS_SCANNED` tags are
    tag soup: never well formed, and their blocks are read by plain search (first opening tag to
    the next closing tag). Results are cached for the last few texts, since each reward parses
    the same response.
    """
    if not isinstance(text, str):
        return ParsedResponse()
    return _parse_cached(text)


@functools.lru_cache(maxsize=32)
def _parse_cached(text: str) -> ParsedResponse:
    text = normalize_tags(text)
    counts = {name: text.count(f"<{name}>") for name in TAGS}
    closes = {name: text.count(f"</{name}>") for name in TAGS}
    if sum(counts.values()) + sum(closes.values()) > MAX_TAGS_SCANNED:
        return _parse_tag_soup(text, counts, closes)
    parsed = ParsedResponse()
    outside: list[str] = []
    open_tag: str | None = None
    open_end = 0
    last_end = 0
    blocks: dict[str, str] = {}
    for m in re.finditer(r"<(/?)(observation|think|answer)>", text):
        closing, name = m.group(1) == "/", m.group(2)
        parsed.tag_sequence.append(("/" if closing else "") + name)
        if open_tag is None:
            outside.append(text[last_end:m.start()])
            if not closing:
                open_tag, open_end = name, m.end()
        elif closing and name == open_tag:
            blocks.setdefault(name, text[open_end:m.start()])
            open_tag = None
        last_end = m.end()
    if open_tag is None:
        outside.append(text[last_end:])
    parsed.outside_text = "".join(s.strip() for s in outside)
    parsed.observation = _strip_or_none(blocks.get("observation"))
    parsed.think = _strip_or_none(blocks.get("think"))
    parsed.answer = _strip_or_none(blocks.get("answer"))
    expected = ["observation", "/observation", "think", "/think", "answer", "/answer"]
    parsed.well_formed = (
        parsed.tag_sequence == expected
        and not parsed.outside_text
        and bool(parsed.observation)
        and bool(parsed.think)
        and bool(parsed.answer)
    )
    return parsed


def _parse_tag_soup(text: str, counts: dict[str, int], closes: dict[str, int]) -> ParsedResponse:
    parsed = ParsedResponse()
    # The sequence keeps only the counts' information extract_letter needs.
    parsed.tag_sequence = [n for n in TAGS for _ in range(counts[n])] + [
        "/" + n for n in TAGS for _ in range(closes[n])]
    for name in TAGS:
        start = text.find(f"<{name}>")
        if start < 0:
            continue
        start += len(name) + 2
        end = text.find(f"</{name}>", start)
        if end >= 0:
            setattr(parsed, name, text[start:end].strip())
    parsed.outside_text = "(tag soup)"
    return parsed


def _strip_or_none(s: str | None) -> str | None:
    return None if s is None else s.strip()


def letter_from_answer_text(answer: str | None, options: Sequence[str] | None = None) -> str | None:
    """The single option letter an answer names, or None when it names none or several.

    Accepts ``B``, ``B.``, ``(B)``, ``B)``, ``B. Yes``; with ``options`` also the bare option
    text (``Yes``) and rejects ``B. No`` when option B is ``Yes``. Rejects ``A or B``, ``A, B``,
    ``AB``, lower-case letters and the empty string.
    """
    if not answer:
        return None
    answer = answer.strip()
    option_texts = _option_texts(options)
    m = _LETTER_RE.fullmatch(answer)
    if m:
        letter, rest = m.group(1), (m.group(2) or "").strip()
        if option_texts and letter not in option_texts:
            return None
        if rest:
            if _STANDALONE_LETTER_RE.search(rest):
                return None
            if option_texts and rest.rstrip(".").lower() != option_texts[letter].lower():
                return None
        return letter
    if option_texts:
        wanted = answer.rstrip(".").lower()
        hits = [letter for letter, t in option_texts.items() if t.lower() == wanted]
        if len(hits) == 1:
            return hits[0]
    return None


def _option_texts(options: Sequence[str] | None) -> dict[str, str]:
    texts: dict[str, str] = {}
    for opt in options or ():
        m = re.match(r"([A-Z])\.\s*(.*)", opt.strip(), re.DOTALL)
        if m:
            texts[m.group(1)] = m.group(2).strip()
    return texts


def extract_letter(
    response: str, options: Sequence[str] | None = None, require_tags: bool = True
) -> str | None:
    """The answer letter of a response, or None when it cannot be read unambiguously.

    With ``require_tags`` (rewards) the letter must sit in exactly one ``<answer>`` block. Without
    it (evaluating models that were never taught the format) a response with no answer tags is
    read whole, if it is at most :data:`MAX_BARE_ANSWER_CHARS` long.
    """
    if not isinstance(response, str):
        return None
    parsed = parse_response(response)
    n_answer_blocks = parsed.tag_sequence.count("answer")
    if n_answer_blocks == 1 and parsed.answer is not None:
        return letter_from_answer_text(parsed.answer, options)
    if n_answer_blocks == 0 and not require_tags:
        bare = response.strip()
        if len(bare) <= MAX_BARE_ANSWER_CHARS:
            return letter_from_answer_text(bare, options)
    return None


def parse_solution(solution: str) -> str:
    """The truth letter from ``"B"`` or ``"<answer>B</answer>"``; raises ValueError otherwise."""
    if not isinstance(solution, str):  # callers turn ValueError into an error naming the record
        raise ValueError(f"solution must be a string, got {type(solution).__name__}")  # noqa: TRY004
    m = _SOLUTION_RE.match(solution)
    inner = m.group(1) if m else solution.strip()
    letter = letter_from_answer_text(inner)
    if letter is None:
        raise ValueError(f"solution {solution!r} does not name one option letter")
    return letter


def format_solution(letter: str) -> str:
    """``"B" -> "<answer>B</answer>"`` (the OneThinker ``solution`` field)."""
    return f"<answer>{letter}</answer>"


ANSWER_READINGS = ("seed", "strict")


def seed_answer_block(text: str) -> str | None:
    """The seed's ``extract_answer`` (its evaluation and its reward): the first
    ``<answer>…</answer>`` block, stripped, or None. The same result as
    ``re.search(r"<answer>\\s*(.*?)\\s*</answer>", text, re.DOTALL).group(1).strip()``: the match
    starts at the first ``<answer>`` with a ``</answer>`` after it (if the first has none, none
    has), and the lazy group ends at the first ``</answer>``; the ``\\s*`` only strip. Two
    ``str.find`` calls instead of that pattern's backtracking, which is cubic in a whitespace run
    after ``<answer>``."""
    if not isinstance(text, str):
        return None
    i = text.find("<answer>")
    if i < 0:
        return None
    j = text.find("</answer>", i + len("<answer>"))
    if j < 0:
        return None
    return text[i + len("<answer>"):j].strip()


def seed_letter(response: str, options: Sequence[str] | None = None) -> str | None:
    """The letter the seed's evaluation reads: ``"…<answer>b</answer>"`` -> ``B``,
    ``"<answer>B. Yes</answer>"`` -> ``B``, ``"Yes"`` -> ``Y`` (then not an option: None), an
    empty answer block falls back to the whole response. None when the first character is not a
    letter A-Z or, with ``options``, not one of their letters. Linear time."""
    if not isinstance(response, str):
        return None
    # eval_bench.py: ``extract_answer(text)`` returns "" without a block, so ``or`` falls back
    text = seed_answer_block(response) or response.strip()
    letter = text[:1].upper()
    if not ("A" <= letter <= "Z"):
        return None
    if options is not None and letter not in _option_texts(options):
        return None
    return letter


def read_answer(response: str, options: Sequence[str] | None, reading: str = "strict",
                require_tags: bool = False) -> str | None:
    """The answer letter under an :data:`ANSWER_READINGS` reading: ``seed``
    (:func:`seed_letter`) or ``strict`` (:func:`extract_letter`; ``require_tags`` as there)."""
    if reading == "seed":
        return seed_letter(response, options)
    if reading == "strict":
        return extract_letter(response, options, require_tags=require_tags)
    raise ValueError(f"unknown answer reading {reading!r}; known: {', '.join(ANSWER_READINGS)}")
