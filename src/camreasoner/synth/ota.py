"""Image-motion cues from the true geometry, and Observation-Think-Answer chains built from them.

Cues come from projecting points of the scene's surfaces with the true poses (no estimation):
how far the scene slides (``shift_x``, ``shift_y``, image widths; +x right, +y down), how much it
expands (``expansion``, relative scale change about the centre) and turns (``rotation_deg``,
clockwise on screen positive), separately for near surfaces (foreground objects) and far ones
(the backdrop) — the difference is the parallax that tells translation from rotation and a dolly
from a zoom — and how much it jitters frame to frame (``jitter``). Observations state only what
these cues show; the reasoning goes from the cues to the movement; the answer is the true letter.
"""

from __future__ import annotations

import numpy as np

from camreasoner import taxonomy
from camreasoner.synth.scene import Pose, Surface, project
from camreasoner.taxonomy import Motion, describe_motion, motion_sentence

# Cue thresholds (fractions of the image width, degrees).
SHIFT = 0.02
EXPAND = 0.03
ROTATE = 1.0
PARALLAX = 0.3  # relative difference between near and far motion
JITTER = 0.01  # shake gives ~0.05; smooth motion stays under 0.005


def _points(s: Surface, n: int = 9) -> np.ndarray:
    a, b = np.meshgrid(np.linspace(0.05, 0.95, n), np.linspace(0.05, 0.95, n))
    return s.p0 + a.reshape(-1, 1) * s.a + b.reshape(-1, 1) * s.b


def _group_motion(points: np.ndarray, first: Pose, last: Pose, width: int, height: int
                  ) -> dict[str, float] | None:
    """Mean shift and the best-fit similarity (scale, rotation) of one group's image points
    between the first and last frame; points visible in both only."""
    uv0, z0 = project(points, first, width, height)
    uv1, z1 = project(points, last, width, height)

    def inside(uv, z):
        return (z > 0.1) & (uv[:, 0] >= 0) & (uv[:, 0] < width) & (uv[:, 1] >= 0) & (
            uv[:, 1] < height)

    keep = inside(uv0, z0) & inside(uv1, z1)
    if keep.sum() < 3:
        return None
    p0 = (uv0[keep, 0] + 1j * uv0[keep, 1]) / width
    p1 = (uv1[keep, 0] + 1j * uv1[keep, 1]) / width
    d = p1 - p0
    c0, c1 = p0 - p0.mean(), p1 - p1.mean()
    a = (np.conj(c0) * c1).sum() / (np.abs(c0) ** 2).sum()  # p1 ~ a * p0 + b (similarity)
    return {"shift_x": float(d.real.mean()), "shift_y": float(d.imag.mean()),
            # v grows downward, so a positive angle is clockwise on screen
            "expansion": float(np.log(abs(a))), "rotation_deg": float(np.degrees(np.angle(a)))}


def cues(surfaces: list[Surface], poses: list[Pose], width: int, height: int) -> dict[str, float]:
    far = np.concatenate([_points(s) for s in surfaces if s.kind == "backdrop"])
    near = np.concatenate([_points(s) for s in surfaces if s.kind == "object"])
    first, last = poses[0], poses[-1]
    g_far = _group_motion(far, first, last, width, height)
    g_near = _group_motion(near, first, last, width, height) or g_far
    g_far = g_far or g_near
    out = {k: (g_far[k] + g_near[k]) / 2 for k in g_far}
    # The far backdrop is a plane facing the camera, so its image rotation is the camera's roll;
    # near objects at scattered depths give spurious rotation under translation.
    out["rotation_deg"] = g_far["rotation_deg"]
    shift_far = np.hypot(g_far["shift_x"], g_far["shift_y"])
    shift_near = np.hypot(g_near["shift_x"], g_near["shift_y"])
    out["shift_parallax"] = float(abs(shift_near - shift_far) / (max(shift_near, shift_far) + 1e-9))
    out["expansion_parallax"] = float(abs(g_near["expansion"] - g_far["expansion"]) / (
        max(abs(g_near["expansion"]), abs(g_far["expansion"])) + 1e-9))
    out["near_shift"], out["far_shift"] = float(shift_near), float(shift_far)
    out["near_expansion"], out["far_expansion"] = g_near["expansion"], g_far["expansion"]
    # Jitter: frame-to-frame wobble of the far points: second differences of their mean track
    # (near zero for any smooth motion, large for independent per-frame shake).
    tracks = np.stack([project(far, p, width, height)[0].mean(0) for p in poses]) / width
    accel = tracks[2:] - 2 * tracks[1:-1] + tracks[:-2]
    out["jitter"] = float(np.sqrt((accel ** 2).sum(1).mean())) if len(accel) else 0.0
    return out


