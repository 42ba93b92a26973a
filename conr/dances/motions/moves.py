"""Shared vocabulary of the bundled dances: feet placements, arm shapes, turns, and a beat clock.

Directions are world directions in model axes (x = the character's left,
y = up, z = backwards; it faces -z), written for the character's left side;
``side(shape, s)`` mirrors them for s = -1 (the right). Everything here
only builds arguments for ``motion.pose_key``.
"""

from __future__ import annotations

import numpy as np

from ...render3d.quaternions import to_matrix
from ..motion import Key, Motion, ankle_rest, pose_key, turn

ANKLE_L, ANKLE_R = ankle_rest("L"), ankle_rest("R")
GROUND = ANKLE_L[1]
#: Hips lowered this much keep the knees soft: both feet reach the floor with the weight off centre.
SOFT = -0.035

# Arm shapes (upper arm direction, forearm direction) for the left arm.
DOWN = ((0.36, -0.93, 0.04), (0.22, -0.95, -0.2))
OUT = ((1.0, 0.05, 0.0), (1.0, 0.12, -0.12))
HIGH_OUT = ((0.75, 0.62, -0.1), (0.55, 0.82, -0.15))
UP = ((0.35, 0.93, -0.05), (0.15, 0.98, -0.1))
FRONT = ((0.25, 0.0, -0.97), (0.2, 0.1, -0.97))
LOW_OUT = ((0.8, -0.55, -0.1), (0.75, -0.4, -0.5))
GUARD = ((0.75, -0.6, 0.1), (0.0, 0.98, -0.2))  # elbow out and down, forearm straight up
HIP = ((0.7, -0.6, 0.35), (-0.75, -0.2, -0.1))  # hand on the hip
SWING_BACK = ((0.25, -0.85, 0.45), (0.2, -0.7, 0.7))
SWING_FRONT = ((0.2, -0.5, -0.85), (0.1, 0.3, -0.95))
POINT_UP = ((0.55, 0.75, -0.35), (0.45, 0.85, -0.3))
CHEST = ((0.8, -0.5, -0.3), (-0.6, 0.05, -0.8))  # forearm across the chest
EAR = ((0.9, 0.15, 0.3), (-0.35, 0.9, -0.2))  # hand by the ear, listening / waving


def side(shape, s: float):
    """An arm shape for the left (s = +1) or mirrored for the right (s = -1)."""
    return tuple((d[0] * s, d[1], d[2]) for d in shape)


def arms(left, right=None, turn: float = 0.0) -> dict:
    """``pose_key`` arms from shapes written for the left arm: ``right`` mirrored (default: the same shape), turned with the body."""
    right = left if right is None else right
    return {"L": turned_shape(left, turn), "R": turned_shape(side(right, -1.0), turn)}


def bones(s: float, **euler) -> dict:
    """Euler angles (x, y, z) of ``pose_key`` bones written for s = +1; for s = -1 mirrored (y and z flip, _L and _R swap)."""
    out = {}
    for name, (x, y, z) in euler.items():
        if s < 0 and name.endswith(("_L", "_R")):
            name = name[:-1] + ("R" if name.endswith("L") else "L")
        out[name] = (x, y * s, z * s)
    return out


def turned(direction, degrees: float) -> tuple[float, float, float]:
    """A world direction or point turned about the vertical through the origin (the body turns, arms go with it)."""
    v = to_matrix(turn((0.0, 1.0, 0.0), degrees)) @ np.asarray(direction, np.float64)
    return tuple(float(c) for c in v)


def turned_shape(shape, degrees: float):
    return tuple(turned(d, degrees) for d in shape)


def feet(
    left=(0.0, 0.0),
    right=(0.0, 0.0),
    lift_left: float = 0.0,
    lift_right: float = 0.0,
    turn: float = 0.0,
    pitch_left: float = 0.0,
    pitch_right: float = 0.0,
    centre=(0.0, 0.0),
    splay: float = 0.0,
) -> dict:
    """Ankle targets: each foot's (x, z) shift from its rest place, lifted by ``lift_*``, the stance turned about ``centre``.

    ``turn`` is degrees for both feet, or (left, right): in a stepping turn
    one foot has already turned while the other is still planted. ``splay``
    turns the toes out (degrees each), and with them the knees.
    """
    turns = turn if isinstance(turn, tuple) else (turn, turn)
    out = {}
    for name, rest, shift, lift, pitch, angle in (
        ("L", ANKLE_L, left, lift_left, pitch_left, turns[0]),
        ("R", ANKLE_R, right, lift_right, pitch_right, turns[1]),
    ):
        x, z = rest[0] + shift[0], rest[2] + shift[1]
        px, _, pz = turned((x, 0.0, z), angle)
        out[name] = (
            px + centre[0],
            GROUND + lift,
            pz + centre[1],
            float(angle) + (-splay if name == "L" else splay),
            pitch,
        )
    return out


class Beats:
    """Keys on a beat grid: ``at(beat, ...)`` is ``pose_key`` at that beat's time; ``motion(...)`` wraps up one loop."""

    def __init__(self, bpm: float, beats: int):
        self.bpm, self.beats, self.beat = float(bpm), int(beats), 60.0 / float(bpm)
        self.keys: list[Key] = []

    def at(self, beat: float, **pose) -> None:
        pose.setdefault("root", (0.0, SOFT, 0.0))
        self.keys.append(pose_key(beat * self.beat, **pose))

    def motion(self, name: str, title: str, description: str) -> Motion:
        keys = tuple(sorted(self.keys, key=lambda k: k.time))
        return Motion(
            name=name, title=title, description=description, seconds=self.beats * self.beat, keys=keys, bpm=self.bpm
        )


def mirrored(s: float, left_arm, right_arm, turn: float = 0.0) -> dict:
    """Arms written for the s = +1 case (left arm, right arm); for s = -1 the whole pose is mirrored."""
    return arms(left_arm, right_arm, turn) if s > 0 else arms(right_arm, left_arm, turn)


def mirrored_feet(
    s: float,
    left=(0.0, 0.0),
    right=(0.0, 0.0),
    lift_left=0.0,
    lift_right=0.0,
    turn=0.0,
    pitch_left=0.0,
    pitch_right=0.0,
    splay=0.0,
) -> dict:
    """``feet`` written for the s = +1 case; for s = -1 left and right swap and x shifts flip."""
    if s > 0:
        return feet(left, right, lift_left, lift_right, turn, pitch_left, pitch_right, splay=splay)
    flip = lambda v: (-v[0], v[1])  # noqa: E731
    turn = (-turn[1], -turn[0]) if isinstance(turn, tuple) else -turn
    return feet(flip(right), flip(left), lift_right, lift_left, turn, pitch_right, pitch_left, splay=splay)
