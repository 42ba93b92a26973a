"""Clap-along: step-touch to the side with a clap, a clap overhead, a clap under a raised knee, claps high and low, a hop."""

from .moves import FRONT, HIGH_OUT, LOW_OUT, OUT, SOFT, UP, Beats, bones, mirrored, mirrored_feet

B = Beats(bpm=112, beats=16)


def _clap(s: float, x: float, y: float, z: float, gap: float = 0.035) -> dict:
    """Both wrists meeting at (x, y, z), x written for s = +1."""
    return {"L": (x * s + gap, y, z), "R": (x * s - gap, y, z)}


def _half(start: int, s: float) -> None:
    at = lambda beat, **pose: B.at(start + beat, **pose)  # noqa: E731
    out = dict(left=(0.16, 0.0), right=(0.0, 0.0))
    close = dict(left=(0.16, 0.0), right=(0.13, -0.02))
    at(
        0,
        root=(0.07 * s, SOFT - 0.04, 0),
        feet=mirrored_feet(s, **out),
        arms=mirrored(s, LOW_OUT, HIGH_OUT),
        **bones(s, hips=(0, 8, -6), chest=(0, -6, 6), head=(0, -8, 8)),
    )
    at(
        1,
        root=(0.13 * s, SOFT - 0.06, 0),
        feet=mirrored_feet(s, **close),
        hands=_clap(s, 0.12, 1.12, -0.28),
        **bones(s, hips=(0, 14, -4), spine=(-8, 0, 4), chest=(-4, -12, 0), head=(-6, -16, 10)),
    )
    if s < 0:  # the first time a clap straight overhead, the second time high out on the near side, leaning into it
        at(
            2,
            root=(0.13 * s, SOFT, 0),
            feet=mirrored_feet(s, **close),
            hands=_clap(s, 0.13, 1.78, -0.08),
            **bones(s, spine=(6, 0, 0), chest=(6, 0, 0), head=(14, 0, 0)),
        )
    else:
        at(
            2,
            root=(0.1 * s, SOFT - 0.02, 0),
            feet=mirrored_feet(s, **close),
            hands=_clap(s, 0.42, 1.62, -0.12),
            **bones(s, hips=(0, 0, -6), spine=(0, 0, 12), chest=(4, 0, 10), head=(10, 0, 10)),
        )
    # Near knee up and a clap under it.
    at(
        3,
        root=(0.18 * s, SOFT - 0.05, 0),
        feet=mirrored_feet(s, left=(0.16, -0.12), right=(0.13, -0.02), lift_left=0.3, pitch_left=15),
        hands=_clap(s, 0.2, 0.95, -0.34),
        **bones(s, hips=(-6, 0, 0), spine=(-22, 0, 0), chest=(-12, 0, 0), head=(-10, 0, 0)),
    )
    # Back to the middle: clap high on the far side, then low on the near side.
    at(
        4,
        root=(0.0, SOFT - 0.04, 0),
        feet=mirrored_feet(s, left=(0.03, 0), right=(-0.03, 0)),
        hands=_clap(s, -0.25, 1.5, -0.22),
        **bones(s, hips=(0, -14, 4), spine=(0, -8, -8), chest=(4, -14, -6), head=(8, -20, -8)),
    )
    at(
        5,
        root=(0.02 * s, SOFT - 0.1, 0),
        feet=mirrored_feet(s, left=(0.03, 0), right=(-0.03, 0)),
        hands=_clap(s, 0.26, 0.95, -0.26),
        **bones(s, hips=(0, 16, -4), spine=(-16, 10, 8), chest=(-8, 12, 6), head=(-6, 18, 8)),
    )
    # A hop, arms flung up and out, and land with them open.
    at(
        6,
        root=(0.0, 0.1, 0),
        feet=mirrored_feet(
            s, left=(0.03, 0), right=(-0.03, 0), lift_left=0.13, lift_right=0.13, pitch_left=-25, pitch_right=-25
        ),
        arms=mirrored(s, UP, OUT),
        **bones(s, spine=(8, 0, 0), head=(12, 0, 0)),
    )
    at(
        7,
        root=(0.0, SOFT - 0.1, 0),
        feet=mirrored_feet(s, left=(0.06, 0), right=(-0.06, 0)),
        arms=mirrored(s, OUT, FRONT),
        **bones(s, hips=(6, 0, 0), spine=(-10, 6, 0), head=(-4, -8, 0)),
    )


_half(0, -1.0)
_half(8, 1.0)

MOTION = B.motion(
    "step-and-clap",
    "Clap-along",
    "Step-touches to each side with a clap, claps overhead, under a raised knee, high and low, and hops with the arms up.",
)
