"""MMD camera motion: frame the character as a dance's camera .vmd does.

A VMD camera key holds a target point, a distance, three angles and a
vertical view angle; between keys each of six channels (x, y, z of the
target, the angles together, the distance, the view angle) follows its own
Bezier easing (``conr.mmd.interpolation.bezier_ease``), stored with the
later key as for bones. MMD turns the camera by yaw, then pitch, then roll
about the target and puts it ``distance`` along its own z axis (negative:
in front, looking at the target):

    R = Ry(-y) Rx(-x) Rz(-z)        eye = target + R (0, 0, distance)        looking along R (0, 0, 1)

in MMD's (and our model space's) left-handed axes. We render through the
dances' level camera by moving the posed points into this camera's frame
(so the UDP values, read from the bind pose, are unchanged). Our frames are
square: the view angle is the square's, i.e. MMD's 16:9 picture cropped to
its middle. Orthographic keys are drawn in perspective. Parts of the model
behind the camera (close-ups) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..render3d.camera import Camera
from ..render3d.frames import render_udp
from .axes import to_model_points
from .interpolation import bezier_ease
from .vmd import CameraTrack

#: Nothing closer to the camera than this (metres) is drawn.
NEAR = 0.05


def _axis(axis: int, angle: np.ndarray) -> np.ndarray:
    """(F, 3, 3) rotations by ``angle`` (F,) about coordinate ``axis`` (right-hand rule)."""
    c, s = np.cos(angle), np.sin(angle)
    m = np.zeros(angle.shape + (3, 3))
    i, j = (axis + 1) % 3, (axis + 2) % 3  # cyclic, so the right-hand rule holds for y too
    m[..., axis, axis] = 1.0
    m[..., i, i], m[..., i, j], m[..., j, i], m[..., j, j] = c, -s, s, c
    return m


def camera_rotation(angles: np.ndarray) -> np.ndarray:
    """(F, 3, 3) camera axes (columns: right, up, forward) in model space for MMD angles (F, 3), radians."""
    angles = np.asarray(angles, np.float64)
    return _axis(1, -angles[..., 1]) @ _axis(0, -angles[..., 0]) @ _axis(2, -angles[..., 2])


@dataclass(frozen=True)
class CameraView:
    """One frame's MMD camera: its axes (columns right, up, forward), eye (metres) and vertical view angle."""

    rotation: np.ndarray
    eye: np.ndarray
    fov_degrees: float

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """Model-space points (N, 3) -> this camera's frame (x right, y up, z forwards)."""
        return (np.asarray(points, np.float64) - self.eye) @ self.rotation

    def render(self, positions, rest, triangles, part_ids, size: int, convention, rasterizer=None) -> np.ndarray:
        """A UDP frame of the posed mesh seen by this camera (triangles reaching behind it are left out)."""
        local = self.to_camera(positions)
        depth = local[:, 2]
        if depth.min(initial=np.inf) <= NEAR:
            keep = (depth[triangles] > NEAR).all(axis=1)
            used, inverse = np.unique(triangles[keep], return_inverse=True)
            local, rest, part_ids = local[used], rest[used], part_ids[used]
            triangles = inverse.reshape(-1, 3).astype(np.int32)
            depth = local[:, 2]
        if not len(triangles):
            return np.zeros((size, size, 4), np.float32)
        near, far = max(float(depth.min()) * 0.8, NEAR * 0.5), float(depth.max()) * 1.25
        camera = Camera(0.0, 0.0, 0.0, near=near, far=max(far, near * 2), fov_degrees=self.fov_degrees)
        return render_udp(local, rest, triangles, part_ids, camera, size, convention, rasterizer)


def sample_camera(track: CameraTrack, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Targets (F, 3) and distances (F,) in metres, angles (F, 3) radians, view angles (F,) degrees at ``frames``."""
    frames = np.asarray(frames, np.float64).reshape(-1)
    keys = track.frames
    before = np.searchsorted(keys, frames, side="right") - 1
    i = np.clip(before, 0, len(keys) - 1)
    j = np.clip(before + 1, 0, len(keys) - 1)
    span = (keys[j] - keys[i]).astype(np.float64)
    x = np.where(span > 0, (frames - keys[i]) / np.where(span > 0, span, 1.0), 0.0)
    eased = bezier_ease(
        track.curves[j], np.clip(x, 0.0, 1.0)[:, None]
    )  # (F, 6): x, y, z, rotation, distance, view angle
    blend = lambda values, w: values[i] + (values[j] - values[i]) * w  # noqa: E731
    targets = blend(track.targets, eased[:, :3])
    angles = blend(track.angles, eased[:, 3:4])
    distances = blend(track.distances, eased[:, 4])
    view_angles = blend(track.view_angles, eased[:, 5])
    return to_model_points(targets), to_model_points(distances), angles, view_angles


def camera_views(track: CameraTrack, frames: np.ndarray) -> list[CameraView]:
    """The camera at each (fractional) VMD frame."""
    targets, distances, angles, view_angles = sample_camera(track, frames)
    rotations = camera_rotation(angles)
    eyes = targets + rotations[:, :, 2] * distances[:, None]
    return [CameraView(r, e, float(v)) for r, e, v in zip(rotations, eyes, view_angles)]
