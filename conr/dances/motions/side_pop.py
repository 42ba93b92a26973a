"""Side-to-side pop: wide steps from side to side with hip pops and sharp arm hits, frozen for a moment on each beat."""

from .moves import CHEST, DOWN, FRONT, GUARD, HIGH_OUT, HIP, OUT, SOFT, UP, Beats, bones, mirrored, mirrored_feet

B = Beats(bpm=104, beats=16)
WIDE = dict(left=(0.1, 0.0), right=(-0.1, 0.0))


def _half(start: int, s: float) -> None:
    at = lambda beat, **pose: B.at(start + beat, **pose)  # noqa: E731
    step = dict(left=(0.22, 0.0), right=(-0.04, 0.0))
    # Step wide to the near side, hips popping out; the near arm hits up on the diagonal.
    at(
        0,
        root=(0.11 * s, SOFT - 0.06, 0),
        feet=mirrored_feet(s, **step),
        arms=mirrored(s, HIGH_OUT, GUARD),
        **bones(s, hips=(0, 6, -12), spine=(0, 0, 10), chest=(0, -8, 6), head=(0, -20, 10)),
    )
    at(
        1,
        root=(0.13 * s, SOFT - 0.08, 0),
        feet=mirrored_feet(s, **step),
        arms=mirrored(s, OUT, CHEST),
        **bones(s, hips=(0, 10, -14), spine=(0, 0, 12), chest=(0, -12, 4), head=(0, 25, -6)),
    )
    # Pull the far foot in to touch, the near fist down, the far one punching up, shoulders up.
    at(
        2,
        root=(0.16 * s, SOFT - 0.04, 0),
        feet=mirrored_feet(s, left=(0.22, 0.0), right=(0.17, -0.02), lift_right=0.04, pitch_right=-20),
        arms=mirrored(s, DOWN, UP),
        **bones(s, shoulder_L=(0, 0, 12), shoulder_R=(0, 0, -12), spine=(-6, 0, 0), head=(-10, 0, 0)),
    )
    # Back to a wide stance: a goal-post arm, then a hand on the hip with a hip pop each way.
    at(
        3,
        root=(0.0, SOFT - 0.1, 0),
        feet=mirrored_feet(s, **WIDE),
        arms=mirrored(s, GUARD, OUT),
        **bones(s, hips=(6, 0, 0), spine=(-6, 0, 0), head=(6, 0, 0)),
    )
    at(
        4,
        root=(0.08 * s, SOFT - 0.05, 0),
        feet=mirrored_feet(s, **WIDE),
        arms=mirrored(s, HIP, HIGH_OUT),
        **bones(s, hips=(0, 0, -14), spine=(0, 0, 14), chest=(0, 0, 6), head=(0, 0, -12)),
    )
    at(
        5,
        root=(-0.08 * s, SOFT - 0.05, 0),
        feet=mirrored_feet(s, **WIDE),
        arms=mirrored(s, UP, UP),
        **bones(s, hips=(0, 0, 14), spine=(0, 0, -14), chest=(0, 0, -6), head=(0, 0, 12)),
    )
    # A body wave forwards with the arms reaching, then a quarter turn freeze with the arms out.
    at(
        6,
        root=(0.0, SOFT - 0.12, -0.02),
        feet=mirrored_feet(s, **WIDE),
        arms=mirrored(s, FRONT, FRONT),
        **bones(s, hips=(14, 0, 0), spine=(-24, 0, 0), chest=(-10, 0, 0), head=(10, 0, 0)),
    )
    at(
        7,
        root=(0.0, SOFT - 0.05, 0),
        feet=mirrored_feet(s, left=(0.05, 0.0), right=(-0.05, 0.0), turn=-60),
        arms=mirrored(s, OUT, HIGH_OUT, turn=-60 * s),
        **bones(s, hips=(0, -60, 0), chest=(0, 10, 0), head=(0, 40, 0)),
    )


_half(0, 1.0)
_half(8, -1.0)

MOTION = B.motion(
    "side-to-side-pop",
    "Side-to-side pop",
    "Wide steps from side to side with hip pops and sharp arm hits, goal-post arms, a body wave and a turned freeze.",
)
