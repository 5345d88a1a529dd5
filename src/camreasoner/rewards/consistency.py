"""The consistency reward: is the chosen answer grounded in the response's own reasoning?

The seed's claim is RL that "penalizes hallucinations and enforces consistency"; its rewards only
checked format and the letter. This reward checks, with the taxonomy's vocabulary:

R0. There is one readable answer letter (else 0).
R1. The *conclusion* of ``<think>`` (its last sentence that names a camera movement, with
    negated mentions such as "not a pan" skipped) agrees with the chosen option:
    - yes/no items: the question's primitive P (from the item's task, or read from the question)
      is among the concluded movements when the answer is Yes, and is not when it is No;
    - other multiple choice: every movement named by the chosen option is concluded.
    A think that names no movement is not grounded (0).
R2. When the think concludes a single movement, the ``<observation>`` asserts no cue that
    contradicts the movement the answer asserts (cues of combined movements legitimately mix,
    so combinations are judged by R1 alone):
    a. "no parallax" / "move together" with a translation (truck, pedestal, dolly);
    b. parallax ("near objects move faster", "strong parallax") with a pan, tilt or zoom;
    c. uniform scaling ("scale uniformly", "same factor") with a dolly;
    d. nothing moving ("no change", "nothing … moves") with any movement, and a moving view with
       Static;
    e. the scene sliding the wrong way: a pan or truck left moves the scene right, a tilt or
       pedestal up moves it down (``camreasoner.taxonomy`` conventions).

Score 1 when R0-R2 hold, else 0. Only bounded windows are read (the first 4,000 characters of the
observation, the last 4,000 of the think), so the cost is linear in the response and bounded
after parsing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from camreasoner import answers, taxonomy
from camreasoner.prompts import split_option

WINDOW = 4000
_NEGATORS = {"not", "no", "never", "without", "isn't", "isnt", "rather", "instead", "nor",
             "neither", "doesn't", "doesnt", "didn't", "didnt"}
# Words of the vocabulary that are too ambiguous to read as a movement ("still" as in "still
# pans", "fixed" as in "fixed on the subject").
_AMBIGUOUS = {"still", "fixed", "boom"}
_MOVEMENT_TERMS = ("dolly", "truck", "pedestal", "pan", "tilt", "roll", "zoom", "static", "shake")

_WORD_RE = re.compile(r"[a-z]+(?:['-][a-z]+)*")
_SENTENCE_RE = re.compile(r"[^.!?;\n]+")
_CLAUSE_RE = re.compile(r"[,;:()]|\bbut\b|\bso\b")

# (term, direction) -> primitive, from the taxonomy.
_PRIMITIVE_OF = {(p.term, p.direction): p.name for p in taxonomy.PRIMITIVES}
_DIRECTION_OF = {w: canon for canon, words in taxonomy.DIRECTION_WORDS.items() for w in words}

TRANSLATIONS = {"Move_In", "Move_Out", "Move_Left", "Move_Right", "Move_Up", "Move_Down"}
ROTATIONS_ZOOM = {"Pan_Left", "Pan_Right", "Tilt_Up", "Tilt_Down", "Zoom_In", "Zoom_Out"}
DOLLY = {"Move_In", "Move_Out"}
# Which way the scene slides in the image for each movement.
SCENE_SLIDES = {"Pan_Left": "right", "Move_Left": "right", "Pan_Right": "left",
                "Move_Right": "left", "Tilt_Up": "down", "Move_Up": "down",
                "Tilt_Down": "up", "Move_Down": "up"}

_NO_PARALLAX = re.compile(r"no parallax|without parallax|in unison|by the same amount|"
                          r"move together|moves together|relative positions do not change")
_PARALLAX = re.compile(r"strong parallax|clear parallax|(?<!no )parallax between near|"
                       r"(near|nearby|foreground)[a-z ]{0,30}(faster|more) than")
_UNIFORM_SCALE = re.compile(r"uniform(ly)?|same factor")
_NOTHING_MOVES = re.compile(r"no change|nothing (in the view |in view )?moves|stays fixed|"
                            r"view stays the same|look the same|does not move")
_VIEW_MOVES = re.compile(r"slides|drifts|shifts|expands|contracts|grows|shrinks|rotates|turns")
_SLIDE_DIR = re.compile(r"(slides|drifts|moves|shifts)[a-z ]{0,25}?\b(to the )?"
                        r"(left|right|up|down)(ward)?\b")


def _phrases() -> dict[str, list[tuple[list[str], str]]]:
    """First word -> [(phrase words, term)], longest phrase first."""
    out: dict[str, list[tuple[list[str], str]]] = {}
    for term in _MOVEMENT_TERMS:
        for phrase in taxonomy.MOTION_VOCABULARY[term].phrases:
            if phrase in _AMBIGUOUS:
                continue
            words = phrase.split()
            out.setdefault(words[0], []).append((words, term))
    for group in out.values():
        group.sort(key=lambda x: -len(x[0]))
    return out


_PHRASES = _phrases()
_WHOLE_TERMS = {"static": "Static", "shake": "Shake"}  # no direction needed


def read_movements(text: str) -> set[str]:
    """Primitives a text asserts, e.g. "the camera pans left, not a truck" -> {"Pan_Left"};
    also "Static" and "Shake" (a handheld wobble, which is not Static)."""
    found: set[str] = set()
    # Negation ("not a pan", "no parallax, so it pans left") is read within a clause only.
    for clause in _CLAUSE_RE.split(text.lower()):
        _read_clause(_WORD_RE.findall(clause), found)
    return found


def _read_clause(words: list[str], found: set[str]) -> None:
    i = 0
    while i < len(words):
        match = None
        for phrase, term in _PHRASES.get(words[i], ()):
            if words[i:i + len(phrase)] == phrase:
                match = (phrase, term)
                break
        if match is None:
            i += 1
            continue
        phrase, term = match
        before = words[max(0, i - 3):i]
        negated = any(w in _NEGATORS for w in before)
        if not negated:
            if term in _WHOLE_TERMS:
                found.add(_WHOLE_TERMS[term])
            else:
                window = words[i:i + len(phrase) + 4]
                for w in window:
                    d = _DIRECTION_OF.get(w)
                    if d and (term, d) in _PRIMITIVE_OF:
                        found.add(_PRIMITIVE_OF[(term, d)])
                        break
        i += len(phrase)


def concluded_movements(think: str) -> set[str]:
    """Movements named by the last sentence of the think that names any."""
    for sentence in reversed(_SENTENCE_RE.findall(think[-WINDOW:])):
        moves = read_movements(sentence)
        if moves:
            return moves
    return set()


def _question_primitive(question: str | None, task: str | None) -> str | None:
    if task in taxonomy.PRIMITIVE_NAMES:
        return task
    for p in taxonomy.PRIMITIVES:
        if question and question.strip() == p.question:
            return p.name
    moves = read_movements(question or "")
    return next(iter(moves)) if len(moves) == 1 else None


def _option_texts(options: Sequence[str] | None) -> dict[str, str]:
    texts = {}
    for o in options or ():
        try:
            letter, text = split_option(o)
        except ValueError:
            continue
        texts[letter] = text
    return texts


def observation_contradicts(observation: str, asserted: set[str]) -> str | None:
    """The rule (R2a-e) the observation breaks for the asserted movements, or None."""
    obs = observation[:WINDOW].lower()
    if asserted & TRANSLATIONS and _NO_PARALLAX.search(obs):
        return "R2a"
    if asserted & ROTATIONS_ZOOM and _PARALLAX.search(obs):
        return "R2b"
    if asserted & DOLLY and _UNIFORM_SCALE.search(obs):
        return "R2c"
    if (asserted - {"Static"}) and _NOTHING_MOVES.search(obs):
        return "R2d"
    if "Static" in asserted and _VIEW_MOVES.search(obs) and not _NOTHING_MOVES.search(obs):
        return "R2d"
    seen = {m.group(3) for m in _SLIDE_DIR.finditer(obs)}
    for move in asserted:
        want = SCENE_SLIDES.get(move)
        opposite = {"left": "right", "right": "left", "up": "down", "down": "up"}.get(want)
        if want and opposite in seen and want not in seen:
            return "R2e"
    return None


def explain(response: str, options: Sequence[str] | None = None, question: str | None = None,
            task: str | None = None) -> tuple[float, str]:
    """(reward, the rule that decided it): "ok", "R0", "R1-none", "R1" or "R2a"…"R2e"."""
    if not isinstance(response, str):
        return 0.0, "R0"
    letter = answers.extract_letter(response, options, require_tags=True)
    if letter is None:
        return 0.0, "R0"
    parsed = answers.parse_response(response)
    concluded = concluded_movements(parsed.think or "")
    if not concluded:
        return 0.0, "R1-none"
    texts = _option_texts(options)
    chosen = texts.get(letter, "")
    if chosen.lower().rstrip(".") in ("yes", "no"):
        prim = _question_primitive(question, task)
        if prim is None:
            return 0.0, "R1-none"
        says_yes = chosen.lower().startswith("yes")
        if says_yes != (prim in concluded):
            return 0.0, "R1"
        asserted = {prim} if says_yes else set()
    else:
        asserted = read_movements(chosen)
        if not asserted or not asserted <= concluded:
            return 0.0, "R1"
    # Cues of combined movements legitimately mix (a truck left with a pan right shows parallax
    # and the scene sliding either way), so R2 judges single-movement conclusions only.
    rule = (observation_contradicts(parsed.observation or "", asserted)
            if len(concluded) == 1 else None)
    if rule:
        return 0.0, rule
    return 1.0, "ok"


def consistency_reward(response: str, options: Sequence[str] | None = None,
                       question: str | None = None, task: str | None = None, **_) -> float:
    return explain(response, options, question, task)[0]
