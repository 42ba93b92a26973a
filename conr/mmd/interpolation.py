"""VMD keyframe interpolation: MMD's per-channel Bezier easing, and sampling a bone track at any frame.

Between two keys, each channel (x, y and z of the position, and the
rotation) follows its own easing curve, stored with the *later* key: a cubic
Bezier from (0, 0) to (1, 1) with control points (x1, y1) and (x2, y2) on a
0..127 grid. For elapsed fraction x of the interval, the eased fraction is
y(s) where x(s) = x. Positions are blended linearly with it, rotations by
slerp. Before the first key a track holds it; after the last, likewise.
"""

from __future__ import annotations

import numpy as np

from ..render3d.quaternions import slerp
from .vmd import CURVE_MAX, BoneTrack

#: Bisection steps solving x(s) = x; 2**-32 is far below float32 key precision.
BISECTION_STEPS = 32


def _bezier(p1: np.ndarray, p2: np.ndarray, s: np.ndarray) -> np.ndarray:
    """One coordinate of the cubic Bezier with end points 0 and 1 and inner control values p1, p2."""
    u = 1.0 - s
    return 3.0 * u * u * s * p1 + 3.0 * u * s * s * p2 + s * s * s


def bezier_ease(curve: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Eased fraction for elapsed fraction ``x`` (in [0, 1]) on curves (..., 4) = (x1, y1, x2, y2), 0..127
    (values beyond are clipped).

    x(s) never decreases when the control values lie in [0, 1] (they do: the
    grid is clipped), so a fixed number of bisection steps finds s: bounded
    time, no iteration that may fail to converge.
    """
    curve = np.clip(np.asarray(curve, np.float64), 0, CURVE_MAX) / CURVE_MAX
    x = np.clip(np.asarray(x, np.float64), 0.0, 1.0)
    x1, y1, x2, y2 = np.moveaxis(curve, -1, 0)
    low, high = np.zeros_like(x + x1), np.ones_like(x + x1)
    target = np.broadcast_to(x, low.shape)
    for _ in range(BISECTION_STEPS):
        middle = 0.5 * (low + high)
        below = _bezier(x1, x2, middle) < target
        low = np.where(below, middle, low)
        high = np.where(below, high, middle)
    y = _bezier(y1, y2, 0.5 * (low + high))
    linear = (x1 == y1) & (x2 == y2)  # control points on the diagonal: the curve is y = x
    return np.where(linear, target, y)


class TrackSet:
    """Several tracks sampled together: their keys concatenated once, one easing pass per call."""

    def __init__(self, tracks: list[BoneTrack]):
        self.tracks = list(tracks)
        self.offsets = np.cumsum([0] + [len(t.frames) for t in self.tracks])[:-1]
        self.positions = np.concatenate([t.positions for t in self.tracks]) if self.tracks else np.zeros((0, 3))
        self.rotations = np.concatenate([t.rotations for t in self.tracks]) if self.tracks else np.zeros((0, 4))
        self.curves = np.concatenate([t.curves for t in self.tracks]) if self.tracks else np.zeros((0, 4, 4), np.uint8)

    def sample(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions (T, F, 3) and rotations (T, F, 4) of every track at (fractional) ``frames`` (F,)."""
        frames = np.asarray(frames, np.float64).reshape(-1)
        if not self.tracks:
            return np.zeros((0, len(frames), 3)), np.zeros((0, len(frames), 4))
        starts, ends, fractions = [], [], []
        for track, offset in zip(self.tracks, self.offsets):  # each frame's interval: a binary search per track
            keys = track.frames
            before = np.searchsorted(keys, frames, side="right") - 1
            i = np.clip(before, 0, len(keys) - 1)
            j = np.clip(before + 1, 0, len(keys) - 1)
            span = (keys[j] - keys[i]).astype(np.float64)
            fractions.append(np.where(span > 0, (frames - keys[i]) / np.where(span > 0, span, 1.0), 0.0))
            starts.append(i + offset)
            ends.append(j + offset)
        i, j = np.concatenate(starts), np.concatenate(ends)
        eased = bezier_ease(self.curves[j], np.clip(np.concatenate(fractions), 0.0, 1.0)[:, None])  # x, y, z, rotation
        moved = self.positions[i] + (self.positions[j] - self.positions[i]) * eased[:, :3]
        turned = slerp(self.rotations[i], self.rotations[j], eased[:, 3])
        return moved.reshape(len(self.tracks), len(frames), 3), turned.reshape(len(self.tracks), len(frames), 4)


def sample_track(track: BoneTrack, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions (F, 3) and rotations (F, 4) of one track at (fractional) ``frames`` (F,)."""
    positions, rotations = TrackSet([track]).sample(frames)
    return positions[0], rotations[0]
