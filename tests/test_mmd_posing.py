"""MMD posing: VMD Bezier easing against hand-computed values, forward kinematics, inheritance, CCD IK on a two-bone leg."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mmd_writers import LINEAR_CURVE, BoneKey, BoneSpec, PmxSpec, pmx_bytes, vmd_bytes

from conr.mmd import pmx
from conr.mmd.interpolation import bezier_ease, sample_track
from conr.mmd.pmx import read_pmx
from conr.mmd.posing import MotionBinding, Rig
from conr.mmd.vmd import read_vmd
from conr.render3d.quaternions import axis_angle, to_matrix

UNIT = 0.08  # metres per MMD unit


# ---------------------------------------------------------------- Bezier easing


def test_bezier_matches_hand_computed_values():
    # At s = 1/2 the cubic is 3/8 (p1 + p2) + 1/8. With x1 + x2 = 127 that is x = 1/2, so y(1/2) = 3/8 (y1 + y2)/127 + 1/8.
    assert bezier_ease([64, 0, 63, 0], 0.5) == pytest.approx(0.125, abs=1e-9)  # y1 = y2 = 0: y = 1/8
    assert bezier_ease([64, 127, 63, 127], 0.5) == pytest.approx(0.875, abs=1e-9)  # y1 = y2 = 1: y = 3/4 + 1/8
    # Control points (0, 1) and (1, 0) at s = 1/4: x = 3 (3/4)(1/16) + 1/64 = 5/32, y = 3 (9/16)(1/4) + 1/64 = 7/16.
    assert bezier_ease([0, 127, 127, 0], 5 / 32) == pytest.approx(7 / 16, abs=1e-9)
    # ... and at s = 3/4: x = 3 (1/4)(9/16) + 27/64 = 27/32, y = 3 (1/16)(3/4) + 27/64 = 9/16.
    assert bezier_ease([0, 127, 127, 0], 27 / 32) == pytest.approx(9 / 16, abs=1e-9)


def test_bezier_on_the_diagonal_is_linear_and_ends_are_fixed():
    x = np.linspace(0.0, 1.0, 11)
    assert np.array_equal(bezier_ease(LINEAR_CURVE, x), x)
    curves = np.array([[0, 127, 127, 0], [127, 0, 0, 127], [90, 3, 10, 120]])
    ends = bezier_ease(curves[:, None, :], np.array([0.0, 1.0])[None, :])
    assert np.allclose(ends, [[0.0, 1.0]] * 3, atol=1e-9)


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(st.lists(st.integers(0, 255), min_size=4, max_size=4))
def test_bezier_never_decreases_and_stays_in_range(curve):
    x = np.linspace(0.0, 1.0, 41)
    y = bezier_ease(curve, x)  # bytes above 127 (damaged files) count as 127
    assert np.all(np.diff(y) >= -1e-9) and y.min() >= -1e-12 and y.max() <= 1 + 1e-12


def _track_motion():
    quarter = tuple(axis_angle((0, 1, 0), math.radians(90.0)).tolist())
    keys = [
        BoneKey("センター", 0, (0.0, 0.0, 0.0)),
        BoneKey(
            "センター",
            10,
            (8.0, 4.0, 0.0),
            quarter,
            curves=((64, 127, 63, 127), LINEAR_CURVE, (0, 127, 127, 0), (64, 0, 63, 0)),
        ),
        BoneKey(
            "センター",
            26,
            (8.0, 4.0, 16.0),
            quarter,
            curves=(LINEAR_CURVE, LINEAR_CURVE, (0, 127, 127, 0), LINEAR_CURVE),
        ),
    ]
    return read_vmd(vmd_bytes(keys), "track.vmd")


def test_vmd_track_follows_each_channel_curve():
    track = _track_motion().tracks["センター".encode("cp932")]
    positions, rotations = sample_track(track, np.array([-3.0, 0.0, 5.0, 10.0, 10.0 + 16 * 5 / 32, 40.0]))
    # Frame 5 is half way through 0..10: x eases to 0.875 of 8, y is linear (2 of 4), z does not move.
    assert positions[2] == pytest.approx([7.0, 2.0, 0.0], abs=1e-6)
    # The rotation eases to 0.125 of the 90 degree turn: 11.25 degrees about y.
    assert rotations[2] == pytest.approx(axis_angle((0, 1, 0), math.radians(11.25)), abs=1e-6)
    # Frame 12.5 is 5/32 of the way from 10 to 26 on z's curve: 7/16 of 16 = 7.
    assert positions[4] == pytest.approx([8.0, 4.0, 7.0], abs=1e-6)
    # Before the first key and after the last, the track holds.
    assert positions[0] == pytest.approx([0, 0, 0]) and rotations[0] == pytest.approx([1, 0, 0, 0])
    assert positions[5] == pytest.approx([8.0, 4.0, 16.0], abs=1e-6) and positions[3] == pytest.approx(
        [8.0, 4.0, 0.0], abs=1e-6
    )


# ---------------------------------------------------------------- a small rig


def _rig(bones: list[BoneSpec]) -> Rig:
    """A rig of ``bones`` with a token mesh (one triangle per bone, bound to it)."""
    vertices = np.concatenate([np.array(b.position) + [[0, 0, 0], [0.5, 0, 0], [0, 0.5, 0]] for b in bones])
    triangles = np.arange(len(vertices)).reshape(-1, 3)
    ids = np.full((len(vertices), 4), -1)
    ids[:, 0] = np.repeat(np.arange(len(bones)), 3)
    weights = np.zeros((len(vertices), 4))
    weights[:, 0] = 1.0
    return Rig(read_pmx(pmx_bytes(PmxSpec(vertices, triangles, bones, ids, weights)), "rig.pmx"))


def _pose(rig: Rig, keys: list[BoneKey], switches=None, frame: float = 0.0) -> np.ndarray:
    binding = MotionBinding(rig, read_vmd(vmd_bytes(keys, switches), "pose.vmd"))
    samples = binding.sample(np.array([frame]))
    return rig.pose(samples.rotations[0], samples.translations[0], samples.ik_enabled[0])


MOVABLE = pmx.ROTATABLE | pmx.TRANSLATABLE | pmx.VISIBLE | pmx.ENABLED


def test_forward_kinematics_turns_children_about_their_parents_joint():
    rig = _rig([BoneSpec("根", (0, 0, 0), flags=MOVABLE), BoneSpec("中", (0, 10, 0), 0), BoneSpec("先", (0, 20, 0), 1)])
    world = _pose(
        rig,
        [
            BoneKey("根", 0, (1, 0, 0), tuple(axis_angle((0, 0, 1), math.radians(90)).tolist())),
            BoneKey("中", 0, (5, 5, 5)),
        ],
    )
    # The root turns 90 degrees about z (y -> -x) and moves 1 unit along x; "中" cannot translate, so its key's move is ignored.
    assert world[1, :3, 3] == pytest.approx(np.array([1 - 10, 0, 0]) * UNIT, abs=1e-6)
    assert world[2, :3, 3] == pytest.approx(np.array([1 - 20, 0, 0]) * UNIT, abs=1e-6)
    skinned = rig.posed_vertices(world)
    assert skinned[6] == pytest.approx(world[2, :3, 3], abs=1e-9)  # the third bone's triangle follows it


def test_inherited_rotation_and_translation_scale_with_the_weight():
    half = pmx.ROTATABLE | pmx.VISIBLE | pmx.ENABLED | pmx.INHERIT_ROTATION
    moves = MOVABLE | pmx.INHERIT_TRANSLATION
    rig = _rig(
        [
            BoneSpec("源", (0, 0, 0), flags=MOVABLE),
            BoneSpec("半", (5, 0, 0), flags=half, inherit=(0, 0.5)),
            BoneSpec("逆", (-5, 0, 0), flags=half, inherit=(0, -1.0)),
            BoneSpec("倍", (0, 5, 0), flags=moves, inherit=(0, 2.0)),
            BoneSpec("連", (0, -5, 0), flags=half, inherit=(1, 1.0)),  # inherits from an inheritor: gets its total
        ]
    )
    world = _pose(rig, [BoneKey("源", 0, (0, 1, 0), tuple(axis_angle((0, 1, 0), math.radians(60)).tolist()))])
    # Keys hold float32 quaternions: 1e-6 is their precision.
    assert world[1, :3, :3] == pytest.approx(to_matrix(axis_angle((0, 1, 0), math.radians(30))), abs=1e-6)
    assert world[2, :3, :3] == pytest.approx(to_matrix(axis_angle((0, 1, 0), math.radians(-60))), abs=1e-6)
    assert world[3, :3, 3] == pytest.approx(np.array([0, 5 + 2, 0]) * UNIT, abs=1e-9)
    assert world[4, :3, :3] == pytest.approx(to_matrix(axis_angle((0, 1, 0), math.radians(30))), abs=1e-6)


# ---------------------------------------------------------------- IK on a two-bone leg

HIP, KNEE, ANKLE = np.array([1.0, 10.0, 0.0]), np.array([1.0, 5.0, 0.0]), np.array([1.0, 0.5, 0.0])
KNEE_LOWER, KNEE_UPPER = -math.pi, math.radians(-0.5)


def _leg(
    extra: list[BoneSpec] | None = None, knee_limits=True, loops=40, unit_angle=2.0, thigh: pmx.IkLink | None = None
) -> Rig:
    """Hips, thigh, knee and ankle with a leg IK bone; ``thigh`` replaces the thigh's free IK link."""
    plain = pmx.ROTATABLE | pmx.VISIBLE | pmx.ENABLED
    knee = pmx.IkLink(2, (KNEE_LOWER, 0, 0), (KNEE_UPPER, 0, 0)) if knee_limits else pmx.IkLink(2)
    ik = pmx.IkChain(target=3, loops=loops, unit_angle=unit_angle, links=(knee, thigh or pmx.IkLink(1)))
    bones = [
        BoneSpec("下半身", (0, 10, 0), flags=MOVABLE),
        BoneSpec("左足", tuple(HIP), 0, plain),
        BoneSpec("左ひざ", tuple(KNEE), 1, plain),
        BoneSpec("左足首", tuple(ANKLE), 2, plain),
        BoneSpec("左足ＩＫ", tuple(ANKLE), -1, MOVABLE | pmx.IK, ik=ik),
    ]
    return _rig(bones + (extra or []))


