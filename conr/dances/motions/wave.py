"""Jump-and-wave greeting: waves hello with one hand, then the other, hops with both arms up, waves both overhead, a little bow."""

from .moves import DOWN, EAR, FRONT, HIP, LOW_OUT, OUT, SOFT, UP, Beats, bones, mirrored, mirrored_feet

B = Beats(bpm=120, beats=20)
WAVE_OUT = ((0.85, 0.45, -0.25), (0.55, 0.83, -0.15))
WAVE_IN = ((0.85, 0.45, -0.25), (-0.25, 0.95, -0.2))
OPEN = dict(left=(0.05, 0.0), right=(-0.05, 0.0))


def _wave(start: int, s: float) -> None:
    """Six beats waving with the near hand (side s), the body bobbing along, a side step under it."""
    at = lambda beat, **pose: B.at(start + beat, **pose)  # noqa: E731
    at(
        0,
        root=(0.05 * s, SOFT - 0.03, 0),
        feet=mirrored_feet(s, left=(0.1, 0), right=(0.0, 0)),
        arms=mirrored(s, WAVE_OUT, HIP),
        **bones(s, hips=(0, 8, -4), chest=(0, -6, 4), head=(0, -10, 12), hand_L=(0, 0, 15)),
    )
    at(
        1,
        root=(0.07 * s, SOFT - 0.05, 0),
        feet=mirrored_feet(s, left=(0.1, 0), right=(0.0, 0)),
        arms=mirrored(s, WAVE_IN, HIP),
        **bones(s, hips=(0, 10, -6), chest=(0, -8, 6), head=(0, -14, 6), hand_L=(0, 0, -15)),
    )
    at(
        2,
        root=(0.05 * s, SOFT - 0.02, 0),
        feet=mirrored_feet(s, left=(0.1, 0), right=(0.0, 0)),
        arms=mirrored(s, WAVE_OUT, LOW_OUT),
        **bones(s, hips=(0, 8, -4), chest=(0, -4, 4), head=(0, -10, 14), hand_L=(0, 0, 15)),
    )
    at(
        3,
        root=(0.07 * s, SOFT - 0.05, 0),
        feet=mirrored_feet(s, left=(0.1, 0), right=(0.0, 0)),
        arms=mirrored(s, WAVE_IN, DOWN),
        **bones(s, hips=(0, 10, -6), chest=(0, -8, 6), head=(0, -12, 4), hand_L=(0, 0, -15)),
    )
    # Crouch, jump with both arms up, land.
    at(
        4,
        root=(0.0, SOFT - 0.12, 0),
        feet=mirrored_feet(s, **OPEN),
        arms=mirrored(s, FRONT, LOW_OUT),
        **bones(s, hips=(12, 0, 0), spine=(-16, 0, 0), head=(-8, 0, 0)),
    )
    at(
        5,
        root=(0.0, 0.12, 0),
        feet=mirrored_feet(
            s, left=(0.05, 0), right=(-0.05, 0), lift_left=0.16, lift_right=0.16, pitch_left=-30, pitch_right=-30
        ),
        arms=mirrored(s, UP, OUT),
        **bones(s, spine=(10, 0, 0), head=(12, 0, 6)),
    )
    at(
        6,
        root=(0.0, SOFT - 0.1, 0),
        feet=mirrored_feet(s, **OPEN),
        arms=mirrored(s, LOW_OUT, LOW_OUT),
        **bones(s, hips=(8, 0, 0), spine=(-10, 0, 0), head=(-4, 0, 0)),
    )
    # Both hands waving overhead, swaying.
    at(
        7,
        root=(-0.05 * s, SOFT - 0.02, 0),
        feet=mirrored_feet(s, **OPEN),
        arms=mirrored(s, WAVE_OUT, WAVE_IN),
        **bones(s, hips=(0, 0, 6), spine=(0, 0, -6), chest=(0, 0, -6), head=(6, 0, -10)),
    )
    at(
        8,
        root=(0.05 * s, SOFT - 0.02, 0),
        feet=mirrored_feet(s, **OPEN),
        arms=mirrored(s, EAR, WAVE_OUT),
        **bones(s, hips=(0, 0, -6), spine=(0, 0, 6), chest=(0, 0, 6), head=(6, 0, 10)),
    )
    # A small bow with a hand on the heart, the other arm out to the side.
    at(
        9,
        root=(0.0, SOFT - 0.05, 0.02),
        feet=mirrored_feet(s, left=(0.02, 0), right=(-0.02, 0)),
        arms=mirrored(s, OUT, ((0.8, -0.55, -0.25), (-0.6, 0.2, -0.75))),
        **bones(s, hips=(-6, 0, 0), spine=(-18, 0, 0), chest=(-10, 0, 0), head=(-16, 0, 0)),
    )


_wave(0, -1.0)  # the right hand first
_wave(10, 1.0)

MOTION = B.motion(
    "wave",
    "Jump-and-wave greeting",
    "Waves hello with one hand, jumps with both arms up, waves both hands overhead and bows; then the other hand.",
)
