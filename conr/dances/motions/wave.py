"""Wave: the right hand goes up and waves hello, then comes back down."""

from ..motion import Motion, ankle_rest, mirror_direction, pose_key

FEET = {"L": ankle_rest("L"), "R": ankle_rest("R")}
RELAXED_L = ((0.36, -0.93, 0.04), (0.22, -0.95, -0.2))
RELAXED_R = (mirror_direction(RELAXED_L[0]), mirror_direction(RELAXED_L[1]))
RAISED_UPPER_R = (-0.78, 0.5, -0.3)


def _stand(time: float):
    return pose_key(time, root=(0.0, -0.01, 0.0), arms={"L": RELAXED_L, "R": RELAXED_R}, feet=FEET)


def _wave(time: float, phase: int):
    """Forearm up, tipped out (phase 0) or in (phase 1); the body bobs along."""
    fore = (-0.55, 0.83, -0.15) if phase == 0 else (0.25, 0.95, -0.2)
    lean = 1.0 if phase == 0 else -1.0
    return pose_key(
        time,
        root=(-0.012, -0.018 + 0.008 * phase, 0.0),
        hips=(0, -3, -2),
        spine=(0, 0, 2 + lean),
        head=(-4, -8, 7 + 2 * lean),
        hand_R=(0, 0, 8 * lean),
        arms={"L": ((0.4, -0.91, 0.08), (0.3, -0.9, -0.25)), "R": (RAISED_UPPER_R, fore)},
        feet=FEET,
    )


MOTION = Motion(
    name="wave",
    title="Wave hello",
    description="Raises the right hand and waves hello, then lowers it again.",
    seconds=6.0,
    keys=(
        _stand(0.0),
        pose_key(0.8, root=(0.0, -0.015, 0.0), head=(0, -4, 3),
                 arms={"L": RELAXED_L, "R": ((-0.85, -0.2, -0.45), (-0.5, 0.6, -0.6))}, feet=FEET),  # fmt: skip
        *[_wave(1.3 + 0.45 * i, i % 2) for i in range(8)],
        pose_key(5.0, root=(0.0, -0.012, 0.0), head=(0, -3, 2),
                 arms={"L": RELAXED_L, "R": ((-0.7, -0.7, -0.2), (-0.45, -0.85, -0.3))}, feet=FEET),  # fmt: skip
    ),
)
