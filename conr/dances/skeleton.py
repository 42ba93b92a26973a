"""Our character's bones, spring chains (hair, skirt) and body capsules.

The bones have no rest rotation (``conr.render3d.skinning``), so a pose is
one local rotation per bone about its joint in model axes: easy to author
by hand (``motion.euler`` degrees about x = character's left, y = up,
z = towards the back) and easy to mirror left/right.
"""

from __future__ import annotations

import numpy as np

from ..render3d.skinning import Bone, Skeleton
from ..render3d.springs import HAIR_SPRINGS, SKIRT_SPRINGS, SpringSettings

# A-pose arms: about 35 degrees below horizontal (the MMD-style canonical pose).
ARM_DROP_DEGREES = 35.0
_ARM = np.array([np.cos(np.radians(ARM_DROP_DEGREES)), -np.sin(np.radians(ARM_DROP_DEGREES)), 0.0])


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
TWIN_TAIL = (
    (0.085, 1.565, 0.055),
    (0.145, 1.50, 0.095),
    (0.175, 1.33, 0.125),
    (0.18, 1.14, 0.135),
    (0.165, 0.95, 0.125),
)


def _tail_bones(side: str, sign: float) -> list[Bone]:
    points = [(x * sign, y, z) for x, y, z in TWIN_TAIL]
    names = [f"tail{i + 1}.{side}" for i in range(len(points) - 1)]
    return [Bone(name, "head" if i == 0 else names[i - 1], points[i], points[i + 1]) for i, name in enumerate(names)]


#: Skirt panels (bone chains hanging from the hips), and the skirt's outline: (y, half-width, half-depth) from waist to hem.
SKIRT_PANELS = 8
SKIRT_PROFILE = (
    (1.03, 0.108, 0.082),
    (0.98, 0.130, 0.104),
    (0.90, 0.172, 0.142),
    (0.78, 0.215, 0.185),
    (0.63, 0.255, 0.222),
)


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
#: The character's skeleton.
SKELETON = Skeleton(BONES)

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
