"""Idle sway: weight shifting gently from foot to foot, head tilting against the hips."""

from ..motion import Motion, ankle_rest, mirror_direction, pose_key

FEET = {"L": ankle_rest("L"), "R": ankle_rest("R")}
RELAXED_L = ((0.36, -0.93, 0.04), (0.22, -0.95, -0.2))
RELAXED_R = (mirror_direction(RELAXED_L[0]), mirror_direction(RELAXED_L[1]))


def _lean(time: float, side: float):
    """Weight over one foot (side +1 = the character's left)."""
    return pose_key(
        time,
        root=(0.055 * side, -0.015, 0.0),
        hips=(0, 6 * side, 5 * side),
        spine=(0, -3 * side, -5 * side),
        chest=(0, -2 * side, -2 * side),
        head=(3, 8 * side, -10 * side),
        arms={"L": ((0.36 + 0.1 * side, -0.93, 0.04 - 0.2 * side), RELAXED_L[1]),
              "R": (mirror_direction((0.36 - 0.1 * side, -0.93, 0.04 + 0.2 * side)), RELAXED_R[1])},  # fmt: skip
        feet=FEET,
    )


def _middle(time: float):
    return pose_key(time, root=(0.0, -0.022, 0.0), head=(-3, 0, 0), arms={"L": RELAXED_L, "R": RELAXED_R}, feet=FEET)


MOTION = Motion(
    name="idle-sway",
    title="Idle sway",
    description="A calm, looping sway from foot to foot with a tilt of the head.",
    seconds=4.0,
    keys=(_lean(0.0, 1.0), _middle(1.0), _lean(2.0, -1.0), _middle(3.0)),
)