def cue_flags(c: dict[str, float]) -> dict[str, object]:
    """Which cues an observation reports, and their directions: ``side_x`` / ``side_y`` ("left",
    "up", ... or None), ``differential`` (near and far change scale differently), ``expanding``
    (None, "grows", "shrinks"), ``rotating`` (None, "clockwise", "counterclockwise"),
    ``shift_parallax`` / ``expansion_parallax`` (None when the cue is not reported), ``jitter``,
    ``moving`` (any steady motion)."""
    shift = max(abs(c["shift_x"]), abs(c["shift_y"]))
    # Wide pans and tilts also stretch the view a little (perspective), rolls and truck moves
    # shift scattered objects a little: each cue is reported only when it stands out from the
    # others.
    shift_min = max(SHIFT, 0.002 * abs(c["rotation_deg"]), 0.3 * abs(c["expansion"]))
    expanding = abs(c["expansion"]) > max(EXPAND, 0.6 * shift)
    rotating = abs(c["rotation_deg"]) > max(ROTATE, 15.0 * shift)
    differential = (shift <= shift_min and not expanding
                    and abs(c["near_expansion"] - c["far_expansion"]) > EXPAND)
    side_x = ("left" if c["shift_x"] < 0 else "right") if abs(c["shift_x"]) > shift_min else None
    side_y = ("down" if c["shift_y"] > 0 else "up") if abs(c["shift_y"]) > shift_min else None
    return {
        "side_x": side_x, "side_y": side_y, "differential": differential,
        "far_grows": c["far_expansion"] > 0,
        "expanding": ("grows" if c["expansion"] > 0 else "shrinks") if expanding else None,
        "rotating": ("clockwise" if c["rotation_deg"] > 0 else "counterclockwise")
        if rotating else None,
        "shift_parallax": (c["shift_parallax"] > PARALLAX) if shift > shift_min else None,
        "expansion_parallax": (c["expansion_parallax"] > PARALLAX) if expanding else None,
        "jitter": c["jitter"] > JITTER,
        "moving": bool(side_x or side_y or differential or expanding or rotating),
    }


def observation(c: dict[str, float], rng: np.random.Generator) -> str:
    pick = lambda *opts: opts[int(rng.integers(len(opts)))]
    f = cue_flags(c)
    said = []
    if f["side_x"]:
        side = f["side_x"]
        said.append(pick(f"Across the frames the whole view slides to the {side}.",
                         f"From the first frame to the last, the scene drifts {side}ward.",
                         f"The content of the frames moves steadily toward the {side}."))
    if f["side_y"]:
        side = f["side_y"]
        said.append(pick(f"The scene {'also ' if said else ''}slides {side} in the frame.",
                         f"The view moves {side}ward over time.",
                         f"Objects shift {side} across the frames."))
    if f["differential"]:
        far_word = "grows" if f["far_grows"] else "shrinks"
        said.append(f"The distant background {far_word} while nearby objects keep roughly their "
                    f"size: near and far parts change scale differently.")
    if f["expanding"]:
        grows = f["expanding"] == "grows"
        said.append(pick(
            "The image expands outward from the centre, objects getting larger." if grows else
            "The image contracts toward the centre, objects getting smaller.",
            "Everything in view grows frame by frame." if grows else
            "Everything in view shrinks frame by frame."))
    if f["rotating"]:
        sense = f["rotating"]
        said.append(pick(f"The whole picture turns {sense} around its centre; the horizon tilts.",
                         f"The frame content rotates {sense} about the middle of the image."))
    if f["shift_parallax"] is not None:
        if f["shift_parallax"]:
            said.append(pick("Near objects move clearly more than the distant background: strong "
                             "parallax.",
                             "The foreground shifts much faster than the far background, so "
                             "nearby and distant things separate."))
        else:
            said.append(pick("Near and far parts move together by the same amount, with no "
                             "parallax between them.",
                             "The foreground and the distant background shift in unison; their "
                             "relative positions do not change."))
    if f["expansion_parallax"] is not None:
        if f["expansion_parallax"]:
            said.append(pick("Nearby objects change size much faster than the background.",
                             "The foreground scales faster than the far background."))
        else:
            said.append(pick("Near and far things scale by the same factor, uniformly.",
                             "The whole image scales uniformly, foreground and background alike."))
    if f["jitter"]:
        said.append(pick("The frames jitter back and forth from one frame to the next, an "
                         "unsteady, handheld wobble.",
                         "Small irregular shakes move the view between consecutive frames."))
    if not f["moving"] and not f["jitter"]:
        said.append(pick("The frames look the same from start to end; nothing in the view moves.",
                         "There is no change between frames: the view stays fixed."))
    elif not f["moving"]:
        said.append("Apart from the wobble the view stays where it is; there is no steady drift.")
    return " ".join(said)


def short_observation(c: dict[str, float]) -> str:
    """The same cues as :func:`observation` in a few words each ("view slides left, no
    parallax"): a chain the tiny tokenizer writes in ~30 tokens instead of 100-330."""
    f = cue_flags(c)
    said = [f"view slides {f[k]}" for k in ("side_x", "side_y") if f[k]]
    if f["differential"]:
        said.append(f"background {'grows' if f['far_grows'] else 'shrinks'}, near objects do not")
    if f["expanding"]:
        said.append(f"view {f['expanding']}")
    if f["rotating"]:
        said.append(f"view turns {f['rotating']}")
    for key in ("shift_parallax", "expansion_parallax"):
        if f[key] is not None:
            said.append("parallax" if f[key] else "no parallax")
    if f["jitter"]:
        said.append("jitter")
    if not f["moving"]:
        said.append("no drift" if f["jitter"] else "view fixed")
    return ", ".join(dict.fromkeys(said))  # one "no parallax" when both cues say it


