"""Idle sway: an easy groove from foot to foot, arms swinging loose, a stretch overhead, hands on the hips, a look around."""

from .moves import (
    DOWN,
    EAR,
    HIGH_OUT,
    HIP,
    LOW_OUT,
    SOFT,
    SWING_BACK,
    SWING_FRONT,
    UP,
    Beats,
    bones,
    mirrored,
    mirrored_feet,
)

B = Beats(bpm=90, beats=12)
STANCE = dict(left=(0.03, 0.0), right=(-0.03, 0.0))


def _half(start: int, s: float) -> None:
    at = lambda beat, **pose: B.at(start + beat, **pose)  # noqa: E731
    # Weight onto the near foot, the arms swinging after it; the far heel lifts.
    at(
        0,
        root=(0.06 * s, SOFT - 0.02, 0),
        feet=mirrored_feet(s, **STANCE),
        arms=mirrored(s, SWING_BACK, SWING_FRONT),
        **bones(s, hips=(0, 10, -7), spine=(0, -4, 5), chest=(0, -6, 3), head=(0, -14, 10)),
    )
    # A big stretch up and over to the near side.
    at(
        1,
        root=(0.03 * s, SOFT, 0),
        feet=mirrored_feet(s, **STANCE),
        arms=mirrored(s, HIGH_OUT, UP),
        **bones(s, hips=(0, 0, -6), spine=(0, 0, 10), chest=(6, 0, 12), head=(10, 0, 8)),
    )
    # Hands to the hips, a look over the far shoulder.
    at(
        2,
        root=(-0.02 * s, SOFT - 0.03, 0),
        feet=mirrored_feet(s, **STANCE),
        arms=mirrored(s, HIP, HIP),
        **bones(s, hips=(0, -12, 4), spine=(0, -10, -3), chest=(0, -14, 0), head=(0, -35, -6)),
    )
    # Over onto the far foot, one hand by the ear, the other swinging low.
    at(
        3,
        root=(-0.06 * s, SOFT - 0.04, 0),
        feet=mirrored_feet(s, **STANCE),
        arms=mirrored(s, LOW_OUT, EAR),
        **bones(s, hips=(0, -6, 8), spine=(-6, 8, -6), chest=(0, 10, -4), head=(-6, 12, -12)),
    )
    # A tap of the near foot out to the side, arms loose.
    at(
        4,
        root=(-0.04 * s, SOFT - 0.03, 0),
        feet=mirrored_feet(s, left=(0.14, -0.04), right=STANCE["right"], pitch_left=0),
        arms=mirrored(s, DOWN, LOW_OUT),
        **bones(s, hips=(0, 6, 6), chest=(0, -6, 0), head=(0, -10, 6)),
    )
    at(
        5,
        root=(0.0, SOFT - 0.05, 0),
        feet=mirrored_feet(s, **STANCE),
        arms=mirrored(s, SWING_FRONT, SWING_BACK),
        **bones(s, hips=(0, -8, 0), spine=(-4, 0, 0), head=(-8, 6, 0)),
    )


_half(0, 1.0)
_half(6, -1.0)

MOTION = B.motion(
    "idle-sway",
    "Idle sway",
    "An easy groove from foot to foot with loose arm swings, a stretch overhead, hands on the hips and a look around.",
)