def _knee_angle(world: np.ndarray) -> tuple[float, np.ndarray]:
    """The knee's rotation relative to the thigh: its angle about x, and its axis."""
    relative = world[1, :3, :3].T @ world[2, :3, :3]
    angle = math.atan2(relative[2, 1], relative[1, 1])
    return angle, relative


def _bends_forward(world: np.ndarray) -> float:
    """How far the knee sits in front (towards -z) of the hip-ankle line, metres."""
    hip, knee, ankle = world[1, :3, 3], world[2, :3, 3], world[3, :3, 3]
    down = (ankle - hip) / np.linalg.norm(ankle - hip)
    forward = np.array([0.0, 0.0, -1.0]) - np.dot([0.0, 0.0, -1.0], down) * down  # -z, made perpendicular to the leg
    forward /= np.linalg.norm(forward)
    return float(np.dot(knee - hip, forward))


@pytest.mark.parametrize(
    "offset",
    [(0.0, 2.0, -1.5), (0.0, 3.0, 0.0), (1.5, 1.0, 2.0), (0.0, 0.0, 0.0)],
    ids=["forward", "straight-below-closer", "back-and-out", "at-rest"],
)
def test_ik_two_bone_leg_reaches_the_target_with_the_knee_bending_forward(offset):
    rig = _leg()
    world = _pose(rig, [BoneKey("左足ＩＫ", 0, offset)])
    goal = (ANKLE + offset) * UNIT
    assert np.linalg.norm(world[3, :3, 3] - goal) < 1e-4  # within 0.1 mm
    angle, relative = _knee_angle(world)
    assert relative == pytest.approx(to_matrix(axis_angle((1, 0, 0), angle)), abs=1e-9)  # a pure x hinge
    if offset == (0.0, 0.0, 0.0):  # already there: the chain is left as the keys put it
        assert angle == 0.0
    else:  # the leg shortens, so the knee bends, forwards, within its limits
        assert KNEE_LOWER - 1e-9 <= angle <= KNEE_UPPER + 1e-9
        assert _bends_forward(world) > 0.01
    # Bones keep their lengths.
    assert np.linalg.norm(world[2, :3, 3] - world[1, :3, 3]) == pytest.approx(5 * UNIT, abs=1e-9)
    assert np.linalg.norm(world[3, :3, 3] - world[2, :3, 3]) == pytest.approx(4.5 * UNIT, abs=1e-9)


