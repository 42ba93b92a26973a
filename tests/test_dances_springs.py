"""The spring chains that move hair, skirts and MMD physics bones: lag, settling, stability, loops, collisions."""

import numpy as np
import pytest

from conr.render3d.springs import SpringChain, SpringSettings, SpringSolver, local_rotations, simulate

HAIR = np.array([[0.0, 1.5, 0.1], [0.0, 1.35, 0.12], [0.0, 1.2, 0.13], [0.0, 1.05, 0.14]])


def _translations(xs, ys=None, zs=None):
    anchors = np.tile(np.eye(4), (len(xs), 1, 1, 1))
    anchors[:, 0, 0, 3] = xs
    if ys is not None:
        anchors[:, 0, 1, 3] = ys
    if zs is not None:
        anchors[:, 0, 2, 3] = zs
    return anchors


def _yaw(degrees):
    a = np.radians(degrees)
    m = np.eye(4)
    m[0, 0], m[0, 2], m[2, 0], m[2, 2] = np.cos(a), np.sin(a), -np.sin(a), np.cos(a)
    return m


def test_chain_lags_then_settles_after_its_anchor_stops():
    frames = 150
    x = np.minimum(np.arange(frames) / 30, 1.0) * 0.3  # the head slides 30 cm in one second, then stops
    result = simulate([SpringChain(HAIR, 0)], _translations(x), fps=30)
    tip = result.positions[:, 0, -1] - (HAIR[-1] + np.c_[x, np.zeros((frames, 2))])
    assert tip[15, 0] < -0.03  # while the head moves right, the tip trails behind
    assert np.abs(tip[30:60, 0]).max() > 0.03  # after the stop it swings on
    still = simulate([SpringChain(HAIR, 0)], _translations(np.zeros(frames)), fps=30).positions[-1, 0, -1] - HAIR[-1]
    assert (
        np.abs(tip[-30:] - still).max() < 0.003
    )  # and comes back to hanging as if it never moved (gravity sags it a little)
    # The bones keep their lengths.
    joints = np.concatenate(
        [
            np.broadcast_to(HAIR[0] + [[0, 0, 0]], (frames, 1, 3)) + np.c_[x, np.zeros((frames, 2))][:, None],
            result.positions[:, 0],
        ],
        axis=1,
    )
    lengths = np.linalg.norm(np.diff(joints, axis=1), axis=-1)
    assert np.allclose(lengths, np.linalg.norm(np.diff(HAIR, axis=0), axis=1), atol=1e-6)


def test_stable_for_a_thousand_frames_of_violent_motion():
    rng = np.random.default_rng(3)
    frames = 1000
    anchors = np.stack([_yaw(a) for a in np.cumsum(rng.normal(0, 12, frames))])[:, None].copy()
    anchors[:, 0, :3, 3] = np.cumsum(rng.normal(0, 0.03, (frames, 3)), axis=0)
    chains = [SpringChain(HAIR, 0), SpringChain(HAIR[:3] * [1, 1, -1], 0, SpringSettings(stiffness=400, damping=2))]
    result = simulate(chains, anchors, fps=30)
    assert np.isfinite(result.positions).all() and np.isfinite(result.rotations).all()
    heads = np.einsum("fij,j->fi", anchors[:, 0, :3, :3], HAIR[0]) + anchors[:, 0, :3, 3]
    assert (
        np.linalg.norm(result.positions[:, 0, -1] - heads, axis=-1).max()
        <= np.linalg.norm(np.diff(HAIR, axis=0), axis=1).sum() + 1e-6
    )
    r = result.rotations
    assert np.allclose(r @ np.swapaxes(r, -1, -2), np.eye(3), atol=1e-6)


def test_loop_after_warm_up_is_seamless():
    frames = 60  # two seconds of a head swaying side to side and turning
    phase = 2 * np.pi * np.arange(frames) / frames
    anchors = np.stack([_yaw(40 * np.sin(p)) for p in phase])[:, None].copy()
    anchors[:, 0, 0, 3] = 0.15 * np.sin(2 * phase)
    result = simulate([SpringChain(HAIR, 0)], anchors, fps=30, loop=True)
    tip = result.positions[:, 0, -1]
    looped = np.concatenate([tip, tip[:3]])
    velocity = np.diff(looped, axis=0)
    jump = np.linalg.norm(velocity[frames - 1] - velocity[frames - 2])  # acceleration across the seam
    typical = np.linalg.norm(np.diff(velocity[: frames - 1], axis=0), axis=-1)
    assert jump <= typical.max() * 1.5
    assert np.linalg.norm(velocity[frames - 1]) <= np.linalg.norm(velocity, axis=-1).max()
    # Without warm-up the start is the rest pose, far from the steady swing: the seam would jump.
    cold = simulate([SpringChain(HAIR, 0)], anchors, fps=30, loop=False, settle_seconds=0).positions[:, 0, -1]
    assert np.linalg.norm(cold[-1] - cold[0]) > 3 * np.linalg.norm(tip[-1] - tip[0])


def test_capsules_keep_the_chain_outside_the_body():
    frames = 90
    body = np.array([[[0.0, 0.9, 0.2], [0.0, 1.4, 0.2]]])  # a torso right behind the hanging hair
    capsules = np.broadcast_to(body, (frames, 1, 2, 3))
    result = simulate(
        [SpringChain(HAIR, 0)], _translations(np.zeros(frames)), fps=30, capsules=capsules, radii=np.array([0.12])
    )
    distance = np.linalg.norm(result.positions[:, 0][..., [0, 2]] - body[0, 0][[0, 2]], axis=-1)
    assert distance.min() >= 0.12


def test_local_rotations_compose_back_to_world():
    frames = 20
    anchors = np.stack([_yaw(9 * f) for f in range(frames)])[:, None]
    result = simulate([SpringChain(HAIR, 0)], anchors, fps=30)
    local = local_rotations(result.rotations, anchors[:, :, :3, :3])
    world = anchors[:, 0, :3, :3]
    for i in range(3):
        world = world @ local[:, 0, i]
        assert np.allclose(world, result.rotations[:, 0, i], atol=1e-9)


def test_bad_chains_are_refused():
    with pytest.raises(ValueError, match="two rest points"):
        SpringChain(np.zeros((1, 3)), 0)
    with pytest.raises(ValueError, match="anchor 2"):
        SpringSolver([SpringChain(HAIR, 2)]).reset(np.eye(4)[None])
