"""Slow elegant turn: arms rise through first position to overhead, a slow turn on small steps with the arms open, a leg lifted behind, a curtsy."""

from .moves import DOWN, HIGH_OUT, OUT, SOFT, Beats, arms, feet

B = Beats(bpm=72, beats=12)
FIRST = ((0.55, -0.6, -0.58), (-0.55, -0.15, -0.82))  # rounded arms low in front
ROUND_UP = ((0.5, 0.82, -0.2), (-0.55, 0.75, -0.1))  # fifth position: a ring overhead
TURN = [0.0, 60.0, 120.0, 180.0, 240.0, 300.0, 360.0]

B.at(0, root=(0.0, SOFT - 0.02, 0), feet=feet(left=(0.02, 0), right=(-0.02, 0)), arms=arms(FIRST), head=(-8, 0, 0))
B.at(
    1,
    root=(0.0, SOFT, 0),
    feet=feet(left=(0.02, 0), right=(-0.02, 0)),
    arms=arms(OUT),
    spine=(4, 0, 0),
    head=(4, -15, -8),
)
B.at(
    2,
    root=(0.0, SOFT + 0.01, 0),
    feet=feet(left=(0.02, 0), right=(-0.02, 0), pitch_left=-8, pitch_right=-8),
    arms=arms(ROUND_UP),
    spine=(8, 0, 0),
    chest=(4, 0, 0),
    head=(12, 0, 0),
)
# The turn: every half beat one foot steps round (left, right, ...), the arms open wide and turning with the body.
for i, angle in enumerate(TURN[1:], start=1):
    shape = (OUT, ROUND_UP) if i % 2 else (HIGH_OUT, OUT)  # one arm curved overhead, then the arms open high
    steps = (angle if i % 2 else TURN[i - 1], angle if i % 2 == 0 else TURN[i - 1])
    B.at(
        2 + 0.5 * i,
        root=(0.0, SOFT - (0.05 if i % 2 else 0.01), 0),
        feet=feet(left=(0.01, 0), right=(-0.01, 0), turn=steps),
        arms=arms(*shape, turn=angle),
        hips=(0, angle, 0),
        spine=(4, 0, 0),
        head=(8, 0, -10 if i % 2 else 10),
    )
# An arabesque: the right leg lifted behind, leaning forward, arms long.
B.at(
    6.5,
    root=(0.04, SOFT - 0.05, 0.02),
    feet=feet(left=(-0.03, 0), right=(0.02, 0.42), lift_right=0.28, pitch_right=-40),
    arms={"L": ((0.35, 0.5, -0.8), (0.3, 0.6, -0.75)), "R": ((-0.9, -0.1, 0.4), (-0.8, 0.0, 0.6))},
    hips=(-15, 0, 0),
    spine=(-12, 0, 0),
    head=(16, 0, 0),
)
B.at(
    8,
    root=(0.0, SOFT - 0.02, 0),
    feet=feet(left=(0.02, 0), right=(-0.02, 0)),
    arms=arms(HIGH_OUT),
    spine=(6, 0, 0),
    head=(10, 15, 8),
)
# A curtsy: the right foot crossed behind, knees bent, head bowed, arms low and open.
B.at(
    9.5,
    root=(0.0, SOFT - 0.14, 0.02),
    feet=feet(left=(0.02, 0), right=(0.05, 0.16)),
    arms=arms(((0.75, -0.6, -0.25), (0.7, -0.45, -0.5))),
    spine=(-14, 0, 0),
    chest=(-6, 0, 0),
    head=(-18, 0, 0),
)
B.at(11, root=(0.0, SOFT - 0.03, 0), feet=feet(left=(0.02, 0), right=(-0.02, 0)), arms=arms(DOWN), head=(-6, 10, 6))

MOTION = B.motion(
    "spin",
    "Slow elegant turn",
    "Arms rise in a ring overhead, a slow turn on small steps with the arms open, a leg lifted behind, and a curtsy.",
)