def test_ik_out_of_reach_stretches_the_leg_towards_the_target():
    rig = _leg()
    offset = np.array([0.0, -6.0, -4.0])
    world = _pose(rig, [BoneKey("左足ＩＫ", 0, tuple(offset))])
    hip, ankle, goal = world[1, :3, 3], world[3, :3, 3], (ANKLE + offset) * UNIT
    towards = np.degrees(
        np.arccos(np.dot(ankle - hip, goal - hip) / np.linalg.norm(ankle - hip) / np.linalg.norm(goal - hip))
    )
    assert towards < 0.5
    assert _knee_angle(world)[0] == pytest.approx(KNEE_UPPER, abs=1e-6)  # as straight as the limit allows


def test_ik_follows_the_hips_and_respects_other_limits():
    limited = pmx.IkLink(1, (-0.3, -0.2, -0.1), (0.3, 0.2, 0.1))
    rig = _leg(loops=20, unit_angle=0.5, thigh=limited)
    world = _pose(rig, [BoneKey("左足ＩＫ", 0, (4.0, 3.0, -6.0)), BoneKey("下半身", 0, (0.0, -1.0, 0.0))])
    from conr.render3d.quaternions import to_euler as euler_xyz

    thigh = world[1, :3, :3]  # the hips do not turn, so this is the thigh's local rotation
    angles = euler_xyz(_matrix_to_quaternion(thigh))
    assert np.all(angles >= np.array(limited.lower) - 1e-6) and np.all(angles <= np.array(limited.upper) + 1e-6)
    assert np.abs(angles).max() > 0.05  # it did turn, up to its limits
    assert world[1, :3, 3] == pytest.approx((HIP + [0, -1, 0]) * UNIT, abs=1e-9)  # the chain hangs from the moved hips


