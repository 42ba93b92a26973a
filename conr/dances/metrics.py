"""How lively and how clean a dance is: pose variety and foot-skate.

Pose variety (issue 13): the mean pairwise (1 - IoU) of the silhouettes
(visibility > 0.5) of 24 evenly spaced frames, each cropped to its own
bounding box, padded square and resized to 96x96, so framing and scale do
not count, only the shape of the pose. Public MMD dances converted with
``udp-from-mmd`` score 0.60-0.75; a figure standing still scores 0.

Foot-skate: the mean horizontal speed of a planted foot, in cm per frame at
a character height of 1.6 m. A foot is planted in a frame when its ankle is
within ``PLANTED_HEIGHT`` of its rest height; only steps between two planted
frames count, so lifting and placing a foot is free, sliding it is not.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import cv2
import numpy as np

from .character import HEIGHT
from .generator import dance_frames
from .skeleton import SKELETON

VARIETY_FRAMES = 24
SILHOUETTE_SIZE = 96
#: An ankle this close to its rest height (model units, metres at 1.6 m) is on the floor.
PLANTED_HEIGHT = 0.02


def silhouette(frame: np.ndarray, size: int = SILHOUETTE_SIZE) -> np.ndarray:
    """The visible figure of a UDP frame (H, W, 4) or a mask (H, W), cropped, padded square, ``size`` x ``size`` bool.

    An empty frame gives an empty silhouette.
    """
    mask = np.asarray(frame)
    mask = (mask[..., 3] if mask.ndim == 3 else mask) > 0.5
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not rows.size:
        return np.zeros((size, size), bool)
    crop = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    side = max(h, w)
    square = np.zeros((side, side), np.float32)
    top, left = (side - h) // 2, (side - w) // 2
    square[top : top + h, left : left + w] = crop
    return cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA) > 0.5


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1.0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def variety_of_silhouettes(silhouettes: Sequence[np.ndarray]) -> float:
    """Mean pairwise (1 - IoU) of already-made silhouettes."""
    count = len(silhouettes)
    if count < 2:
        raise ValueError("pose variety needs at least two frames")
    flat = np.stack([np.asarray(s, bool).ravel() for s in silhouettes]).astype(np.float64)
    inter = flat @ flat.T
    sizes = flat.sum(axis=1)
    union = sizes[:, None] + sizes[None, :] - inter
    ious = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    upper = np.triu_indices(count, k=1)
    return float(np.mean(1.0 - ious[upper]))


def variety_frame_indices(frame_count: int, samples: int = VARIETY_FRAMES) -> np.ndarray:
    """The ``samples`` evenly spaced frames of a sequence (all of them if it is shorter)."""
    if frame_count <= samples:
        return np.arange(frame_count)
    return np.floor(np.arange(samples) * frame_count / samples).astype(int)


def pose_variety(frames: Sequence[np.ndarray] | Iterable[np.ndarray], samples: int = VARIETY_FRAMES) -> float:
    """Pose variety of a UDP sequence (anything indexable with a length, e.g. ``UdpSequence``), or of given frames.

    With an indexable sequence only the 24 evenly spaced frames are read.
    """
    if not hasattr(frames, "__len__") or not hasattr(frames, "__getitem__"):
        frames = list(frames)
    picked = [frames[int(i)] for i in variety_frame_indices(len(frames), samples)]
    return variety_of_silhouettes([silhouette(f) for f in picked])


def foot_skate(ankles: np.ndarray, rest_height: float, height: float, planted: float = PLANTED_HEIGHT) -> float:
    """Mean horizontal speed (cm per frame, at a 1.6 m character) of planted ankles.

    ``ankles`` is (F, feet, 3) world ankle positions per frame (y up) of one
    loop; the step from the last frame back to the first counts too. A
    character ``height`` model units tall is scaled to 1.6 m. Returns 0.0
    when no foot is ever planted in two frames running.
    """
    ankles = np.asarray(ankles, np.float64)
    following = np.roll(ankles, -1, axis=0)
    down = (ankles[..., 1] - rest_height < planted) & (following[..., 1] - rest_height < planted)
    if not down.any():
        return 0.0
    step = np.linalg.norm((following - ankles)[..., [0, 2]], axis=-1)
    return float(step[down].mean() * 100.0 * 1.6 / height)


def motion_foot_skate(motion, fps: float | None = None) -> float:
    """Foot-skate of one loop of a ``Motion`` of our character at ``fps`` (default: its own)."""
    feet = [SKELETON.index["foot.L"], SKELETON.index["foot.R"]]
    ankles = []
    for t in motion.frame_times(fps):
        pose = motion.sample(t)
        world = SKELETON.world_transforms(pose.rotations, pose.root_offset, pose.root_yaw)
        ankles.append(world[feet, :3, 3])
    return foot_skate(np.stack(ankles), float(SKELETON.heads[feet[0], 1]), HEIGHT)


def motion_pose_variety(motion, size: int = 192, rasterizer=None) -> float:
    """Pose variety of a ``Motion`` rendered to UDP: only its 24 evenly spaced frames are drawn."""
    times = motion.frame_times()[variety_frame_indices(motion.frame_count)]
    return variety_of_silhouettes(
        [silhouette(f) for f in dance_frames(motion, size, rasterizer=rasterizer, times=times)]
    )
