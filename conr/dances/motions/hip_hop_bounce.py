"""Hip-hop bounce: low bounces on every beat in a wide stance, chest pops, swinging arms, a knee drop, a body roll and a lean back."""

from .moves import (
    FRONT,
    GUARD,
    HIGH_OUT,
    LOW_OUT,
    OUT,
    SOFT,
    SWING_BACK,
    SWING_FRONT,
    UP,
    Beats,
    bones,
    mirrored,
    mirrored_feet,
)

B = Beats(bpm=96, beats=16)
WIDE = dict(left=(0.1, 0.0), right=(-0.1, 0.0), splay=35)
CROSSED = ((0.6, -0.75, -0.3), (-0.7, -0.3, -0.65))  # arms crossed low in front
POINT = ((0.95, 0.2, -0.25), (0.95, 0.25, -0.2))


def _half(start: int, s: float) -> None:
    at = lambda beat, **pose: B.at(start + beat, **pose)  # noqa: E731
    # Down-up bounce, arms swinging opposite, chest leading.
    at(
        0,
        root=(0.03 * s, SOFT - 0.13, 0),
        feet=mirrored_feet(s, **WIDE),
        arms=mirrored(s, SWING_FRONT, SWING_BACK),
        **bones(s, hips=(14, 10, 0), spine=(-22, -6, 0), chest=(-8, -8, 0), head=(10, 10, 0)),
    )
    at(
        1,
        root=(-0.03 * s, SOFT - 0.04, 0),
        feet=mirrored_feet(s, **WIDE),
        arms=mirrored(s, GUARD, GUARD),
        **bones(s, hips=(4, -8, 4), spine=(-6, 8, -4), chest=(6, 10, 0), head=(-4, -6, 6)),
    )
    at(
        2,
        root=(-0.03 * s, SOFT - 0.13, 0),
        feet=mirrored_feet(s, **WIDE),
        arms=mirrored(s, SWING_BACK, SWING_FRONT),
        **bones(s, hips=(14, -10, 0), spine=(-22, 6, 0), chest=(-8, 8, 0), head=(10, -10, 0)),
    )
    # Step the near foot across and point out to the far side, then back to wide with the arms crossed.
    at(
        3,
        root=(0.0, SOFT - 0.06, 0),
        feet=mirrored_feet(s, left=(-0.04, -0.1), right=WIDE["right"], splay=35),
        arms=mirrored(s, CROSSED, POINT),
        **bones(s, hips=(6, -25, 0), spine=(-6, -15, 8), chest=(0, -10, 4), head=(0, -20, 0)),
    )
    at(
        4,
        root=(0.0, SOFT - 0.14, 0),
        feet=mirrored_feet(s, **WIDE),
        arms=mirrored(s, CROSSED, CROSSED),
        **bones(s, hips=(18, 0, 0), spine=(-26, 0, 0), chest=(-10, 0, 0), head=(12, 0, 0)),
    )
    # Lean back, elbows up (a body roll up), then drop low onto the near side with one hand down.
    at(
        5,
        root=(0.0, SOFT - 0.02, 0.03),
        feet=mirrored_feet(s, **WIDE),
        arms=mirrored(s, UP, HIGH_OUT),
        **bones(s, hips=(-6, 0, 0), spine=(10, 0, 0), chest=(12, 0, 0), head=(8, 0, 0)),
    )
    at(
        6,
        root=(0.09 * s, SOFT - 0.18, 0),
        feet=mirrored_feet(s, left=(0.16, 0), right=(-0.06, 0), splay=35),
        arms=mirrored(s, LOW_OUT, FRONT),
        **bones(s, hips=(10, 12, -10), spine=(-14, 0, 12), chest=(-6, 0, 8), head=(-4, 14, 14)),
    )
    at(
        7,
        root=(0.02 * s, SOFT - 0.07, 0),
        feet=mirrored_feet(s, left=(0.16, 0), right=(-0.06, 0), lift_right=0.18, pitch_right=10, splay=35),
        arms=mirrored(s, OUT, GUARD),
        **bones(s, hips=(4, -6, 4), spine=(-8, 8, -4), head=(-6, -8, 0)),
    )


_half(0, 1.0)
_half(8, -1.0)

MOTION = B.motion(
    "hip-hop-bounce",
    "Hip-hop bounce",
    "Low bounces in a wide stance with swinging arms, a step across with a point, a body roll up and a drop to the side.",
)