def _matrix_to_quaternion(m: np.ndarray) -> np.ndarray:
    w = math.sqrt(max(0.0, 1.0 + m[0, 0] + m[1, 1] + m[2, 2])) / 2
    return np.array([w, (m[2, 1] - m[1, 2]) / (4 * w), (m[0, 2] - m[2, 0]) / (4 * w), (m[1, 0] - m[0, 1]) / (4 * w)])


def test_ik_switched_off_by_the_motion_leaves_the_leg_to_its_keys():
    rig = _leg()
    bend = tuple(axis_angle((1, 0, 0), math.radians(-40)).tolist())
    keys = [BoneKey("左足ＩＫ", 0, (0.0, 3.0, -2.0)), BoneKey("左ひざ", 0, rotation=bend)]
    on = _pose(rig, keys)
    off = _pose(rig, keys, switches=[(0, [("左足ＩＫ", False)])])
    assert np.linalg.norm(on[3, :3, 3] - (ANKLE + [0, 3, -2]) * UNIT) < 1e-4
    assert _knee_angle(off)[0] == pytest.approx(math.radians(-40), abs=1e-6)  # exactly the key, IK ignored
    assert off[1, :3, :3] == pytest.approx(np.eye(3))


def test_bones_in_a_later_deform_layer_see_the_solved_leg():
    """Modern models skin the legs to 'D' bones that copy the IK-driven ones (inherit weight 1, layer 1)."""
    copy = pmx.ROTATABLE | pmx.VISIBLE | pmx.ENABLED | pmx.INHERIT_ROTATION
    rig = _leg(
        [
            BoneSpec("左足D", tuple(HIP), 0, copy, layer=1, inherit=(1, 1.0)),
            BoneSpec("左ひざD", tuple(KNEE), 5, copy, layer=1, inherit=(2, 1.0)),
        ]
    )
    world = _pose(rig, [BoneKey("左足ＩＫ", 0, (0.0, 2.5, -1.0))])
    assert world[5, :3, :3] == pytest.approx(world[1, :3, :3], abs=1e-9)
    assert world[6, :3, 3] == pytest.approx(world[2, :3, 3], abs=1e-9)
    assert world[6, :3, :3] == pytest.approx(world[2, :3, :3], abs=1e-9)
    assert _knee_angle(world)[0] < -0.1


