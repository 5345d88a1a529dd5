"""Camera motions, their paths over a clip, and the labels they imply.

A motion is a set of CameraBench primitives (``Move_In+Pan_Right``) plus a speed, optional
handheld shake, and the dolly-zoom special case. Totals over a clip at regular speed:

| primitive | change over the clip |
|---|---|
| Move_In / Move_Out | 0.8 units forward / back (camera height is 1.5, objects at 3.5-8) |
| Move_Left / Move_Right, Move_Up / Move_Down | 0.8 / 0.6 units sideways / vertically |
| Pan_Left / Pan_Right | 12 degrees of yaw |
| Tilt_Up / Tilt_Down | 9 degrees of pitch |
| Roll_Clockwise / Roll_Counterclockwise | 15 degrees of roll |
| Zoom_In / Zoom_Out | focal length x1.5 / ÷1.5 |

Speeds scale these: slow 0.5, regular 1.0, fast 1.8; ``subtle`` (0.06) is below what
CameraBench annotators label, so such a clip's moving primitives are marked unlabeled (None)
rather than forced to Yes. Shake adds per-frame random rotation (±0.5°) and translation
(±0.015 units) on top: a shaking camera is not Static.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from camreasoner import taxonomy
from camreasoner.synth.scene import Pose, rot_x, rot_y, rot_z
from camreasoner.taxonomy import Motion

SPEEDS = {"subtle": 0.06, "slow": 0.5, "regular": 1.0, "fast": 1.8}  # by taxonomy.SPEED_NAMES
UNLABELED_BELOW = 0.1  # speed factors under this are too small for a CameraBench label

TRANSLATION = {  # primitive -> unit direction (camera frame at the first frame) and total units
    "Move_In": (np.array([0.0, 0.0, 1.0]), 0.8), "Move_Out": (np.array([0.0, 0.0, -1.0]), 0.8),
    "Move_Right": (np.array([1.0, 0.0, 0.0]), 0.8), "Move_Left": (np.array([-1.0, 0.0, 0.0]), 0.8),
    "Move_Up": (np.array([0.0, 1.0, 0.0]), 0.6), "Move_Down": (np.array([0.0, -1.0, 0.0]), 0.6),
}
ROTATION = {  # primitive -> (axis function, signed total degrees)
    "Pan_Right": (rot_y, 12.0), "Pan_Left": (rot_y, -12.0),
    "Tilt_Up": (rot_x, 9.0), "Tilt_Down": (rot_x, -9.0),
    "Roll_Clockwise": (rot_z, 15.0), "Roll_Counterclockwise": (rot_z, -15.0),
}
ZOOM = {"Zoom_In": 1.5, "Zoom_Out": 1 / 1.5}
# The default mix (``--motions`` not given): every single primitive, static and shake, and
# combinations CameraBench's VQA asks about. Weights are relative.
DEFAULT_MIX: tuple[tuple[str, float], ...] = (
    *((p, 1.0) for p in taxonomy.PRIMITIVE_NAMES if p != "Static"),
    ("Static", 1.5), ("Shake", 0.8),
    ("Move_In+Pan_Right", 0.3), ("Move_In+Pan_Left", 0.3), ("Move_Out+Tilt_Up", 0.3),
    ("Move_Right+Pan_Left", 0.3), ("Move_Left+Pan_Right", 0.3), ("Move_Up+Tilt_Down", 0.3),
    ("Move_In+Zoom_Out", 0.3),  # the dolly zoom
    ("Pan_Right+Tilt_Up", 0.3), ("Zoom_In+Roll_Clockwise", 0.2),
)


def camera_path(motion: Motion, frames: int, width: int, rng: np.random.Generator,
                base_focal: float | None = None) -> list[Pose]:
    """Poses for each frame. Motion is linear in time from the identity pose (ease-free, so speed
    is constant), shake adds independent per-frame jitter."""
    f0 = base_focal if base_focal is not None else 0.9 * width
    m = SPEEDS[motion.speed]
    poses = []
    dolly_subject = 6.0  # depth kept at constant size in a dolly zoom
    for k in range(frames):
        s = k / max(1, frames - 1)
        center = np.zeros(3)
        rotation = np.eye(3)
        focal = f0
        for p in motion.primitives:
            if p in TRANSLATION:
                d, total = TRANSLATION[p]
                center = center + d * total * m * s
        for p in motion.primitives:
            if p in ROTATION:
                fn, deg = ROTATION[p]
                rotation = rotation @ fn(np.radians(deg * m * s))
        if motion.is_dolly_zoom:
            dz = center[2]
            focal = f0 * (dolly_subject - dz) / dolly_subject
        else:
            for p in motion.primitives:
                if p in ZOOM:
                    focal = focal * ZOOM[p] ** (m * s)
        if motion.shake:
            jitter = rng.normal(0, 1, 6)
            rotation = rotation @ rot_y(np.radians(0.5 * jitter[0])) @ rot_x(
                np.radians(0.5 * jitter[1])) @ rot_z(np.radians(0.3 * jitter[2]))
            center = center + 0.015 * jitter[3:]
        poses.append(Pose(center, rotation, focal))
    return poses


def binary_labels(motion: Motion) -> dict[str, str | None]:
    """Yes / No / None (unlabeled) for all 15 CameraBench primitives, in the camera frame."""
    subtle = SPEEDS[motion.speed] < UNLABELED_BELOW
    labels: dict[str, str | None] = {}
    for p in taxonomy.PRIMITIVE_NAMES:
        if p == "Static":
            if motion.primitives:
                labels[p] = None if subtle else "No"
            else:
                labels[p] = "No" if motion.shake else "Yes"
        elif p in motion.primitives:
            labels[p] = None if subtle else "Yes"
        else:
            labels[p] = "No"
    return labels


@dataclass
class ClipSpec:
    clip_id: str
    motion: Motion
    seed: int
    frames: int = 16
    width: int = 224
    height: int = 224
    fps: int = 8
    extra: dict = field(default_factory=dict)
