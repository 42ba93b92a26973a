"""A bone hierarchy without rest rotations, and linear blend skinning: the skinning half of the engine.

Every bone's rest frame has the model's axes (no rest rotation), so a pose
is simply one local rotation per bone about its joint, expressed in model
axes (our character, ``conr.dances.skeleton``). ``skin`` is shared with
imported models (``conr.mmd.posing``), which build their own skinning
matrices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .quaternions import to_matrix


@dataclass(frozen=True)
class Bone:
    name: str
    parent: str | None
    head: tuple[float, float, float]  # the joint it rotates about, rest pose, model units
    tail: tuple[float, float, float]  # where it ends (for skin weights by distance)


class Skeleton:
    """Bone names, parent indices and rest joint positions as arrays."""

    def __init__(self, bones: tuple[Bone, ...]):
        self.bones = bones
        self.names = [b.name for b in bones]
        self.index = {name: i for i, name in enumerate(self.names)}
        self.parents = np.array([self.index[b.parent] if b.parent else -1 for b in bones])
        if any(p >= i for i, p in enumerate(self.parents)):
            raise ValueError("bones must be listed parents first")
        self.heads = np.array([b.head for b in bones], dtype=np.float64)
        self.tails = np.array([b.tail for b in bones], dtype=np.float64)

    def __len__(self) -> int:
        return len(self.bones)

    def world_transforms(
        self, rotations: np.ndarray, root_offset=(0.0, 0.0, 0.0), root_yaw: np.ndarray | None = None
    ) -> np.ndarray:
        """Posed bone frames (B, 4, 4) from local rotations (B, 4) about each joint.

        ``root_offset`` moves the hips; ``root_yaw`` (a quaternion) turns the
        whole figure about the vertical through the hips (views of the sheet).
        """
        local = to_matrix(rotations)
        world = np.zeros((len(self), 4, 4))
        for i, parent in enumerate(self.parents):
            frame = np.eye(4)
            frame[:3, :3] = local[i]
            if parent < 0:
                frame[:3, 3] = self.heads[i] + np.asarray(root_offset, np.float64)
                if root_yaw is not None:
                    yaw = np.eye(4)
                    yaw[:3, :3] = to_matrix(root_yaw)
                    pivot = np.eye(4)
                    pivot[:3, 3] = self.heads[i] * np.array([1.0, 0.0, 1.0])
                    frame = pivot @ yaw @ np.linalg.inv(pivot) @ frame
                world[i] = frame
            else:
                frame[:3, 3] = self.heads[i] - self.heads[parent]
                world[i] = world[parent] @ frame
        return world

    def skinning_matrices(self, world: np.ndarray) -> np.ndarray:
        """(B, 3, 4) maps from rest positions to posed positions, one per bone."""
        unbind = np.tile(np.eye(4), (len(self), 1, 1))
        unbind[:, :3, 3] = -self.heads
        return (world @ unbind)[:, :3, :]


#: Vertices skinned per block: small enough to stay in the CPU cache, large enough for numpy.
SKIN_BLOCK = 16384


def skin(
    rest: np.ndarray, bone_ids: np.ndarray, weights: np.ndarray, matrices: np.ndarray, normals: np.ndarray | None = None
):
    """Linear blend skinning: posed positions (V, 3), and posed normals when given.

    ``bone_ids`` / ``weights`` are (V, K) with rows summing to 1. Imported
    models have hundreds of thousands of vertices, mostly with one or two
    bones, so vertices go in cache-sized blocks and influences slot by slot,
    skipping zero weights; no (V, K, 3, 4) array is ever built.
    """
    positions = np.zeros((len(rest), 3))
    posed_normals = None if normals is None else np.zeros((len(rest), 3))
    for start in range(0, len(rest), SKIN_BLOCK):
        block = slice(start, start + SKIN_BLOCK)
        for k in range(bone_ids.shape[1]):
            weight = weights[block, k]
            rows = np.flatnonzero(weight != 0)
            if not rows.size:
                continue
            matrix = matrices[bone_ids[block, k][rows]]
            scale = weight[rows, None]
            positions[block][rows] += scale * (
                np.einsum("vij,vj->vi", matrix[:, :, :3], rest[block][rows]) + matrix[:, :, 3]
            )
            if posed_normals is not None:
                posed_normals[block][rows] += scale * np.einsum("vij,vj->vi", matrix[:, :, :3], normals[block][rows])
    if posed_normals is None:
        return positions, None
    posed_normals /= np.maximum(np.linalg.norm(posed_normals, axis=1, keepdims=True), 1e-12)
    return positions, posed_normals
