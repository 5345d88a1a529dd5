"""A pinhole camera looking at a textured 3D scene, rendered by true projection.

World axes: +x right, +y up, +z forward (the camera's axes at the first frame; see
``camreasoner.taxonomy`` for the sign conventions). The camera has a centre ``C``, a rotation
``R`` (camera-to-world: its columns are the camera's right, up and forward axes in world
coordinates) and a focal length ``f`` in pixels. A world point projects to
``u = cx + f * Xc / Zc``, ``v = cy - f * Yc / Zc`` with ``(Xc, Yc, Zc) = R^T (X - C)`` (image v
grows downward, camera y upward).

Each surface is a textured planar quad ``X(a, b) = P0 + a * A + b * B`` (``a, b`` in [0, 1] over
the texture's width and height). Its image is the exact projective map of the texture,
``H = K' R^T [A / w, B / h, P0 - C]``, applied with ``cv2.warpPerspective``; surfaces are drawn far
to near (painter's order), so nearer ones hide farther ones. Depth differences between surfaces
give real parallax under translation and none under rotation or zoom.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

CAMERA_HEIGHT = 1.5  # the ground plane is y = -CAMERA_HEIGHT
BACKDROP_Z = 14.0
GROUND_NEAR_Z = 2.2  # stays in front of the camera for every motion we render


@dataclass(frozen=True)
class Surface:
    name: str
    kind: str  # "backdrop" | "ground" | "object"
    p0: np.ndarray  # world position of texture pixel (0, 0)
    a: np.ndarray  # world vector along the texture's width
    b: np.ndarray  # world vector along the texture's height (downward in the texture)
    texture: np.ndarray  # uint8 (h, w, 4): RGB and an opaque alpha, warped in one pass
    depth: float  # representative depth for painter's order (distance along z)


@dataclass(frozen=True)
class Pose:
    center: np.ndarray  # (3,)
    rotation: np.ndarray  # (3, 3) camera-to-world
    focal: float  # pixels


def rot_y(theta: float) -> np.ndarray:
    """Yaw: turns the forward axis toward +x (a pan right for theta > 0)."""
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rot_x(phi: float) -> np.ndarray:
    """Pitch: turns the forward axis toward +y (a tilt up for phi > 0)."""
    c, s = np.cos(phi), np.sin(phi)
    return np.array([[1, 0, 0], [0, c, s], [0, -s, c]])


def rot_z(psi: float) -> np.ndarray:
    """Roll: turns the up axis toward +x, clockwise as the viewer sees it (roll CW for psi > 0)."""
    c, s = np.cos(psi), np.sin(psi)
    return np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]])


@functools.lru_cache(maxsize=None)
def photo(name: str) -> np.ndarray:
    """An RGB photograph shipped with scikit-image (no download)."""
    import skimage.data

    im = getattr(skimage.data, name)()
    if im.dtype == bool:
        im = im.astype(np.uint8) * 255
    if im.ndim == 2:
        im = np.stack([im] * 3, axis=-1)
    return np.ascontiguousarray(im[..., :3].astype(np.uint8))


PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field",
          "immunohistochemistry", "colorwheel", "retina", "camera", "coins", "clock", "moon")
GROUND_PHOTOS = ("grass", "gravel", "brick")


def procedural(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    """Checkers, stripes or blobs in random colours: texture where photos have flat areas."""
    kind = rng.integers(3)
    y, x = np.mgrid[0:size, 0:size]
    c1, c2 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    if kind == 0:
        cell = int(rng.integers(12, 40))
        m = ((x // cell + y // cell) % 2).astype(bool)
    elif kind == 1:
        period = rng.uniform(10, 30)
        ang = rng.uniform(0, np.pi)
        m = (np.sin((x * np.cos(ang) + y * np.sin(ang)) * 2 * np.pi / period) > 0)
    else:
        noise = rng.random((size // 16 + 1, size // 16 + 1))
        m = np.kron(noise, np.ones((16, 16)))[:size, :size] > 0.5
    return np.where(m[..., None], c1, c2).astype(np.uint8)


def _tile(tex: np.ndarray, reps: int) -> np.ndarray:
    return np.tile(tex, (reps, reps, 1))


def _rgba(tex: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.dstack([tex, np.full(tex.shape[:2], 255, np.uint8)]))


def make_scene(rng: np.random.Generator, n_objects: int | None = None) -> list[Surface]:
    """A far backdrop, a ground plane and 2-4 upright foreground objects at 3.5-8 units."""
    surfaces = []
    bw, bh = 20.0, 14.0  # half-width and height of the backdrop
    back = photo(PHOTOS[rng.integers(len(PHOTOS))])
    surfaces.append(Surface("backdrop", "backdrop",
                            np.array([-bw, bh - CAMERA_HEIGHT, BACKDROP_Z]),
                            np.array([2 * bw, 0.0, 0.0]), np.array([0.0, -bh, 0.0]),
                            _rgba(back), BACKDROP_Z))
    ground_src = (photo(GROUND_PHOTOS[rng.integers(len(GROUND_PHOTOS))]) if rng.random() < 0.6
                  else procedural(rng))
    ground = _tile(ground_src[:256, :256], 4)
    gw = 14.0
    surfaces.append(Surface("ground", "ground", np.array([-gw, -CAMERA_HEIGHT, BACKDROP_Z]),
                            np.array([2 * gw, 0.0, 0.0]),
                            np.array([0.0, 0.0, -(BACKDROP_Z - GROUND_NEAR_Z)]), _rgba(ground),
                            (BACKDROP_Z + GROUND_NEAR_Z) / 2))
    n = int(rng.integers(2, 5)) if n_objects is None else n_objects
    for k in range(n):
        z = float(rng.uniform(3.5, 8.0))
        x = float(rng.uniform(-0.45, 0.45) * z * 0.9)
        w = float(rng.uniform(0.8, 1.8))
        h = float(rng.uniform(1.0, 2.6))
        tex = photo(PHOTOS[rng.integers(len(PHOTOS))]) if rng.random() < 0.7 else procedural(rng)
        surfaces.append(Surface(f"object{k}", "object", np.array([x - w / 2, h - CAMERA_HEIGHT, z]),
                                np.array([w, 0.0, 0.0]), np.array([0.0, -h, 0.0]), _rgba(tex), z))
    return surfaces


def intrinsics(focal: float, width: int, height: int) -> np.ndarray:
    return np.array([[focal, 0.0, width / 2.0], [0.0, -focal, height / 2.0], [0.0, 0.0, 1.0]])


def project(points: np.ndarray, pose: Pose, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """World points (N, 3) -> image points (N, 2) and camera depths (N,)."""
    cam = (points - pose.center) @ pose.rotation  # = R^T (X - C) for each row
    k = intrinsics(pose.focal, width, height)
    uvw = cam @ k.T
    return uvw[:, :2] / uvw[:, 2:3], cam[:, 2]


def surface_homography(s: Surface, pose: Pose, width: int, height: int) -> np.ndarray:
    h, w = s.texture.shape[:2]
    m = np.stack([s.a / w, s.b / h, s.p0 - pose.center], axis=1)  # world = m @ [u, v, 1]
    return intrinsics(pose.focal, width, height) @ pose.rotation.T @ m


NEAR = 0.05  # camera-space depth below which a surface point is not drawn


def _texture_in_front(s: Surface, pose: Pose) -> np.ndarray:
    """The texture with alpha cleared where the surface lies behind the camera.

    Camera depth is affine in texture coordinates, so "in front" is a half-plane of the texture.
    ``warpPerspective`` maps each image pixel back through the homography's inverse, which also
    reaches points behind the camera (their projections wrap through infinity); clearing their
    alpha keeps them out of the frame. Only needed when some corner is behind the camera.
    """
    h, w = s.texture.shape[:2]
    zrow = (pose.rotation.T @ np.stack([s.a / w, s.b / h, s.p0 - pose.center], axis=1))[2]
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], float) @ zrow
    if corners.min() > NEAR:
        return s.texture
    v, u = np.mgrid[0:h, 0:w]
    front = (u * zrow[0] + v * zrow[1] + zrow[2]) > NEAR
    tex = s.texture.copy()
    tex[..., 3] = np.where(front, tex[..., 3], 0)
    return tex


def render(surfaces: list[Surface], pose: Pose, width: int, height: int,
           with_ids: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """One RGB frame (uint8 (H, W, 3)); with ``with_ids`` also the index of the surface seen at
    each pixel (-1 for none)."""
    import cv2

    frame = np.zeros((height, width, 3), np.uint8)
    frame[:] = (90, 110, 140)  # sky, where no surface is
    ids = np.full((height, width), -1, np.int16) if with_ids else None
    order = sorted(range(len(surfaces)), key=lambda i: -surfaces[i].depth)
    for i in order:
        s = surfaces[i]
        hmat = surface_homography(s, pose, width, height)
        warped = cv2.warpPerspective(_texture_in_front(s, pose), hmat, (width, height),
                                     flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                     borderValue=(0, 0, 0, 0))
        mask = warped[..., 3] > 127
        frame[mask] = warped[..., :3][mask]
        if ids is not None:
            ids[mask] = i
    return (frame, ids) if with_ids else frame
