"""Camera framing for imported dances: a camera that follows the character, or one fixed camera.

Both use the dances' level perspective camera (``conr.dances.camera``)
looking at the character's front. MMD dances often travel across the
stage, so by default the camera *follows*: each frame it is centred on the
body's bounding box (smoothed over time, so it glides rather than jitters)
and keeps one distance from the body for the whole dance, the smallest at
which every frame fits; the figure keeps its size. ``fixed`` fits one camera
to the whole dance, exactly as the bundled dances are framed.
"""

from __future__ import annotations

import numpy as np

from ..dances.camera import FIELD_OF_VIEW_DEGREES, Camera, fit_camera

#: Fraction of the half-image kept free around the body (the bundled dances use the same).
MARGIN = 0.08
#: The followed centre is smoothed with a Gaussian of this many seconds (standard deviation).
SMOOTHING_SECONDS = 0.25
FRAMINGS = ("follow", "fixed")


def fixed_camera(samples: list[np.ndarray], margin: float = MARGIN) -> Camera:
    """One camera fitted to every sampled point of every frame (as ``conr.dances.generator.dance_camera``)."""
    return fit_camera(np.concatenate(samples), margin=margin)


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


def follow_cameras(samples: list[np.ndarray], fps: float, margin: float = MARGIN, smoothing_seconds: float = SMOOTHING_SECONDS,
                   fov_degrees: float = FIELD_OF_VIEW_DEGREES) -> list[Camera]:  # fmt: skip
    """One camera per frame: centred on that frame's (smoothed) body, all at one distance that fits every frame."""
    lows = np.stack([s.min(axis=0) for s in samples])
    highs = np.stack([s.max(axis=0) for s in samples])
    centres = _smooth((lows + highs) / 2, smoothing_seconds * fps)
    focal = 1.0 / np.tan(np.radians(fov_degrees) / 2)
    distance = 0.0
    for points, (cx, cy, cz) in zip(samples, centres):
        reach = np.maximum(np.abs(points[:, 0] - cx), np.abs(points[:, 1] - cy))
        # A point at depth d in front of the eye lands at ndc = focal * reach / d; keep |ndc| <= 1 - margin.
        distance = max(distance, float(np.max(cz - points[:, 2] + focal * reach / (1.0 - margin))))
    cameras = []
    for points, (cx, cy, cz) in zip(samples, centres):
        eye_z = float(cz - distance)
        nearest, farthest = float(points[:, 2].min() - eye_z), float(points[:, 2].max() - eye_z)
        cameras.append(Camera(float(cx), float(cy), eye_z, near=max(nearest * 0.8, 1e-6), far=farthest * 1.25, fov_degrees=fov_degrees))
    return cameras
