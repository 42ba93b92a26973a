"""Bow-and-wave finale: arms open wide, a deep bow, waves to the audience on each side, a blown kiss, a jump, a turn, a heart."""

from .moves import CHEST, DOWN, HIGH_OUT, LOW_OUT, OUT, SOFT, UP, Beats, arms, bones, feet, mirrored, mirrored_feet

B = Beats(bpm=90, beats=16)
WAVE_OUT = ((0.85, 0.45, -0.25), (0.55, 0.83, -0.15))
WAVE_IN = ((0.85, 0.45, -0.25), (-0.25, 0.95, -0.2))
TOGETHER = dict(left=(0.0, 0.0), right=(0.0, 0.0))

B.at(
    0,
    root=(0.03, SOFT + 0.01, 0),
    feet=feet(**TOGETHER),
    arms=arms(UP, HIGH_OUT),
    hips=(0, 0, -5),
    spine=(8, 0, 6),
    chest=(6, 0, 6),
    head=(12, 0, 8),
)
B.at(
    1,
    root=(-0.02, SOFT - 0.02, 0),
    feet=feet(left=(0.0, 0.0), right=(0.03, 0.12)),
    arms=arms(OUT, LOW_OUT),
    spine=(0, 0, -5),
    head=(0, 10, -6),
)
# A deep bow, one hand on the heart, the other arm sweeping out low.
B.at(
    2,
    root=(0.0, SOFT - 0.06, 0.06),
    feet=feet(left=(0.0, 0.0), right=(0.03, 0.12)),
    arms=mirrored(1, ((0.55, -0.8, -0.2), (0.5, -0.6, -0.6)), CHEST),
    hips=(-22, 0, 0),
    spine=(-26, 0, 0),
    chest=(-14, 0, 0),
    head=(-16, 0, 0),
)
B.at(
    3,
    root=(0.0, SOFT - 0.07, 0.06),
    feet=feet(left=(0.0, 0.0), right=(0.03, 0.12)),
    arms=mirrored(1, ((0.6, -0.78, 0.1), (0.55, -0.7, 0.4)), CHEST),
    hips=(-26, 0, 0),
    spine=(-28, 0, 0),
    chest=(-14, 0, 0),
    head=(-20, 0, 0),
)


def _waves(start: int, s: float) -> None:
    """Step to side s and wave to that side of the audience with the near hand, then with both."""
    at = lambda beat, **pose: B.at(start + beat, **pose)  # noqa: E731
    place = dict(left=(0.12, 0.0), right=(0.02, 0.0))
    at(
        0,
        root=(0.07 * s, SOFT - 0.03, 0),
        feet=mirrored_feet(s, **place),
        arms=mirrored(s, WAVE_OUT, DOWN),
        **bones(s, hips=(0, 12, -6), chest=(0, 10, 6), head=(0, 25, 10), hand_L=(0, 0, 15)),
    )
    at(
        1,
        root=(0.08 * s, SOFT - 0.05, 0),
        feet=mirrored_feet(s, **place),
        arms=mirrored(s, WAVE_IN, CHEST),
        **bones(s, hips=(0, 14, -6), chest=(0, 12, 6), head=(0, 25, 14), hand_L=(0, 0, -15)),
    )
    at(
        2,
        root=(0.06 * s, SOFT - 0.02, 0),
        feet=mirrored_feet(s, **place),
        arms=mirrored(s, WAVE_OUT, WAVE_IN),
        **bones(s, hips=(0, 10, 0), spine=(4, 0, -4), chest=(4, 8, -6), head=(8, 20, -8)),
    )


_waves(4, 1.0)
_waves(7, -1.0)
# A blown kiss: the right hand to the lips, then flung out and up.
B.at(
    10,
    root=(0.0, SOFT - 0.03, 0),
    feet=feet(left=(0.03, 0), right=(-0.03, 0)),
    hands={"R": (-0.02, 1.43, -0.17)},
    arms={"L": DOWN},
    head=(-6, 8, -10),
    hand_R=(0, 0, 0),
)
B.at(
    11,
    root=(0.0, SOFT - 0.1, 0),
    feet=feet(left=(0.03, 0), right=(-0.03, 0)),
    arms=mirrored(1, DOWN, HIGH_OUT),
    spine=(6, -10, 0),
    head=(10, -15, 0),
)
# Jump with both arms up and land.
B.at(
    12,
    root=(0.0, 0.12, 0),
    feet=feet(left=(0.03, 0), right=(-0.03, 0), lift_left=0.16, lift_right=0.16, pitch_left=-30, pitch_right=-30),
    arms=arms(UP),
    spine=(10, 0, 0),
    head=(14, 0, 0),
)
B.at(
    13,
    root=(0.0, SOFT - 0.12, 0),
    feet=feet(left=(0.03, 0), right=(-0.03, 0)),
    arms=arms(((0.8, -0.55, -0.2), (0.7, -0.3, -0.6))),
    hips=(10, 0, 0),
    spine=(-14, 0, 0),
    head=(-6, 0, 0),
)
# Half a turn round on small steps, arms out, and back, ending with heart hands.
B.at(
    14,
    root=(0.0, SOFT - 0.03, 0),
    feet=feet(left=(0.02, 0), right=(-0.02, 0), turn=90),
    arms=arms(OUT, turn=90),
    hips=(0, 90, 0),
    head=(0, -30, 0),
)
B.at(
    15,
    root=(0.0, SOFT - 0.02, 0),
    feet=feet(left=(0.02, 0), right=(-0.02, 0)),
    hands={"L": (0.05, 1.3, -0.3), "R": (-0.05, 1.3, -0.3)},
    head=(0, 0, 12),
)

MOTION = B.motion(
    "bow-and-wave-finale",
    "Bow-and-wave finale",
    "Arms open wide, a deep bow with a hand on the heart, waves to each side, a blown kiss, a jump, a turn and heart hands.",
)
