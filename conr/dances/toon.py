"""Toon shading: the character drawn like an anime sheet (flat colours, two-tone shading, dark outlines).

It shades a G-buffer (rest position, normal, part id) rather than the mesh,
so the same rasterizers serve it, and colours are painted by region in rest
coordinates (eyes, collar, socks...) without any texture. Drawn at twice
the size and averaged down, so edges are anti-aliased; the figure's alpha
is its coverage, so its silhouette is that of the UDP frame of the same pose.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..render3d.camera import Camera
from .character import HEAD_CENTRE, PART_ID, Character
from .posing import Pose, posed_mesh

SUPERSAMPLE = 2
OUTLINE = np.array([52, 36, 48], np.float64)
#: Towards the light, model axes: from the viewer's upper left, in front of the figure.
LIGHT = np.array([-0.45, 0.65, -0.62]) / np.linalg.norm([-0.45, 0.65, -0.62])
SHADE_THRESHOLD = 0.12

SKIN = (255, 228, 212)
HAIR = (120, 196, 206)
DRESS = (46, 58, 120)
COLLAR = (245, 245, 250)
RIBBON = (214, 56, 72)
SOCK = (44, 40, 52)
SHOE = (120, 64, 48)
IRIS = (70, 120, 190)
SHADOW_TINT = np.array([0.80, 0.72, 0.82])


def _ellipse(dx, dy, rx, ry):
    return (dx / rx) ** 2 + (dy / ry) ** 2


def paint(part: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Flat base colour (N, 3) for pixels with part ids (N,) and rest positions (N, 3)."""
    x, y, z = rest[:, 0], rest[:, 1], rest[:, 2]
    colour = np.zeros((len(part), 3))
    is_ = lambda *names: np.isin(part, [PART_ID[n] for n in names])  # noqa: E731

    colour[is_("head", "neck", "arm.L", "arm.R", "leg.L", "leg.R", "thumb.L", "thumb.R")] = SKIN
    colour[is_("hair", "back_hair", "lock.L", "lock.R", "tail.L", "tail.R")] = HAIR
    colour[is_("tail.L", "tail.R") & (y > 1.535)] = RIBBON  # the ties of the twin tails
    colour[is_("torso", "skirt")] = DRESS
    colour[is_("shoe.L", "shoe.R")] = SHOE

    # Face: big eyes (iris, pupil, highlight, upper lash line), a small mouth, blush.
    hx, hy = x - HEAD_CENTRE[0], y - HEAD_CENTRE[1]
    face = is_("head") & (z < HEAD_CENTRE[2] - 0.04)
    ex = np.abs(hx) - 0.043
    eye = face & (_ellipse(ex, hy + 0.032, 0.024, 0.031) < 1)
    colour[eye] = IRIS
    colour[eye & (hy + 0.032 > 0.006)] = (40, 64, 120)
    colour[eye & (_ellipse(ex, hy + 0.036, 0.011, 0.016) < 1)] = (24, 28, 60)
    colour[eye & (_ellipse(ex - 0.008, hy + 0.020, 0.006, 0.006) < 1)] = (255, 255, 255)  # highlight
    lash = face & (_ellipse(ex, hy + 0.032, 0.029, 0.036) < 1) & ~eye & (hy + 0.032 > 0.008)
    colour[lash] = (40, 28, 36)
    colour[face & (np.abs(hx) < 0.011) & (np.abs(hy + 0.088) < 0.0028)] = (170, 70, 80)
    blush = face & (_ellipse(np.abs(hx) - 0.058, hy + 0.068, 0.018, 0.008) < 1)
    colour[blush] = colour[blush] * 0.6 + np.array([255, 150, 160]) * 0.4

    # Dress: a white sailor collar over the shoulders, a red ribbon at the front, a white hem line.
    torso = is_("torso")
    collar = torso & (y > 1.225) & ((z > -0.02) | (np.abs(x) > 0.035 + (1.30 - y) * 0.9))
    colour[collar] = COLLAR
    colour[torso & (y > 1.17) & (y < 1.235) & (np.abs(x) < 0.045 + (1.235 - y) * 0.4) & (z < -0.05)] = RIBBON
    colour[is_("skirt") & (y < 0.665)] = COLLAR

    # Sleeves on the upper arms, thigh-high socks.
    for side, sign in (("L", 1.0), ("R", -1.0)):
        sleeve = is_(f"arm.{side}") & (sign * x < 0.215)
        colour[sleeve] = DRESS
        colour[is_(f"arm.{side}") & (sign * x >= 0.205) & (sign * x < 0.215)] = COLLAR
        colour[is_(f"leg.{side}") & (y < 0.53)] = SOCK
    return colour


def shade(buffer, camera: Camera, light: np.ndarray = LIGHT) -> np.ndarray:
    """A G-buffer with [rest xyz, normal xyz] attributes -> straight RGBA float (S, S, 4) in [0, 255]."""
    coverage = buffer.coverage
    rest, normal = buffer.attributes[coverage, :3], buffer.attributes[coverage, 3:6]
    base = paint(buffer.part[coverage], rest)
    lit = normal @ light > SHADE_THRESHOLD
    rgb = np.where(lit[:, None], base, base * SHADOW_TINT)

    size = coverage.shape[0]
    image = np.zeros((size, size, 4))
    image[coverage, :3] = rgb
    image[coverage, 3] = 255.0

    # Outlines: the silhouette, part boundaries and depth steps (occluding contours), drawn inside the figure.
    n, f = camera.near, camera.far
    distance = 2 * n * f / (f + n - (2 * buffer.depth.astype(np.float64) - 1) * (f - n))
    edge = np.zeros_like(coverage)
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        shifted = lambda a: np.roll(np.roll(a, dy, 0), dx, 1)  # noqa: E731
        other_cov, other_part, other_dist = shifted(coverage), shifted(buffer.part), shifted(distance)
        step = (coverage != other_cov) | (buffer.part != other_part) | (np.abs(distance - other_dist) > 0.04)
        edge |= step | np.roll(np.roll(step, -dy, 0), -dx, 1)
    edge = cv2.dilate(edge.astype(np.uint8), np.ones((2, 2), np.uint8)).astype(bool) & coverage
    image[edge, :3] = OUTLINE
    return image


def render_toon(character: Character, pose: Pose, camera: Camera, size: int, rasterizer) -> np.ndarray:
    """The posed character toon-shaded on a transparent ``size`` x ``size`` canvas, straight RGBA uint8."""
    big = size * SUPERSAMPLE
    positions, normals = posed_mesh(character, pose, with_normals=True)
    attributes = np.concatenate([character.vertices, normals], axis=1)
    buffer = rasterizer.rasterize(camera.to_clip(positions), character.triangles, attributes, character.part_ids, big)
    image = shade(buffer, camera)
    alpha = image[:, :, 3:4] / 255.0
    premultiplied = np.concatenate([image[:, :, :3] * alpha, image[:, :, 3:4]], axis=2).astype(np.float32)
    small = cv2.resize(premultiplied, (size, size), interpolation=cv2.INTER_AREA).astype(np.float64)
    a = small[:, :, 3:4]
    rgb = np.where(a > 0, small[:, :, :3] * 255.0 / np.maximum(a, 1e-6), 0.0)
    return np.clip(np.concatenate([rgb, a], axis=2) + 0.5, 0, 255).astype(np.uint8)
