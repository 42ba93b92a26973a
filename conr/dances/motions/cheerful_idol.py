"""Cheerful idol routine: step-touches with a pointing arm, heart hands with a hip sway, a kick, a hop and a turn; then all mirrored."""

from .moves import (
    CHEST,
    DOWN,
    FRONT,
    GUARD,
    HIGH_OUT,
    HIP,
    LOW_OUT,
    OUT,
    POINT_UP,
    SOFT,
    SWING_BACK,
    UP,
    Beats,
    bones,
    mirrored,
    mirrored_feet,
)

B = Beats(bpm=128, beats=32)


#: Arm shapes of the step-touches (near arm, far arm): the first time through, and the variation the second time.
STEP_ARMS = {
    1.0: [(POINT_UP, HIP), (HIGH_OUT, CHEST), (HIGH_OUT, HIGH_OUT), (OUT, OUT)],
    -1.0: [(OUT, UP), (LOW_OUT, HIGH_OUT), (FRONT, FRONT), (UP, DOWN)],
}


def _half(start: int, s: float) -> None:
    """Sixteen beats led by one side (s = +1: the character's left)."""
    at = lambda beat, **pose: B.at(start + beat, **pose)  # noqa: E731
    step = STEP_ARMS[s]
    # Step out, touch in, step back, touch: the near arm points up, then both go up and out.
    at(
        0,
        root=(0.05 * s, SOFT - 0.03, 0),
        feet=mirrored_feet(s, left=(0.12, 0)),
        arms=mirrored(s, *step[0]),
        **bones(s, hips=(0, 8, -5), chest=(0, -6, 4), head=(0, -12, 8)),
    )
    at(
        1,
        root=(0.1 * s, SOFT - 0.05, 0),
        feet=mirrored_feet(s, left=(0.12, 0), right=(0.1, -0.03), lift_right=0.05, pitch_right=-25),
        arms=mirrored(s, *step[1]),
        **bones(s, hips=(0, 12, -8), spine=(0, 0, 6), chest=(-4, -10, 4), head=(0, 15, -10)),
    )
    at(
        2,
        root=(0.0, SOFT - 0.06, 0),
        feet=mirrored_feet(s, left=(0.12, 0), right=(-0.02, 0)),
        arms=mirrored(s, *step[2]),
        **bones(s, chest=(8, 0, 0), head=(10, 0, 0)),
    )
    at(
        3,
        root=(-0.06 * s, SOFT - 0.04, 0),
        feet=mirrored_feet(s, left=(0.02, 0), right=(-0.02, 0), lift_left=0.05, pitch_left=-25),
        arms=mirrored(s, *step[3]),
        **bones(s, hips=(0, -10, 6), chest=(0, 12, -4), head=(0, -10, 12)),
    )
    # Heart hands (the second time an arm flung up), hips swaying under them; then arms flung open, a point up, an arm up.
    for beat, sway in ((4, 1.0), (5, -1.0), (6, 1.0), (7, -1.0)):
        lean = sway * s
        shape = {
            5: dict(arms=mirrored(s, LOW_OUT, OUT)),
            6: dict(arms=mirrored(s, CHEST, POINT_UP)),
            7: dict(arms=mirrored(s, UP, HIP)),
            **({4: dict(arms=mirrored(s, HIGH_OUT, CHEST))} if s < 0 else {}),
        }.get(beat, dict(hands={"L": (0.05 + 0.04 * lean, 1.3, -0.3), "R": (-0.05 + 0.04 * lean, 1.3, -0.3)}))
        at(
            beat,
            root=(0.06 * lean, SOFT - 0.03 - 0.02 * (beat % 2), 0),
            feet=mirrored_feet(s, left=(0.05, 0), right=(-0.05, 0)),
            hips=(0, 0, -8 * lean),
            spine=(0, 0, 9 * lean),
            chest=(0, 0, 7 * lean),
            head=(0, 0, 14 * lean),
            **shape,
        )
    # Knee up, kick forward, land low, hop with the arms up, land.
    at(
        8,
        root=(-0.04 * s, SOFT - 0.04, 0),
        feet=mirrored_feet(s, left=(0.03, -0.12), right=(-0.05, 0), lift_left=0.3, pitch_left=20),
        arms=mirrored(s, OUT, HIGH_OUT),
        **bones(s, spine=(4, 0, 0), head=(6, 0, 0)),
    )
    at(
        9,
        root=(-0.05 * s, SOFT - 0.05, 0.03),
        feet=mirrored_feet(s, left=(0.02, -0.6), right=(-0.05, 0), lift_left=0.33, pitch_left=45),
        arms=mirrored(s, SWING_BACK, UP),
        **bones(s, spine=(10, 0, 0), chest=(6, -10, 0), head=(0, 0, -10)),
    )
    at(
        10,
        root=(0.0, SOFT - 0.12, 0),
        feet=mirrored_feet(s, left=(0.06, 0), right=(-0.06, 0)),
        arms=mirrored(s, FRONT, SWING_BACK),
        **bones(s, hips=(10, 0, 0), spine=(-18, 0, 0), head=(-10, 0, 0)),
    )
    at(
        11,
        root=(0.0, 0.09, 0),
        feet=mirrored_feet(
            s, left=(0.04, 0), right=(-0.04, 0), lift_left=0.12, lift_right=0.12, pitch_left=-20, pitch_right=-20
        ),
        arms=mirrored(s, UP, OUT),
        **bones(s, spine=(8, 0, 0), head=(14, 0, 0)),
    )
    at(
        12,
        root=(0.0, SOFT - 0.1, 0),
        feet=mirrored_feet(s, left=(0.04, 0), right=(-0.04, 0)),
        arms=mirrored(s, LOW_OUT, GUARD),
        **bones(s, spine=(-10, 0, 0), head=(-6, 10, 0)),
    )
    # Little hops around towards the far side, the arms out and turning with the body (the feet step themselves).
    for beat, angle in ((13, 120.0), (14, 240.0), (15, 360.0)):
        a = -angle * s
        at(
            beat,
            root=(0.0, SOFT - 0.03, 0),
            feet=mirrored_feet(s, turn=-angle),
            arms=mirrored(s, *{13: (OUT, HIGH_OUT), 14: (HIGH_OUT, OUT)}.get(beat, (DOWN, DOWN)), turn=a),
            hips=(0, a, 0),
            head=(4, 0, -8 * s),
        )


_half(0, 1.0)
_half(16, -1.0)

MOTION = B.motion(
    "cheerful-idol",
    "Cheerful idol routine",
    "Step-touches with a pointing arm, heart hands with swaying hips, a kick, a hop and a turn with the arms out, then the other side.",
)
