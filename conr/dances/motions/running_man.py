"""Running-man step: knees driving up in turn with the arms pumping like a sprinter, little hops on the standing foot, a lean."""

from .moves import OUT, SOFT, UP, Beats, bones, mirrored, mirrored_feet

B = Beats(bpm=120, beats=16)
PUMP_FRONT = ((0.2, -0.35, -0.92), (0.15, 0.75, -0.65))  # elbow bent, fist up in front
PUMP_BACK = ((0.25, -0.55, 0.8), (0.1, -0.95, 0.3))
PUNCH = ((0.25, 0.1, -0.96), (0.2, 0.12, -0.97))


def _stride(beat: float, s: float, turn: float = 0.0, punch: bool = False, cheer: bool = False) -> None:
    """The near knee (side s) up high, the far foot hopping; then landing on the near foot a half beat later."""
    B.at(
        beat,
        root=(0.02 * s, 0.0, 0),
        feet=mirrored_feet(
            s, left=(0.0, -0.12), right=(0.0, 0.06), lift_left=0.36, pitch_left=20, lift_right=0.05, turn=turn * s
        ),
        arms=mirrored(s, *((UP, OUT) if cheer else (PUMP_BACK, PUNCH if punch else PUMP_FRONT)), turn=turn),
        **bones(s, hips=(0, turn * s - 8, 0), spine=(-10, 6, 0), chest=(-4, 4, 0), head=(6, -4, 0)),
    )
    B.at(
        beat + 0.5,
        root=(0.0, SOFT - 0.09, 0),
        feet=mirrored_feet(s, left=(0.0, 0.0), right=(0.0, 0.1), turn=turn * s),
        arms=mirrored(s, ((0.5, -0.85, 0.1), (0.4, -0.6, -0.65)), ((0.5, -0.85, 0.1), (0.4, -0.6, -0.65)), turn=turn),
        **bones(s, hips=(6, turn * s, 0), spine=(-14, 0, 0), head=(-2, 0, 0)),
    )


for i in range(8):
    s = 1.0 if i % 2 == 0 else -1.0
    # The middle four strides face a little to the side (a quarter turn is a clear new silhouette), punching forwards.
    _stride(2 * i, s, turn=(0.0 if i < 2 or i >= 6 else 50.0), punch=2 <= i < 6, cheer=i >= 6)

MOTION = B.motion(
    "running-man",
    "Running-man step",
    "Knees driving up in turn with sprinter's arms and little hops, turning to the side to punch, then cheering.",
)
