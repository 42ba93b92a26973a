"""A fixed perspective camera in front of the character, and framing that keeps a whole dance in view.

The camera looks along +z (at the character's front) from z < 0, level,
with a square image. Model space is MMD-style left-handed (x = character's
left = the viewer's right), so the view matrix maps x, y unchanged and flips
z into OpenGL's eye space (camera looking down -z).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Vertical (and horizontal) field of view; narrow, like MMD's default 30 degrees.
FIELD_OF_VIEW_DEGREES = 30.0
#: Fraction of the half-image kept free around the body.
MARGIN = 0.06
#: A camera fixed for a whole dance is fitted to this many poses per second of it (and every 7th vertex).
FRAMING_RATE = 10


@dataclass(frozen=True)
class Camera:
    """Eye at (centre_x, centre_y, eye_z) looking along +z; OpenGL clip-space conventions."""

    centre_x: float
    centre_y: float
    eye_z: float
    near: float
    far: float
    fov_degrees: float = FIELD_OF_VIEW_DEGREES

    @property
    def focal(self) -> float:
        return 1.0 / np.tan(np.radians(self.fov_degrees) / 2)

    def projection(self) -> np.ndarray:
        """Model -> clip space, (4, 4)."""
        f, n, far = self.focal, self.near, self.far
        view = np.array(
            [[1, 0, 0, -self.centre_x], [0, 1, 0, -self.centre_y], [0, 0, -1, self.eye_z], [0, 0, 0, 1]], np.float64
        )
        project = np.array(
            [[f, 0, 0, 0], [0, f, 0, 0], [0, 0, (far + n) / (n - far), 2 * far * n / (n - far)], [0, 0, -1, 0]],
            np.float64,
        )
        return project @ view

    def to_clip(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) model points -> (N, 4) clip coordinates."""
        matrix = self.projection()
        return np.c_[points, np.ones(len(points))] @ matrix.T

    def to_pixels(self, points: np.ndarray, size: int) -> np.ndarray:
        """(N, 3) model points -> (N, 2) pixel coordinates (column, row from the top; centres at +0.5)."""
        clip = self.to_clip(points)
        ndc = clip[:, :2] / clip[:, 3:4]
        return np.stack([(ndc[:, 0] + 1) * size / 2, (1 - ndc[:, 1]) * size / 2], axis=1)


def fit_camera(points: np.ndarray, fov_degrees: float = FIELD_OF_VIEW_DEGREES, margin: float = MARGIN) -> Camera:
    """The camera, level and looking at the middle of ``points`` (N, 3), that just fits them all with a margin."""
    low, high = points.min(axis=0), points.max(axis=0)
    cx, cy = (low[0] + high[0]) / 2, (low[1] + high[1]) / 2
    focal = 1.0 / np.tan(np.radians(fov_degrees) / 2)
    reach = np.maximum(np.abs(points[:, 0] - cx), np.abs(points[:, 1] - cy))
    # A point at depth d = z - eye_z lands at ndc = focal * reach / d; keep |ndc| <= 1 - margin.
    eye_z = float(np.min(points[:, 2] - focal * reach / (1.0 - margin)))
    nearest = float(points[:, 2].min() - eye_z)
    farthest = float(points[:, 2].max() - eye_z)
    return Camera(
        float(cx), float(cy), eye_z, near=max(0.05, nearest * 0.8), far=farthest * 1.25, fov_degrees=fov_degrees
    )