# (why the kind of movement, {primitive: why its direction}) for movements that shift the view.
_SHIFT_REASONS: tuple[tuple[str, dict[str, str]], ...] = (
    (("A shift with no parallax means the camera rotated in place rather than moving through "
      "the scene."),
     {"Pan_Left": "The view slides right because the camera turns left: a pan left.",
      "Pan_Right": "The view slides left because the camera turns right: a pan right.",
      "Tilt_Up": "The view slides down because the camera points upward: a tilt up.",
      "Tilt_Down": "The view slides up because the camera points downward: a tilt down."}),
    ("Parallax, near objects moving more than far ones, shows the camera itself translated.",
     {"Move_Left": "The scene moves right, so the camera moved left: a truck left.",
      "Move_Right": "The scene moves left, so the camera moved right: a truck right.",
      "Move_Up": "The scene moves down, so the camera rose: a pedestal up.",
      "Move_Down": "The scene moves up, so the camera lowered: a pedestal down."}),
)


def reasoning(motion: Motion, c: dict[str, float], rng: np.random.Generator) -> str:
    steps = []
    prims = set(motion.primitives)
    for intro, explained in _SHIFT_REASONS:
        if prims & explained.keys():
            steps.append(intro)
            steps += [explained[p] for p in explained if p in prims]
    if motion.is_dolly_zoom:
        steps.append("The subject keeps its size while the background changes scale around it: "
                     "the camera moves along its axis while zooming the other way, a dolly zoom.")
    else:
        if prims & {"Move_In", "Move_Out"}:
            steps.append("Scaling that is stronger for near objects comes from moving the camera "
                         "along its viewing axis, not from a lens change.")
            steps.append("The view expands, so the camera moves forward: a dolly in."
                         if "Move_In" in prims else
                         "The view contracts, so the camera moves backward: a dolly out.")
        if prims & {"Zoom_In", "Zoom_Out"}:
            steps.append("Uniform scaling without parallax is a change of focal length, not "
                         "camera movement.")
            steps.append("The image grows, so the lens zooms in." if "Zoom_In" in prims else
                         "The image shrinks, so the lens zooms out.")
    if prims & {"Roll_Clockwise", "Roll_Counterclockwise"}:
        steps.append("The image turning about its centre means the camera rolls about its "
                     "viewing axis the opposite way: "
                     + ("the picture turns counterclockwise, so the camera rolls clockwise."
                        if "Roll_Clockwise" in prims else
                        "the picture turns clockwise, so the camera rolls counterclockwise."))
    if not prims:
        steps.append("With no drift, scaling or rotation, the camera does not move." +
                     (" The frame-to-frame jitter means it is not perfectly still: it shakes."
                      if motion.shake else " Nothing shakes either, so the camera is static."))
    elif motion.shake:
        steps.append("On top of that, the irregular jitter shows a handheld, unsteady camera.")
    return " ".join(steps)


CHAIN_STYLES = ("full", "short")  # synth --chain-style


def binary_chain(motion: Motion, primitive: str, label: str, c: dict[str, float],
                 rng: np.random.Generator, answer_letter: str, style: str = "full") -> str:
    p = taxonomy.primitive(primitive)
    summary = motion_sentence(motion)
    verdict = "Yes" if label == "Yes" else "No"
    # The conclusion (what the camera does) comes last, after the question is restated, so a
    # reader of the think's final sentence (the consistency reward) gets the movement, not the
    # question's wording.
    if style == "short":  # cues, what was asked, the movement, the verdict
        asked = describe_motion(Motion(() if primitive == "Static" else (primitive,)))
        return (f"<observation>{short_observation(c)}</observation><think>asked: {asked}; "
                f"{summary}: {verdict}</think><answer>{answer_letter}</answer>")
    think = (f"{reasoning(motion, c, rng)} The question asks whether {p.yes_means}. Overall, "
             f"{summary}, so {'that is' if verdict == 'Yes' else 'that is not'} what happens "
             f"and the answer is {verdict}.")
    return (f"<observation>{observation(c, rng)}</observation><think>{think}</think>"
            f"<answer>{answer_letter}</answer>")


def mc_chain(motion: Motion, c: dict[str, float], rng: np.random.Generator, answer_letter: str,
             answer_text: str, style: str = "full") -> str:
    if style == "short":
        return (f"<observation>{short_observation(c)}</observation><think>"
                f"{motion_sentence(motion)}</think><answer>{answer_letter}</answer>")
    think = (f"{reasoning(motion, c, rng)} Overall, {motion_sentence(motion)}: option "
             f"{answer_letter}, \"{answer_text}\".")
    return (f"<observation>{observation(c, rng)}</observation><think>{think}</think>"
            f"<answer>{answer_letter}</answer>")
