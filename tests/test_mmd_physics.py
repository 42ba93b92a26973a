"""MMD physics: PMX rigid bodies read back, physics bones as spring chains that lag, swing and settle; --no-physics."""

from __future__ import annotations

import numpy as np
import pytest
from mmd_writers import BoneKey, hair_spec, pmx_bytes, vmd_bytes

from conr.errors import InputError
from conr.mmd import udp_from_mmd
from conr.mmd.physics import PhysicsRig
from conr.mmd.pmx import read_pmx
from conr.mmd.to_udp import MmdScene
from conr.mmd.vmd import read_vmd


@pytest.fixture(autouse=True)
def _no_saved_calibration(monkeypatch):
    monkeypatch.setenv("CONR_UDP_CALIBRATION", "off")


def test_rigid_bodies_read_back():
    spec = hair_spec()
    model = read_pmx(pmx_bytes(spec), "hair.pmx")
    assert [(b.name, b.bone, b.mode, b.shape, b.group, b.mask) for b in model.rigid_bodies] == [
        (s.name, s.bone, s.mode, s.shape, s.group, s.mask) for s in spec.rigid_bodies
    ]
    assert model.rigid_bodies[2].size == pytest.approx((6.0, 0.5, 0.6)) and model.rigid_bodies[
        2
    ].rotation == pytest.approx((0, 0, 0.3))
    assert model.bones[5].tail == (0.0, -3.0, 0.5) and model.bones[0].tail == (0.0, 1.0, 0.0)
    # Damaged after the bones: the model still poses, without physics.
    data = pmx_bytes(spec)
    cut = read_pmx(data[: len(data) - 40], "cut.pmx")
    assert cut.rigid_bodies == [] and len(cut.bones) == len(spec.bones)


def test_physics_rig_chains_capsules_and_followers():
    model = read_pmx(pmx_bytes(hair_spec()), "hair.pmx")
    scene = MmdScene(model, read_vmd(vmd_bytes([BoneKey("センター", 0)]), "still.vmd"))
    physics = scene.physics
    assert physics is not None and physics.bone_count == 6 and physics.chain_count == 2
    ((hair, _),) = physics.levels[0]
    ((ribbon, _),) = physics.levels[1]  # hangs from a simulated bone: solved after it
    assert (hair.bones, hair.copy, hair.anchor) == ([2, 3, 4, 5], None, 1) and (ribbon.bones, ribbon.anchor) == (
        [6, 7],
        3,
    )
    assert physics.followers == [8]  # the bow keeps its place on the tip
    assert sorted(physics.capsule_bones.tolist()) == [0, 0, 1] and sorted(
        np.round(physics.radii / 0.08, 3).tolist()
    ) == [0.6, 1.2, 2.0]
    assert MmdScene(model, scene.motion, physics=False).physics is None
    assert (
        PhysicsRig(
            read_pmx(pmx_bytes(hair_spec(bodies=False)), "bare.pmx"), scene.rig.heads, scene.rig.parents
        ).chain_count
        == 0
    )


def _track(scene: MmdScene, frames: np.ndarray, bone: int, relative_to: int) -> np.ndarray:
    return np.array([w[bone, :3, 3] - w[relative_to, :3, 3] for w in scene.worlds(frames)])


def test_hair_lags_and_settles_after_the_head_stops(tmp_path):
    """The head moves 0.8 m to the side in half a second and stops; the hair tip trails, swings past and comes to rest."""
    model = read_pmx(pmx_bytes(hair_spec()), "hair.pmx")
    keys = [
        BoneKey("センター", 0),
        BoneKey("センター", 15, (10.0, 0.0, 0.0)),
        BoneKey("センター", 180, (10.0, 0.0, 0.0)),
    ]
    motion = read_vmd(vmd_bytes(keys), "sway.vmd")
    frames = np.arange(0, 181, dtype=np.float64)
    rigid = _track(MmdScene(model, motion, physics=False), frames, 5, 1)
    assert np.abs(rigid - rigid[0]).max() < 1e-9  # without physics the tip never moves relative to the head
    tip = _track(MmdScene(model, motion), frames, 5, 1)
    rest = tip[0]
    assert rest[1] < rigid[0][1] + 1e-6 and abs(rest[0]) < 1e-9  # settled under gravity before the first frame: hanging
    lag = tip[:16, 0].min()
    assert lag < -0.05  # trails the head by more than 5 cm while it moves
    swing = tip[16:60, 0].max()
    assert swing > 0.01  # and swings past it once the head has stopped
    assert (
        np.abs(tip[150:] - rest).max() < 0.002 and np.abs(np.diff(tip[150:], axis=0)).max() < 2e-4
    )  # at rest again within 4.5 s
    again = _track(MmdScene(model, motion), frames[::5], 5, 1)  # coarser frames, same physics (walked in 1/30 s steps)
    assert np.abs(again - tip[::5]).max() < 0.01
    ribbon = _track(MmdScene(model, motion), frames, 7, 3)
    assert np.abs(ribbon - ribbon[0]).max() > 0.01  # the branch swings too
    bow = np.array([w[8] for w in MmdScene(model, motion).worlds(frames[:20])])
    tip_world = np.array([w[5] for w in MmdScene(model, motion).worlds(frames[:20])])
    assert np.allclose(np.linalg.inv(tip_world) @ bow, np.linalg.inv(tip_world[0]) @ bow[0])  # the bow stays on the tip


