"""Spin: a crouch for momentum, a full turn with the arms out, a pose with the arms up, a curtsy."""

import numpy as np

from ..motion import Motion, ankle_rest, mirror_direction, pose_key
from ..quaternions import axis_angle, to_matrix

FEET = {"L": ankle_rest("L"), "R": ankle_rest("R")}
RELAXED_L = ((0.36, -0.93, 0.04), (0.22, -0.95, -0.2))
RELAXED_R = (mirror_direction(RELAXED_L[0]), mirror_direction(RELAXED_L[1]))
WIDE_L = ((1.0, 0.05, 0.05), (1.0, 0.15, -0.1))
WIDE_R = (mirror_direction(WIDE_L[0]), mirror_direction(WIDE_L[1]))
UP_L = ((0.5, 0.86, -0.1), (0.3, 0.95, -0.1))
UP_R = (mirror_direction(UP_L[0]), mirror_direction(UP_L[1]))


def _turned(direction, degrees: float):
    """An arm direction turned with the body (arm directions are given in world axes)."""
    return tuple(to_matrix(axis_angle((0.0, 1.0, 0.0), degrees)) @ np.asarray(direction, np.float64))


def _turn(time: float, degrees: float):
    """Part of the turn: the legs turn with the hips, so the feet pivot on the spot; the arms stay out wide."""
    arms = {side: (_turned(upper, degrees), _turned(fore, degrees)) for side, (upper, fore) in (("L", WIDE_L), ("R", WIDE_R))}
    return pose_key(time, hips=(0, degrees, 0), head=(4, 0, 0), arms=arms)


MOTION = Motion(
    name="spin",
    title="Spin",
    description="Crouches, spins once around with the arms out, strikes a pose and curtsies.",
    seconds=6.0,
    keys=(
        pose_key(0.0, root=(0.0, -0.01, 0.0), arms={"L": RELAXED_L, "R": RELAXED_R}, feet=FEET),
        pose_key(0.7, root=(0.0, -0.05, 0.0), hips=(0, -25, 0), spine=(-8, 0, 0), head=(-6, 0, 0),
                 hands={"L": (0.09, 1.08, -0.2), "R": (-0.09, 1.08, -0.2)}, feet=FEET),  # fmt: skip
        _turn(1.2, 60.0),
        _turn(1.6, 150.0),
        _turn(2.0, 240.0),
        _turn(2.4, 330.0),
        pose_key(3.0, root=(0.0, 0.0, 0.0), spine=(6, 0, 0), head=(10, 0, -8), arms={"L": UP_L, "R": UP_R}, feet=FEET),
        pose_key(3.9, root=(0.0, -0.01, 0.0), head=(4, 0, -10), arms={"L": WIDE_L, "R": WIDE_R}, feet=FEET),
        pose_key(4.8, root=(0.0, -0.06, 0.0), spine=(-12, 0, 0), head=(-10, 0, 0),
                 arms={"L": ((0.55, -0.8, -0.2), (0.5, -0.6, -0.6)), "R": ((-0.55, -0.8, -0.2), (-0.5, -0.6, -0.6))},
                 feet={"L": (0.075, 0.075, -0.04), "R": (-0.12, 0.1, 0.12)}),  # fmt: skip
    ),
)
