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


MAX_TEXTURE_SIDE = 512  # larger photos are shrunk once: a 224 px frame never needs more


@functools.cache
def photo(name: str) -> np.ndarray:
    """An RGB photograph shipped with scikit-image (no download), at most 512 px a side."""
    import cv2
    import skimage.data

    im = getattr(skimage.data, name)()
    if im.dtype == bool:
        im = im.astype(np.uint8) * 255
    if im.ndim == 2:
        im = np.stack([im] * 3, axis=-1)
    im = np.ascontiguousarray(im[..., :3].astype(np.uint8))
    scale = MAX_TEXTURE_SIDE / max(im.shape[:2])
    if scale < 1:
        im = cv2.resize(im, (round(im.shape[1] * scale), round(im.shape[0] * scale)),
                        interpolation=cv2.INTER_AREA)
    return im


@functools.cache
def _photo_rgba(name: str, tiles: int = 1) -> np.ndarray:
    tex = photo(name)
    if tiles > 1:
        tex = _tile(tex[:256, :256], tiles)
    return _rgba(tex)


PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field",
          "immunohistochemistry", "colorwheel", "retina", "camera", "coins", "clock", "moon")
GROUND_PHOTOS = ("grass", "gravel", "brick")


def procedural(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    """Checkers, stripes or blobs in random colours: texture where photos have flat areas."""
    kind = rng.integers(3)
    y, x = np.mgrid[0:size, 0:size]
    c1, c2 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    if kind == 0:
        cell = int(rng.integers(6, 20) * size / 128)
        m = ((x // cell + y // cell) % 2).astype(bool)
    elif kind == 1:
        period = rng.uniform(5, 15) * size / 128
        ang = rng.uniform(0, np.pi)
        m = (np.sin((x * np.cos(ang) + y * np.sin(ang)) * 2 * np.pi / period) > 0)
    else:
        cell = max(4, size // 16)
        noise = rng.random((size // cell + 1, size // cell + 1))
        m = np.kron(noise, np.ones((cell, cell)))[:size, :size] > 0.5
    return np.where(m[..., None], c1, c2).astype(np.uint8)


def _tile(tex: np.ndarray, reps: int) -> np.ndarray:
    return np.tile(tex, (reps, reps, 1))


def _rgba(tex: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.dstack([tex, np.full(tex.shape[:2], 255, np.uint8)]))


def make_scene(rng: np.random.Generator, n_objects: int | None = None) -> list[Surface]:
    """A far backdrop, a ground plane and 2-4 upright foreground objects at 3.5-8 units."""
    surfaces = []
    bw, bh = 20.0, 14.0  # half-width and height of the backdrop
    back = _photo_rgba(PHOTOS[rng.integers(len(PHOTOS))])
    surfaces.append(Surface("backdrop", "backdrop",
                            np.array([-bw, bh - CAMERA_HEIGHT, BACKDROP_Z]),
                            np.array([2 * bw, 0.0, 0.0]), np.array([0.0, -bh, 0.0]),
                            back, BACKDROP_Z))
    ground = (_photo_rgba(GROUND_PHOTOS[rng.integers(len(GROUND_PHOTOS))], 4)
              if rng.random() < 0.6 else _rgba(_tile(procedural(rng, 128), 4)))
    gw = 14.0
    surfaces.append(Surface("ground", "ground", np.array([-gw, -CAMERA_HEIGHT, BACKDROP_Z]),
                            np.array([2 * gw, 0.0, 0.0]),
                            np.array([0.0, 0.0, -(BACKDROP_Z - GROUND_NEAR_Z)]), ground,
                            (BACKDROP_Z + GROUND_NEAR_Z) / 2))
    n = int(rng.integers(2, 5)) if n_objects is None else n_objects
    for k in range(n):
        z = float(rng.uniform(3.5, 8.0))
        x = float(rng.uniform(-0.45, 0.45) * z * 0.9)
        w = float(rng.uniform(0.8, 1.8))
        h = float(rng.uniform(1.0, 2.6))
        tex = (_photo_rgba(PHOTOS[rng.integers(len(PHOTOS))]) if rng.random() < 0.7
               else _rgba(procedural(rng, 128)))
        surfaces.append(Surface(f"object{k}", "object", np.array([x - w / 2, h - CAMERA_HEIGHT, z]),
                                np.array([w, 0.0, 0.0]), np.array([0.0, -h, 0.0]), tex, z))
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


def _texture_in_front(s: Surface, m: np.ndarray) -> np.ndarray:
    """The texture with alpha cleared where the surface lies behind the camera.

    Camera depth is affine in texture coordinates, so "in front" is a half-plane of the texture.
    ``warpPerspective`` maps each image pixel back through the homography's inverse, which also
    reaches points behind the camera (their projections wrap through infinity); clearing their
    alpha keeps them out of the frame. Only needed when some corner is behind the camera.
    """
    h, w = s.texture.shape[:2]
    zrow = m[2]  # camera depth of texture point (u, v) is zrow . (u, v, 1)
    depth = np.array([zrow[2], w * zrow[0] + zrow[2], w * zrow[0] + h * zrow[1] + zrow[2],
                      h * zrow[1] + zrow[2]])
    if depth.min() > NEAR:
        return s.texture
    quad = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)
    # Clip the texture rectangle to the half-plane depth > NEAR (Sutherland-Hodgman, one edge)
    # and keep alpha only inside the clipped polygon.
    poly = []
    for i in range(4):
        p, q, dp, dq = quad[i], quad[(i + 1) % 4], depth[i], depth[(i + 1) % 4]
        if dp > NEAR:
            poly.append(p)
        if (dp > NEAR) != (dq > NEAR):
            poly.append(p + (q - p) * (NEAR - dp) / (dq - dp))
    import cv2

    tex = s.texture.copy()
    alpha = np.zeros((h, w), np.uint8)
    if len(poly) >= 3:
        cv2.fillConvexPoly(alpha, np.round(np.array(poly)).astype(np.int32), 255)
    tex[..., 3] = np.minimum(tex[..., 3], alpha)
    return tex


def render(surfaces: list[Surface], pose: Pose, width: int, height: int,
           with_ids: bool = False, rgba: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """One RGB frame (uint8 (H, W, 3); (H, W, 4) with ``rgba``, which the encoder takes without a
    copy); with ``with_ids`` also the index of the surface seen at each pixel (-1 for none)."""
    import cv2

    frame = np.empty((height, width, 4), np.uint8)
    frame[:] = (90, 110, 140, 255)  # sky, where no surface is
    ids = np.full((height, width), -1, np.int16) if with_ids else None
    order = sorted(range(len(surfaces)), key=lambda i: -surfaces[i].depth)
    k = intrinsics(pose.focal, width, height)
    rt = pose.rotation.T
    for i in order:
        s = surfaces[i]
        h, w = s.texture.shape[:2]
        m = rt @ np.column_stack([s.a / w, s.b / h, s.p0 - pose.center])  # texture -> camera
        tex = _texture_in_front(s, m)
        if tex is s.texture and ids is None:
            # Wholly in front of the camera: warp straight into the frame; BORDER_TRANSPARENT
            # leaves pixels outside the surface as they are, which is the painter's composite.
            cv2.warpPerspective(tex, k @ m, (width, height), dst=frame, flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_TRANSPARENT)
            continue
        warped = cv2.warpPerspective(tex, k @ m, (width, height), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
        _, mask = cv2.threshold(warped[..., 3], 127, 255, cv2.THRESH_BINARY)
        cv2.copyTo(warped, mask, frame)  # painter's order: nearer surfaces overwrite
        if ids is not None:
            ids[mask > 0] = i
    out = frame if rgba else np.ascontiguousarray(frame[..., :3])
    return (out, ids) if with_ids else out