def test_ik_without_limits_and_without_loops_still_behaves():
    free = _leg(knee_limits=False)
    world = _pose(free, [BoneKey("左足ＩＫ", 0, (0.0, 2.0, -1.5))])
    assert np.linalg.norm(world[3, :3, 3] - (ANKLE + [0, 2, -1.5]) * UNIT) < 1e-3
    none = _leg(loops=0)
    world = _pose(none, [BoneKey("左足ＩＫ", 0, (0.0, 2.0, -1.5))])
    assert world[3, :3, 3] == pytest.approx(ANKLE * UNIT)  # a chain with no loops does nothing


def test_crafted_ik_work_is_bounded():
    """Absurd loop counts are scaled to a per-frame budget; absurd numbers of chains are refused."""

    from conr.errors import InputError
    from conr.mmd.posing import MAX_IK_CHAINS, MAX_IK_WORK_PER_FRAME

    plain = pmx.ROTATABLE | pmx.VISIBLE | pmx.ENABLED
    chain = [BoneSpec("根", (0, 0, 0), flags=MOVABLE)] + [
        BoneSpec(f"節{k}", (0, -k - 1.0, 0), k, plain) for k in range(300)
    ]
    links = tuple(pmx.IkLink(k) for k in range(299, 299 - 64, -1))  # 64 links, each re-posing the bones below it
    greedy = BoneSpec("欲張りIK", (0, -301.0, 0), -1, MOVABLE | pmx.IK, ik=pmx.IkChain(300, 2**31 - 1, 0.001, links))
    rig = _rig(chain + [greedy])
    (solver,) = rig.chains.values()
    assert solver.loops * sum(len(p) + 1 for p in solver.paths) <= MAX_IK_WORK_PER_FRAME
    world = _pose(rig, [BoneKey("欲張りIK", 0, (500.0, 0.0, 0.0))])  # far out of reach: bounded by the work cap above
    assert np.isfinite(world).all()

    many = [BoneSpec("根", (0, 0, 0), flags=MOVABLE), BoneSpec("先", (0, 1, 0), 0, plain)]
    many += [
        BoneSpec(f"IK{k}", (0, 1, 0), -1, MOVABLE | pmx.IK, ik=pmx.IkChain(1, 1, 1.0, (pmx.IkLink(0),)))
        for k in range(MAX_IK_CHAINS + 1)
    ]
    with pytest.raises(InputError, match=f"has {MAX_IK_CHAINS + 1} IK chains"):
        _rig(many)
