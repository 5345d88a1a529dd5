"""The camera-motion taxonomy: the one place that names primitives, skills and motion words.

Everything here follows CameraBench (Lin et al., 2025). Its binary benchmark asks 15 yes/no
questions, one per *primitive*; its VQA benchmark groups pos/neg video-question pairs into 9
*skills*, each with a fixed set of task files. Every stage (data, prompts, rewards, synthetic
data, evaluation) reads these tables instead of spelling the names again.

Sign conventions (written down once, used by the renderer, the rewards and the baseline):
- The *camera frame* is the camera's own axes at the first frame: +x right, +y up, +z forward
  (the viewing direction). CameraBench's Move_* primitives are camera-frame motions ("with respect
  to the initial frame"); the *ground frame* is the world's gravity-aligned axes, used by the VQA
  tasks that say "ground" (e.g. ``has_upward_vs_downward_ground``).
- Pan right turns the view to the right (yaw about +y, clockwise seen from above), so the scene
  slides *left* in the image; tilt up turns the view upward, so the scene slides *down*.
- Roll clockwise rotates the camera clockwise about +z as the viewer sees it, so the image content
  rotates *counter-clockwise* on screen.
- Move_In (dolly in) translates along +z: the image expands, near surfaces more than far ones;
  Zoom_In increases focal length: the image expands uniformly, with no parallax.
- Move_Left (truck left) translates along -x: the scene slides right, near surfaces faster than far
  ones (parallax); Pan_Left slides the scene right with no parallax.
- Move_Up (pedestal up) translates along +y: the scene slides down, near faster than far.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MotionKind = Literal["translation", "rotation", "intrinsic", "steadiness"]
Frame = Literal["camera", "ground"]


@dataclass(frozen=True)
class Primitive:
    """One CameraBench binary primitive (one ``binary_classification/<name>.jsonl`` file)."""

    name: str  # file stem, e.g. "Move_In"; also the item ``task``
    display: str  # CameraBench's ``task`` field, e.g. "Move In"
    question: str  # the official question, verbatim
    yes_means: str  # what a "Yes" label asserts, in words
    kind: MotionKind
    frame: Frame
    term: str  # the cinematography word for it, a key of MOTION_VOCABULARY
    direction: str  # the direction word within the term ("in", "left", ...), "" for static


PRIMITIVES: tuple[Primitive, ...] = (
    Primitive(
        "Move_Down", "Move Down",
        "Does the camera move downward (not tilting down) with respect to the initial frame?",
        "the camera translates downward along its own -y axis (pedestal down), not a tilt",
        "translation", "camera", "pedestal", "down",
    ),
    Primitive(
        "Move_In", "Move In",
        "Does the camera move forward (not zooming in) with respect to the initial frame?",
        "the camera translates forward along its viewing axis (dolly in), not a zoom",
        "translation", "camera", "dolly", "in",
    ),
    Primitive(
        "Move_Left", "Move Left",
        "Does the camera move leftward in the scene?",
        "the camera translates to its left (truck left), not a pan",
        "translation", "camera", "truck", "left",
    ),
    Primitive(
        "Move_Out", "Move Out",
        "Does the camera move backward (not zooming out) with respect to the initial frame?",
        "the camera translates backward along its viewing axis (dolly out), not a zoom",
        "translation", "camera", "dolly", "out",
    ),
    Primitive(
        "Move_Right", "Move Right",
        "Does the camera move rightward in the scene?",
        "the camera translates to its right (truck right), not a pan",
        "translation", "camera", "truck", "right",
    ),
    Primitive(
        "Move_Up", "Move Up",
        "Does the camera move upward (not tilting up) with respect to the initial frame?",
        "the camera translates upward along its own +y axis (pedestal up), not a tilt",
        "translation", "camera", "pedestal", "up",
    ),
    Primitive(
        "Pan_Left", "Pan Left", "Does the camera pan to the left?",
        "the camera rotates to the left about its vertical axis; the scene slides right",
        "rotation", "camera", "pan", "left",
    ),
    Primitive(
        "Pan_Right", "Pan Right", "Does the camera pan to the right?",
        "the camera rotates to the right about its vertical axis; the scene slides left",
        "rotation", "camera", "pan", "right",
    ),
    Primitive(
        "Roll_Clockwise", "Roll Clockwise", "Does the camera roll clockwise?",
        "the camera rotates clockwise about its viewing axis; the image turns counter-clockwise",
        "rotation", "camera", "roll", "clockwise",
    ),
    Primitive(
        "Roll_Counterclockwise", "Roll Counterclockwise", "Does the camera roll counterclockwise?",
        "the camera rotates counter-clockwise about its viewing axis; the image turns clockwise",
        "rotation", "camera", "roll", "counterclockwise",
    ),
    Primitive(
        "Static", "Static", "Is the camera completely still without any motion or shaking?",
        "the camera neither moves, rotates, zooms nor shakes",
        "steadiness", "camera", "static", "",
    ),
    Primitive(
        "Tilt_Down", "Tilt Down", "Does the camera tilt downward?",
        "the camera rotates downward about its horizontal axis; the scene slides up",
        "rotation", "camera", "tilt", "down",
    ),
    Primitive(
        "Tilt_Up", "Tilt Up", "Does the camera tilt upward?",
        "the camera rotates upward about its horizontal axis; the scene slides down",
        "rotation", "camera", "tilt", "up",
    ),
    Primitive(
        "Zoom_In", "Zoom In", "Does the camera zoom in?",
        "the focal length increases: uniform magnification, no parallax",
        "intrinsic", "camera", "zoom", "in",
    ),
    Primitive(
        "Zoom_Out", "Zoom Out", "Does the camera zoom out?",
        "the focal length decreases: uniform shrinking, no parallax",
        "intrinsic", "camera", "zoom", "out",
    ),
)

PRIMITIVE_NAMES: tuple[str, ...] = tuple(p.name for p in PRIMITIVES)
_PRIMITIVES_BY_NAME = {p.name: p for p in PRIMITIVES}


def primitive(name: str) -> Primitive:
    """Look a primitive up by file stem (``Move_In``); raises KeyError naming the valid ones."""
    try:
        return _PRIMITIVES_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown primitive {name!r}; known: {', '.join(PRIMITIVE_NAMES)}") from None


# The 9 VQA skills (CameraBench ``vqa_and_retrieval/<skill>/``) and their task files (stems).
# Listed explicitly so a missing or extra file in a download is an error, not a silent change.
VQA_SKILLS: dict[str, tuple[str, ...]] = {
    "complex_description": ("all",),
    "confusable_motion": (
        "backward_camera_only_vs_backward_ground_and_camera",
        "downward_camera_only_vs_downward_camera_and_ground",
        "forward_camera_only_vs_forward_ground_and_camera",
        "only_pan_left_vs_only_truck_left",
        "only_pan_right_vs_only_truck_right",
        "only_tilt_down_vs_only_pedestal_down",
        "only_tilt_up_vs_only_pedestal_up",
        "only_zoom_in_vs_only_forward",
        "only_zoom_out_vs_only_backward",
        "upward_camera_only_vs_upward_camera_and_ground",
    ),
    "has_motion": (
        "has_arc_clockwise", "has_arc_counterclockwise", "has_backward_motion", "has_crane_down",
        "has_crane_up", "has_forward_motion", "has_pan_left",
        "has_pan_left_not_truck_vs_has_truck_not_pan_left", "has_pan_right",
        "has_pan_right_not_truck_vs_has_truck_not_pan_right", "has_pedestal_down",
        "has_pedestal_up", "has_roll_clockwise", "has_roll_counterclockwise", "has_tilt_down",
        "has_tilt_down_not_pedestal_vs_has_pedestal_not_tilt_down", "has_tilt_up",
        "has_tilt_up_not_pedestal_vs_has_pedestal_not_tilt_up", "has_truck_left",
        "has_truck_right", "has_zoom_in", "has_zoom_in_not_move_vs_has_move_not_zoom_in",
        "has_zoom_out", "has_zoom_out_not_move_vs_has_move_not_zoom_out",
    ),
    "motion_and_steadiness": (
        "is_the_camera_clearly_moving_or_not", "is_the_camera_fixed_or_moving",
        "is_the_camera_stable_or_shaky", "is_the_fixed_camera_shaking_or_not",
    ),
    "motion_direction": (
        "arc_ccw_vs_arc_cc", "crane_up_vs_crane_down", "dolly_zoom_in_vs_dolly_zoom_out",
        "has_forward_vs_backward_ground", "has_leftward_vs_rightward",
        "has_upward_vs_downward_ground", "lead_tracking_vs_tail_tracking", "pan_left_vs_pan_right",
        "roll_cc_vs_roll_ccw", "side_tracking_leftward_vs_rightward", "tilt_up_vs_tilt_down",
        "zoom_in_vs_zoom_out",
    ),
    "motion_speed": ("has_motion_blur_or_not", "is_camera_movement_slow_or_fast"),
    "only_motion": (
        "only_backward_vs_has_backward_and_not_only", "only_forward_vs_has_forward_and_not_only",
        "only_pan_left_vs_has_pan_left_and_not_only", "only_pan_right_vs_has_pan_right_and_not_only",
        "only_pedestal_down_vs_has_pedestal_down_and_not_only",
        "only_pedestal_up_vs_has_pedestal_up_and_not_only",
        "only_roll_cc_vs_has_roll_cc_and_not_only", "only_roll_ccw_vs_has_roll_ccw_and_not_only",
        "only_tilt_down_vs_has_tilt_down_and_not_only", "only_tilt_up_vs_has_tilt_up_and_not_only",
        "only_truck_left_vs_has_truck_left_and_not_only",
        "only_truck_right_vs_has_truck_right_and_not_only",
        "only_zoom_in_vs_has_zoom_in_and_not_only", "only_zoom_out_vs_has_zoom_out_and_not_only",
    ),
    "scene_dynamics": ("has_frame_freeze_or_not", "is_scene_static_or_not"),
    "tracking_shot": (
        "has_aerial_tracking", "has_arc_tracking", "has_front_side_tracking", "has_lead_tracking",
        "has_pan_tracking", "has_rear_side_tracking", "has_side_tracking", "has_tail_tracking",
        "has_tilt_tracking", "is_tracking", "tracking_subject_larger", "tracking_subject_smaller",
    ),
}

VQA_SKILL_NAMES: tuple[str, ...] = tuple(VQA_SKILLS)


@dataclass(frozen=True)
class MotionTerm:
    """A word of the camera-motion vocabulary with the phrases that express it in free text."""

    name: str
    kind: MotionKind | Literal["compound"]
    meaning: str
    phrases: tuple[str, ...]


# Phrases are lower-case; matching is on word boundaries. Direction words are separate
# (``DIRECTION_WORDS``) so "pans left" reads as term "pan" + direction "left".
MOTION_VOCABULARY: dict[str, MotionTerm] = {
    t.name: t
    for t in (
        MotionTerm("dolly", "translation", "translation along the viewing axis",
                   ("dolly", "dollies", "dollying", "moves forward", "moves backward",
                    "move forward", "move backward", "moving forward", "moving backward",
                    "push in", "pushes in", "pull out", "pulls out", "pull back", "pulls back")),
        MotionTerm("truck", "translation", "sideways translation",
                   ("truck", "trucks", "trucking", "moves left", "moves right", "move left",
                    "move right", "moving left", "moving right", "moves leftward",
                    "moves rightward", "strafe", "strafes", "slides sideways")),
        MotionTerm("pedestal", "translation", "vertical translation",
                   ("pedestal", "pedestals", "moves up", "moves down", "move up", "move down",
                    "moving up", "moving down", "moves upward", "moves downward", "rises",
                    "descends", "boom")),
        MotionTerm("pan", "rotation", "rotation about the vertical axis",
                   ("pan", "pans", "panning", "yaw", "yaws", "turns left", "turns right")),
        MotionTerm("tilt", "rotation", "rotation about the horizontal axis",
                   ("tilt", "tilts", "tilting", "pitch", "pitches")),
        MotionTerm("roll", "rotation", "rotation about the viewing axis",
                   ("roll", "rolls", "rolling", "rotates clockwise", "rotates counterclockwise",
                    "dutch")),
        MotionTerm("zoom", "intrinsic", "change of focal length",
                   ("zoom", "zooms", "zooming", "focal length")),
        MotionTerm("static", "steadiness", "no camera motion at all",
                   ("static", "still", "stationary", "fixed", "locked off", "locked-off",
                    "does not move", "doesn't move", "no camera motion", "no movement")),
        MotionTerm("shake", "steadiness", "unsteady, high-frequency jitter",
                   ("shake", "shakes", "shaking", "shaky", "handheld", "jitter", "unsteady",
                    "wobble")),
        MotionTerm("speed", "steadiness", "how fast the camera moves",
                   ("slow", "slowly", "fast", "quickly", "rapid", "rapidly", "regular speed")),
        MotionTerm("tracking", "compound", "the camera follows a moving subject",
                   ("tracking", "tracks", "follows", "following", "lead tracking",
                    "tail tracking", "side tracking")),
        MotionTerm("arc", "compound", "the camera orbits a subject",
                   ("arc", "arcs", "orbit", "orbits", "orbiting", "circles around")),
        MotionTerm("crane", "compound", "the camera rises or falls on a crane arm, often with tilt",
                   ("crane", "cranes", "craning", "jib")),
    )
}

DIRECTION_WORDS: dict[str, tuple[str, ...]] = {
    "left": ("left", "leftward", "leftwards"),
    "right": ("right", "rightward", "rightwards"),
    "up": ("up", "upward", "upwards"),
    "down": ("down", "downward", "downwards"),
    "in": ("in", "forward", "forwards", "closer", "toward", "towards"),
    "out": ("out", "backward", "backwards", "away", "back"),
    "clockwise": ("clockwise",),
    "counterclockwise": ("counterclockwise", "counter-clockwise", "anticlockwise",
                         "anti-clockwise"),
}


# --- naming camera motions (one owner: the synthetic data, its chains and the baseline name
# motions the same way) -----------------------------------------------------------------------
OPPOSITE = {
    "Move_In": "Move_Out", "Move_Out": "Move_In", "Move_Left": "Move_Right",
    "Move_Right": "Move_Left", "Move_Up": "Move_Down", "Move_Down": "Move_Up",
    "Pan_Left": "Pan_Right", "Pan_Right": "Pan_Left", "Tilt_Up": "Tilt_Down",
    "Tilt_Down": "Tilt_Up", "Roll_Clockwise": "Roll_Counterclockwise",
    "Roll_Counterclockwise": "Roll_Clockwise", "Zoom_In": "Zoom_Out", "Zoom_Out": "Zoom_In",
}
SPEED_NAMES = ("subtle", "slow", "regular", "fast")
MOTION_PHRASES = {
    "Move_In": "the camera dollies in (moves forward)",
    "Move_Out": "the camera dollies out (moves backward)",
    "Move_Left": "the camera trucks left (moves sideways to the left)",
    "Move_Right": "the camera trucks right (moves sideways to the right)",
    "Move_Up": "the camera pedestals up (moves upward)",
    "Move_Down": "the camera pedestals down (moves downward)",
    "Pan_Left": "the camera pans left", "Pan_Right": "the camera pans right",
    "Tilt_Up": "the camera tilts up", "Tilt_Down": "the camera tilts down",
    "Roll_Clockwise": "the camera rolls clockwise",
    "Roll_Counterclockwise": "the camera rolls counterclockwise",
    "Zoom_In": "the camera zooms in", "Zoom_Out": "the camera zooms out",
}


@dataclass(frozen=True)
class Motion:
    """A camera motion: primitives moving together (empty for a fixed camera), a speed name
    (:data:`SPEED_NAMES`) and whether the camera shakes."""

    primitives: tuple[str, ...]  # empty for static
    speed: str = "regular"
    shake: bool = False

    @property
    def name(self) -> str:
        if not self.primitives:
            return "Shake" if self.shake else "Static"
        return "+".join(self.primitives) + ("+Shake" if self.shake else "")

    @property
    def is_dolly_zoom(self) -> bool:
        return set(self.primitives) in ({"Move_In", "Zoom_Out"}, {"Move_Out", "Zoom_In"})


def parse_motion(text: str, speed: str = "regular") -> Motion:
    """``"Move_In+Pan_Right"`` -> Motion; ``Static`` and ``Shake`` (a shaking fixed camera) too.
    Raises ValueError naming the bad part."""
    parts = [p.strip() for p in text.split("+") if p.strip()]
    if not parts:
        raise ValueError("empty motion")
    shake = "Shake" in parts
    prims = tuple(p for p in parts if p not in ("Shake", "Static"))
    for p in prims:
        if p not in OPPOSITE:
            raise ValueError(f"unknown motion {p!r} in {text!r}; use primitive names like "
                             f"Pan_Left, Move_In, or Static / Shake")
        if OPPOSITE[p] in prims:
            raise ValueError(f"{text!r} combines {p} with its opposite")
    if "Static" in parts and (prims or shake):
        raise ValueError(f"{text!r}: Static cannot be combined with motion")
    if speed not in SPEED_NAMES:
        raise ValueError(f"unknown speed {speed!r}; speeds: {', '.join(SPEED_NAMES)}")
    return Motion(prims, speed, shake)


def describe_motion(motion: Motion) -> str:
    """A short option text: "pan left", "dolly in while panning right", "static", "shaky"."""
    short = {p: MOTION_PHRASES[p].replace("the camera ", "").split(" (")[0]
             for p in MOTION_PHRASES}
    if not motion.primitives:
        return "shaking but not moving" if motion.shake else "static (no camera motion)"
    parts = [short[p] for p in motion.primitives]
    text = parts[0] if len(parts) == 1 else f"{parts[0]} while {' and '.join(parts[1:])}"
    text = text.replace("while pans", "while panning").replace("while tilts", "while tilting")
    text = text.replace("while zooms", "while zooming").replace("while rolls", "while rolling")
    return text


def motion_sentence(motion: Motion) -> str:
    """"the camera pans left", "the camera dollies in while zooming out", "the camera is static"."""
    if not motion.primitives:
        return ("the camera shakes in place, a handheld wobble" if motion.shake else
                "the camera is static")
    return "the camera " + describe_motion(motion) + (", shaking" if motion.shake else "")

