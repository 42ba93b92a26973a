"""The character's bone hierarchy and linear blend skinning.

Every bone's rest frame has the model's axes (no rest rotation), so a pose is
simply one local rotation per bone about its joint, expressed in model axes:
easy to author by hand (``euler`` degrees about x = character's left,
y = up, z = towards the back) and easy to mirror left/right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .quaternions import to_matrix
from .springs import SpringSettings

# A-pose arms: about 35 degrees below horizontal (the MMD-style canonical pose).
ARM_DROP_DEGREES = 35.0
_ARM = np.array([np.cos(np.radians(ARM_DROP_DEGREES)), -np.sin(np.radians(ARM_DROP_DEGREES)), 0.0])


@dataclass(frozen=True)
class Bone:
    name: str
    parent: str | None
    head: tuple[float, float, float]  # the joint it rotates about, rest pose, model units
    tail: tuple[float, float, float]  # where it ends (for skin weights by distance)


def _arm_bones(side: str, sign: float) -> list[Bone]:
    shoulder = np.array([0.135 * sign, 1.285, 0.0])
    direction = _ARM * np.array([sign, 1.0, 1.0])
    elbow = shoulder + 0.25 * direction
    wrist = elbow + 0.22 * direction
    fingertip = wrist + 0.14 * direction
    t = lambda v: tuple(float(c) for c in v)  # noqa: E731
    # The thumb sits on the front (palm-forward) edge of the mitten and points forwards along the hand.
    thumb = wrist + 0.022 * direction + np.array([0.0, 0.0, -0.024])
    thumb_tip = thumb + 0.055 * (0.55 * direction + np.array([0.0, 0.0, -0.84]))
    return [
        Bone(f"shoulder.{side}", "chest", (0.03 * sign, 1.30, 0.0), t(shoulder)),
        Bone(f"upper_arm.{side}", f"shoulder.{side}", t(shoulder), t(elbow)),
        Bone(f"forearm.{side}", f"upper_arm.{side}", t(elbow), t(wrist)),
        Bone(f"hand.{side}", f"forearm.{side}", t(wrist), t(fingertip)),
        Bone(f"thumb.{side}", f"hand.{side}", t(thumb), t(thumb_tip)),
    ]


#: Joints of a twin tail, rest pose, character's left (x > 0): tied high on the back of the head, hanging to the waist.
TWIN_TAIL = ((0.085, 1.565, 0.055), (0.145, 1.50, 0.095), (0.175, 1.33, 0.125), (0.18, 1.14, 0.135), (0.165, 0.95, 0.125))


def _tail_bones(side: str, sign: float) -> list[Bone]:
    points = [(x * sign, y, z) for x, y, z in TWIN_TAIL]
    names = [f"tail{i + 1}.{side}" for i in range(len(points) - 1)]
    return [Bone(name, "head" if i == 0 else names[i - 1], points[i], points[i + 1]) for i, name in enumerate(names)]


#: Skirt panels (bone chains hanging from the hips), and the skirt's outline: (y, half-width, half-depth) from waist to hem.
SKIRT_PANELS = 8
SKIRT_PROFILE = ((1.03, 0.108, 0.082), (0.98, 0.130, 0.104), (0.90, 0.172, 0.142), (0.78, 0.215, 0.185), (0.63, 0.255, 0.222))


def skirt_point(y: float, angle: float, scale: float = 1.0) -> tuple[float, float, float]:
    """The point of the skirt's outline at height ``y`` and ``angle`` (radians; 0 = the character's left, pi/2 = back)."""
    profile = np.array(SKIRT_PROFILE)[::-1]
    rx, rz = np.interp(y, profile[:, 0], profile[:, 1]), np.interp(y, profile[:, 0], profile[:, 2])
    return (float(scale * rx * np.cos(angle)), float(y), float(scale * rz * np.sin(angle)))


def skirt_angles() -> np.ndarray:
    return 2 * np.pi * (np.arange(SKIRT_PANELS) + 0.5) / SKIRT_PANELS


def _skirt_bones() -> list[Bone]:
    bones = []
    for k, angle in enumerate(skirt_angles()):
        waist, middle, hem = (skirt_point(y, angle, s) for y, s in ((1.01, 0.85), (0.84, 0.97), (0.64, 0.97)))
        bones += [Bone(f"skirt{k}a", "hips", waist, middle), Bone(f"skirt{k}b", f"skirt{k}a", middle, hem)]
    return bones


def _leg_bones(side: str, sign: float) -> list[Bone]:
    x = 0.075 * sign
    return [
        Bone(f"thigh.{side}", "hips", (x, 0.85, 0.0), (x, 0.46, 0.0)),
        Bone(f"shin.{side}", f"thigh.{side}", (x, 0.46, 0.0), (x, 0.075, 0.0)),
        Bone(f"foot.{side}", f"shin.{side}", (x, 0.075, 0.0), (x, 0.03, -0.15)),
    ]


#: Parents before children. "L" is the character's own left (+x).
BONES: tuple[Bone, ...] = (
    Bone("hips", None, (0.0, 0.90, 0.0), (0.0, 1.00, 0.0)),
    Bone("spine", "hips", (0.0, 1.00, 0.0), (0.0, 1.15, 0.0)),
    Bone("chest", "spine", (0.0, 1.15, 0.0), (0.0, 1.33, 0.0)),
    Bone("neck", "chest", (0.0, 1.33, 0.0), (0.0, 1.39, 0.0)),
    Bone("head", "neck", (0.0, 1.39, 0.0), (0.0, 1.60, 0.0)),
    *_arm_bones("L", 1.0),
    *_arm_bones("R", -1.0),
    *_leg_bones("L", 1.0),
    *_leg_bones("R", -1.0),
    *_tail_bones("L", 1.0),
    *_tail_bones("R", -1.0),
    *_skirt_bones(),
)

HAIR_SPRINGS = SpringSettings(stiffness=45.0, damping=4.5, gravity=(0.0, -9.8, 0.0), radius=0.035, substeps=2)
SKIRT_SPRINGS = SpringSettings(stiffness=160.0, damping=13.0, gravity=(0.0, -3.0, 0.0), radius=0.02, substeps=2)

#: Bones moved by springs, not keys: (anchor bone, chain of bones, settings). The tails' first bone is the tie, keyed with the head.
SPRING_CHAINS: tuple[tuple[str, tuple[str, ...], SpringSettings], ...] = (
    *(("tail1." + s, ("tail2." + s, "tail3." + s, "tail4." + s), HAIR_SPRINGS) for s in ("L", "R")),
    *(("hips", (f"skirt{k}a", f"skirt{k}b"), SKIRT_SPRINGS) for k in range(SKIRT_PANELS)),
)

#: Body capsules the springs stay out of: (bone, rest end a, rest end b, radius).
COLLIDERS: tuple[tuple[str, tuple, tuple, float], ...] = (
    ("head", (0.0, 1.47, -0.01), (0.0, 1.50, 0.0), 0.125),
    ("chest", (0.0, 1.12, 0.01), (0.0, 1.30, 0.01), 0.095),
    ("hips", (0.0, 0.86, 0.0), (0.0, 1.0, 0.0), 0.10),
    *((f"upper_arm.{s}", (0.135 * g, 1.285, 0.0), (0.34 * g, 1.14, 0.0), 0.05) for s, g in (("L", 1), ("R", -1))),
    *((f"thigh.{s}", (0.075 * g, 0.82, 0.0), (0.075 * g, 0.46, 0.0), 0.075) for s, g in (("L", 1), ("R", -1))),
)


class Skeleton:
    """Bone names, parent indices and rest joint positions as arrays."""

    def __init__(self, bones: tuple[Bone, ...] = BONES):
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

    def world_transforms(self, rotations: np.ndarray, root_offset=(0.0, 0.0, 0.0), root_yaw: np.ndarray | None = None) -> np.ndarray:
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


def skin(rest: np.ndarray, bone_ids: np.ndarray, weights: np.ndarray, matrices: np.ndarray, normals: np.ndarray | None = None):
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
            positions[block][rows] += scale * (np.einsum("vij,vj->vi", matrix[:, :, :3], rest[block][rows]) + matrix[:, :, 3])
            if posed_normals is not None:
                posed_normals[block][rows] += scale * np.einsum("vij,vj->vi", matrix[:, :, :3], normals[block][rows])
    if posed_normals is None:
        return positions, None
    posed_normals /= np.maximum(np.linalg.norm(posed_normals, axis=1, keepdims=True), 1e-12)
    return positions, posed_normals
