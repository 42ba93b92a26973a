"""A pose of the character, and the posed mesh it gives (linear blend skinning)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..render3d.quaternions import IDENTITY
from ..render3d.skinning import skin
from .character import Character


@dataclass
class Pose:
    """Local joint rotations (B, 4) in skeleton order, a hips offset, and a turn of the whole figure."""

    rotations: np.ndarray
    root_offset: np.ndarray
    root_yaw: np.ndarray | None = None

    @classmethod
    def rest(cls, bones: int) -> Pose:
        """The canonical A-pose: every rotation the identity."""
        return cls(np.tile(IDENTITY, (bones, 1)), np.zeros(3))


def posed_mesh(character: Character, pose: Pose, with_normals: bool = False):
    """Posed vertex positions (V, 3) and, if asked, normals (V, 3) in model space."""
    world = character.skeleton.world_transforms(pose.rotations, pose.root_offset, pose.root_yaw)
    matrices = character.skeleton.skinning_matrices(world)
    return skin(
        character.vertices, character.bone_ids, character.weights, matrices, character.normals if with_normals else None
    )
