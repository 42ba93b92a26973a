"""Hair and skirt of our character: its spring chains (``skeleton.SPRING_CHAINS``) simulated over a looping dance.

The keyed body drives the chains' anchors and the body capsules
(``skeleton.COLLIDERS``) frame by frame; ``springs.simulate`` runs warm-up
loops so the baked loop starts in the steady state and joins up at the seam.
The result is a table of local rotations per frame that ``Motion.sample``
interpolates.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..render3d import quaternions as quat
from ..render3d.skinning import Skeleton
from ..render3d.springs import SpringChain, local_rotations, simulate
from .posing import Pose
from .skeleton import COLLIDERS, SKELETON, SPRING_CHAINS

#: At least this many seconds of warm-up before the recorded loop (whole loops of the dance).
WARMUP_SECONDS = 4.0


def _chains(skeleton: Skeleton) -> tuple[list[SpringChain], np.ndarray]:
    chains, bones = [], []
    for anchor, names, settings in SPRING_CHAINS:
        ids = [skeleton.index[n] for n in names]
        points = np.vstack([skeleton.heads[ids], skeleton.tails[ids[-1]]])
        chains.append(SpringChain(points, skeleton.index[anchor], settings))
        bones.append(ids)
    width = max(len(b) for b in bones)
    return chains, np.array([b + [-1] * (width - len(b)) for b in bones])


def body_frames(skeleton: Skeleton, poses: list[Pose]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: every bone's skinning matrix as (F, B, 4, 4), the colliders' capsules (F, K, 2, 3), and their radii (K,)."""
    matrices = np.tile(np.eye(4), (len(poses), len(skeleton), 1, 1))
    for f, pose in enumerate(poses):
        world = skeleton.world_transforms(pose.rotations, pose.root_offset, pose.root_yaw)
        matrices[f, :, :3, :] = skeleton.skinning_matrices(world)
    ids = np.array([skeleton.index[bone] for bone, *_ in COLLIDERS])
    ends = np.array([[a, b] for _, a, b, _ in COLLIDERS], np.float64)  # (K, 2, 3)
    capsules = np.einsum("fkij,knj->fkni", matrices[:, ids, :3, :3], ends) + matrices[:, ids][..., None, :3, 3]
    return matrices, capsules, np.array([r for *_, r in COLLIDERS], np.float64)


def bake_springs(
    keyed: Callable[[float], Pose], seconds: float, fps: int, skeleton: Skeleton | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate one seamless loop: (spring bone indices (S,), local rotations (F, S, 4)) for ``fps`` frames a second."""
    skeleton = skeleton or SKELETON
    chains, bones = _chains(skeleton)
    frames = int(round(seconds * fps))
    poses = [keyed(f / fps) for f in range(frames)]
    matrices, capsules, radii = body_frames(skeleton, poses)
    loops = max(1, int(np.ceil(WARMUP_SECONDS / seconds)))
    result = simulate(chains, matrices, fps, capsules, radii, loop=True, warmup_loops=loops)
    anchors = np.array([c.anchor for c in chains])
    local = local_rotations(result.rotations, matrices[:, anchors, :3, :3])  # (F, C, N, 3, 3)
    valid = bones >= 0
    table = quat.from_matrix(local[:, valid])  # (F, S, 4)
    return bones[valid], table
