"""Step and clap: step out to one side, clap, step back, clap over the head; then the other side."""

from ..motion import Motion, ankle_rest, mirror_direction, pose_key

REST_L, REST_R = ankle_rest("L"), ankle_rest("R")
OPEN_L = ((0.8, -0.55, -0.1), (0.75, -0.3, -0.55))
OPEN_R = (mirror_direction(OPEN_L[0]), mirror_direction(OPEN_L[1]))
CHEST_CLAP = {"L": (0.035, 1.12, -0.27), "R": (-0.035, 1.12, -0.27)}
HIGH_CLAP = {"L": (0.04, 1.72, -0.12), "R": (-0.04, 1.72, -0.12)}


def _half(start: float, side: float):
    """Four seconds towards ``side`` (+1 = the character's left): lift, step, clap, step back, clap high."""
    near, far = ("L", "R") if side > 0 else ("R", "L")
    rest_near = REST_L if side > 0 else REST_R
    out = (rest_near[0] + 0.16 * side, rest_near[1], rest_near[2] - 0.02)
    lifted = (rest_near[0] + 0.09 * side, rest_near[1] + 0.1, rest_near[2] - 0.04)
    rest_far = REST_R if side > 0 else REST_L
    return [
        pose_key(start, root=(0.02 * side, -0.01, 0.0), hips=(0, 0, -3 * side), head=(0, 0, 3 * side),
                 arms={"L": OPEN_L, "R": OPEN_R}, feet={near: lifted, far: rest_far}),  # fmt: skip
        pose_key(start + 0.6, root=(0.08 * side, -0.035, 0.0), spine=(0, 4 * side, 0), head=(0, 8 * side, 0),
                 arms={"L": OPEN_L, "R": OPEN_R}, feet={near: out, far: rest_far}),  # fmt: skip
        pose_key(start + 1.3, root=(0.08 * side, -0.05, 0.0), spine=(-6, 4 * side, 0), head=(-6, 10 * side, 0),
                 hands=CHEST_CLAP, feet={near: out, far: rest_far}),  # fmt: skip
        pose_key(start + 2.4, root=(0.03 * side, -0.012, 0.0), head=(0, 4 * side, 0),
                 arms={"L": OPEN_L, "R": OPEN_R}, feet={near: lifted, far: rest_far}),  # fmt: skip
        pose_key(start + 3.1, root=(0.0, 0.0, 0.0), head=(8, 0, 0), spine=(4, 0, 0), hands=HIGH_CLAP,
                 feet={"L": REST_L, "R": REST_R}),  # fmt: skip
    ]


MOTION = Motion(
    name="step-and-clap",
    title="Step and clap",
    description="Steps out to each side with a clap in front, then a clap over the head back in the middle.",
    seconds=8.0,
    keys=(*_half(0.0, -1.0), *_half(4.0, 1.0)),
)
