"""Camera framing for imported dances: a camera that follows the character, or one fixed camera.

Both use the engine's level perspective camera (``conr.render3d.camera``)
looking at the character's front. MMD dances often travel across the
stage, so by default the camera *follows*: each frame it is centred on the
body's bounding box (smoothed over time, so it glides rather than jitters)
and keeps one distance from the body for the whole dance, the smallest at
which every frame fits; the figure keeps its size. ``fixed`` fits one camera
to the whole dance, exactly as the bundled dances are framed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..render3d.camera import FIELD_OF_VIEW_DEGREES, Camera, fit_camera

#: Fraction of the half-image kept free around the body (the bundled dances use the same).
MARGIN = 0.08
#: The followed centre is smoothed with a Gaussian of this many seconds (standard deviation).
SMOOTHING_SECONDS = 0.25
FRAMINGS = ("follow", "fixed", "camera")  # camera: an MMD camera motion's (conr.mmd.camera)


def fixed_camera(samples: list[np.ndarray], margin: float = MARGIN) -> Camera:
    """One camera fitted to every sampled point of every frame (as ``conr.dances.generator.dance_camera``)."""
    return fit_camera(np.concatenate(samples), margin=margin)


@dataclass(frozen=True)
class Extent:
    """What framing needs to know of one frame's points: their box, and how far back the camera must be.

    ``need`` is the largest ``-z + k * reach`` over the points, reach being the
    distance from the box centre across the image (max of |dx|, |dy|) and
    ``k = focal / (1 - margin)``: an eye at depth ``e`` frames every point iff
    ``centre_z - e >= centre_z + need``. Keeping this instead of the points
    lets a long dance be framed in constant memory.
    """

    low: np.ndarray
    high: np.ndarray
    need: float


def _reach_factor(margin: float, fov_degrees: float) -> float:
    return 1.0 / np.tan(np.radians(fov_degrees) / 2) / (1.0 - margin)


def extent_of(points: np.ndarray, margin: float = MARGIN, fov_degrees: float = FIELD_OF_VIEW_DEGREES) -> Extent:
    low, high = points.min(axis=0), points.max(axis=0)
    centre = (low + high) / 2
    reach = np.maximum(np.abs(points[:, 0] - centre[0]), np.abs(points[:, 1] - centre[1]))
    return Extent(low, high, float(np.max(-points[:, 2] + _reach_factor(margin, fov_degrees) * reach)))


def _smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along axis 0; the ends are extended by point reflection, so steady motion stays exact."""
    if sigma < 0.5 or len(values) < 3:
        return values
    radius = int(min(np.ceil(3 * sigma), len(values) - 1))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    before = 2 * values[0] - values[radius:0:-1]
    after = 2 * values[-1] - values[-2 : -radius - 2 : -1]
    padded = np.concatenate([before, values, after])
    return np.stack([np.convolve(padded[:, c], kernel, mode="valid") for c in range(values.shape[1])], axis=1)


def follow_cameras(
    extents: list[Extent],
    fps: float,
    margin: float = MARGIN,
    smoothing_seconds: float = SMOOTHING_SECONDS,
    fov_degrees: float = FIELD_OF_VIEW_DEGREES,
) -> list[Camera]:
    """One camera per frame: centred on that frame's (smoothed) body, all at one distance that fits every frame.

    Smoothing moves a frame's centre by some ``delta`` from its box centre,
    which lengthens any reach by at most ``max(|dx|, |dy|)``: the distance
    allows for it, so every point stays inside the margin.
    """
    lows = np.stack([e.low for e in extents])
    highs = np.stack([e.high for e in extents])
    boxes = (lows + highs) / 2
    centres = _smooth(boxes, smoothing_seconds * fps)
    shift = np.abs(centres[:, :2] - boxes[:, :2]).max(axis=1)
    needs = np.array([e.need for e in extents])
    distance = float(np.max(centres[:, 2] + needs + _reach_factor(margin, fov_degrees) * shift))
    cameras = []
    for (cx, cy, cz), low, high in zip(centres, lows, highs):
        eye_z = float(cz - distance)
        nearest, farthest = float(low[2] - eye_z), float(high[2] - eye_z)
        cameras.append(
            Camera(
                float(cx), float(cy), eye_z, near=max(nearest * 0.8, 1e-6), far=farthest * 1.25, fov_degrees=fov_degrees
            )
        )
    return cameras