def test_physics_in_the_conversion_and_cli(tmp_path, capsys):
    from conr.cli import main

    (tmp_path / "hair.pmx").write_bytes(pmx_bytes(hair_spec()))
    keys = [
        BoneKey("センター", 0),
        BoneKey("センター", 15, (10.0, 0.0, 0.0)),
        BoneKey("センター", 30, (10.0, 0.0, 0.0)),
    ]
    (tmp_path / "sway.vmd").write_bytes(vmd_bytes(keys))
    args = [str(tmp_path / "hair.pmx"), str(tmp_path / "sway.vmd")]
    with_physics = udp_from_mmd(*args, out=tmp_path / "on.zip", size=64, framing="fixed")
    without = udp_from_mmd(*args, out=tmp_path / "off.zip", size=64, framing="fixed", physics=False)
    assert len(with_physics) == len(without) == 31 and (without[15][..., 3] > 0.5).sum() > 20
    assert (with_physics[15][..., 3] > 0.5).sum() > 20 and not np.array_equal(with_physics[15], without[15])
    assert (
        main(["udp-from-mmd", *args, "--out", str(tmp_path / "cli.zip"), "--size", "64", "--max-seconds", "0.2"]) == 0
    )
    assert "physics: 6 bones in 2 spring chains, 3 body capsules" in capsys.readouterr().err
    assert (
        main(
            [
                "udp-from-mmd",
                *args,
                "--out",
                str(tmp_path / "cli.zip"),
                "--size",
                "64",
                "--max-seconds",
                "0.2",
                "--no-physics",
            ]
        )
        == 0
    )
    assert "physics: none (--no-physics)" in capsys.readouterr().err


def test_crafted_physics_stays_bounded(monkeypatch):
    """Thousands of physics bones in one line under the head: chains are cut to a bounded length and count."""
    from mmd_writers import BoneSpec, PmxSpec, RigidBodySpec

    from conr.mmd import physics
    from conr.mmd.to_udp import check_binding

    monkeypatch.setattr(physics, "MAX_SIMULATED_BONES", 200)
    count = 3000
    bones = [BoneSpec("頭" if i == 0 else f"骨{i}", (0.0, 20.0 - i * 0.005, 0.01 * i), i - 1) for i in range(count)]
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float64)
    ids = np.array([[count - 1, -1, -1, -1]] * 3)
    weights = np.array([[1.0, 0, 0, 0]] * 3)
    spec = PmxSpec(
        vertices,
        np.array([[0, 1, 2]]),
        bones,
        ids,
        weights,
        rigid_bodies=[RigidBodySpec("b", i, 1) for i in range(1, count)],
    )
    model = read_pmx(pmx_bytes(spec), "deep.pmx")
    scene = MmdScene(model, read_vmd(vmd_bytes([BoneKey("頭", 0), BoneKey("頭", 3, (1.0, 0.0, 0.0))]), "m.vmd"))
    assert (
        scene.physics.chain_count == 3 and scene.physics.bone_count <= 200
    )  # runs of 64 bones, each hanging from the last
    assert len(scene.physics.followers) >= count - 1 - 200
    worlds = list(scene.worlds(np.array([0.0, 1.0, 2.0, 3.0])))
    assert np.isfinite(worlds[-1]).all() and abs(worlds[-1][-1, 0, 3] - worlds[-1][0, 0, 3]) < 1.0
    check_binding(scene)  # the head moves: a (small) dance
    swing = read_vmd(vmd_bytes([BoneKey("骨2999", 0), BoneKey("骨2999", 3, rotation=(0.9, 0.1, 0.0, 0.0))]), "tip.vmd")
    with pytest.raises(InputError, match="'tip.vmd' has expression keys only"):  # only a bone below the head moves
        check_binding(MmdScene(model, swing, physics=False))


def test_body_capsules_push_the_hair_out():
    """A capsule on a bone of its own sweeps sideways into where the hair hangs: the hair is pushed aside, not passed through."""
    from mmd_writers import BoneSpec, RigidBodySpec

    from conr.mmd import pmx

    spec = hair_spec()
    wall = len(spec.bones)
    spec.bones.append(
        BoneSpec("壁", (5.0, 11.0, 2.5), -1, pmx.ROTATABLE | pmx.VISIBLE | pmx.ENABLED | pmx.TRANSLATABLE)
    )
    spec.bone_ids[-3:, 0] = wall  # the last triangle moves with it
    # A capsule along z (turned a quarter about x), 0.5 units thick, from z = 0.5 to 4.5.
    spec.rigid_bodies.append(
        RigidBodySpec("壁", wall, 0, 2, (0.5, 4.0, 0.0), (5.0, 11.0, 2.5), (np.pi / 2, 0.0, 0.0), group=1)
    )
    model = read_pmx(pmx_bytes(spec), "wall.pmx")
    keys = [BoneKey("壁", 0), BoneKey("壁", 20, (-5.0, 0.0, 0.0)), BoneKey("壁", 40, (-5.0, 0.0, 0.0))]
    motion = read_vmd(vmd_bytes(keys), "wall.vmd")
    assert wall in MmdScene(model, motion).physics.capsule_bones.tolist()
    radius, half = 0.5 * 0.08, np.array([0.0, 0.0, 2.0 * 0.08])
    for bodies, outside in ((model.rigid_bodies, True), ([b for b in model.rigid_bodies if b.name != "壁"], False)):
        model.rigid_bodies = bodies
        depth = []
        for w in MmdScene(model, motion).worlds(np.arange(41.0)):
            a, b = w[wall, :3, 3] - half, w[wall, :3, 3] + half
            joints = w[[3, 4, 5], :3, 3]
            t = np.clip((joints - a) @ (b - a) / ((b - a) @ (b - a)), 0, 1)
            depth.append(radius - np.linalg.norm(joints - (a + t[:, None] * (b - a)), axis=1).min())
        if outside:
            assert max(depth) < 0.003  # never more than a few millimetres inside (the push acts per substep)
        else:
            assert max(depth) > 0.02  # without the capsule the wall passes through the hair
