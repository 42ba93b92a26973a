"""PMD models (MMD's older format): fields read back, MMD's rules for bone kinds and IK, refusals, and the same UDP as PMX."""

from __future__ import annotations

import struct
import zipfile

import numpy as np
import pytest
from mmd_writers import (
    BoneKey,
    character_spec,
    dance_keys,
    feature_pmd_spec,
    feature_spec,
    pmd_bytes,
    pmd_pair,
    pmx_bytes,
    vmd_bytes,
)

from conr.dances.character import build_character
from conr.dances.motions import MOTIONS
from conr.errors import InputError
from conr.mmd import pmx, udp_from_mmd
from conr.mmd.files import load_model
from conr.mmd.pmd import read_pmd
from conr.mmd.pmx import read_pmx
from conr.mmd.posing import MotionBinding, Rig
from conr.mmd.to_udp import MmdScene, frame_cameras, mmd_convention, mmd_udp_frames
from conr.mmd.vmd import read_vmd
from conr.render3d.quaternions import to_matrix

PLAIN = pmx.ROTATABLE | pmx.VISIBLE | pmx.ENABLED


@pytest.fixture(autouse=True)
def _no_saved_calibration(monkeypatch):
    monkeypatch.setenv("CONR_UDP_CALIBRATION", "off")


def test_pmd_reads_back_what_was_written():
    spec = feature_pmd_spec()
    model = read_pmd(pmd_bytes(spec), "feature.pmd")
    assert (
        model.name == "機能テストPMD"
        and model.encoding == "cp932"
        and model.version == 1.0
        and model.source == "feature.pmd"
    )
    assert np.array_equal(model.vertices, spec.vertices) and np.array_equal(model.triangles, spec.triangles)
    for v in range(len(spec.vertices)):
        written = {
            (int(spec.bone_ids[v][k]), round(w, 6))
            for k, w in enumerate((spec.percent[v] / 100, 1 - spec.percent[v] / 100))
            if w > 0
        }
        read = {(int(i), round(float(w), 6)) for i, w in zip(model.bone_ids[v], model.weights[v]) if w > 0}
        assert read == written, f"vertex {v}"
    assert [b.name for b in model.bones] == [b.name for b in spec.bones]
    assert [b.parent for b in model.bones] == [b.parent for b in spec.bones]
    assert [b.position for b in model.bones] == [b.position for b in spec.bones]
    flags = {b.name: b.flags for b in model.bones}
    assert (
        flags["センター"] == PLAIN | pmx.TRANSLATABLE
        and flags["左ひざ"] == PLAIN
        and flags["非表示"] == PLAIN & ~pmx.VISIBLE
    )
    assert flags["左足ＩＫ"] == PLAIN | pmx.TRANSLATABLE | pmx.IK
    eye, twist = model.bones[7], model.bones[11]
    assert eye.inherits_rotation and (eye.inherit_parent, eye.inherit_weight) == (
        6,
        1.0,
    )  # kind 5: the source's rotation
    assert twist.inherits_rotation and (twist.inherit_parent, twist.inherit_weight) == (
        9,
        -0.25,
    )  # kind 9: tail's, times -25%
    assert not any(b.inherits_rotation for i, b in enumerate(model.bones) if i not in (7, 11))
    ik = model.bones[4].ik
    assert ik is not None and (ik.target, ik.loops, ik.unit_angle) == (
        3,
        40,
        2.0,
    )  # the control weight 0.5 is a quarter
    assert [link.bone for link in ik.links] == [2, 1] and ik.links[1].lower is None  # only the knee gets limits
    assert ik.links[0].lower == pytest.approx((-np.pi, 0, 0)) and ik.links[0].upper == pytest.approx(
        (np.radians(-0.5), 0, 0)
    )
    # IK after everything else, and the IK bone's children after it.
    assert [b.layer for b in model.bones] == [0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    assert [(m.name, m.index_count, m.double_sided, m.diffuse_alpha) for m in model.materials] == [
        ("肌.bmp", 3, False, 1.0),
        ("服.png*sph.sph", 6, True, 0.5),
        ("material 2", 3, True, 0.0),
    ]
    assert model.triangle_materials().tolist() == [0, 1, 1, 2]
    assert model.unread_bytes > 1000  # morphs, display lists, English names, toons, physics
    spec.extensions = False
    assert read_pmd(pmd_bytes(spec), "bare.pmd").unread_bytes == 0


def test_pmd_posing_follows_mmd_rules():
    model = read_pmd(pmd_bytes(feature_pmd_spec()), "feature.pmd")
    turn = lambda deg, axis: (np.cos(np.radians(deg) / 2), *(np.sin(np.radians(deg) / 2) * np.asarray(axis, float)))  # noqa: E731
    keys = [
        BoneKey("両目", 0, rotation=turn(20, (0, 1, 0))),
        BoneKey("右腕捩", 0, rotation=turn(40, (1, 0, 0))),
        BoneKey("左足ＩＫ", 0, (0.0, 2.0, -1.5)),
    ]
    rig = Rig(model)
    samples = MotionBinding(rig, read_vmd(vmd_bytes(keys), "pose.vmd")).sample(np.array([0.0]))
    world = rig.pose(samples.rotations[0], samples.translations[0], samples.ik_enabled[0])
    assert np.allclose(world[7, :3, :3], to_matrix(np.asarray(turn(20, (0, 1, 0)))))  # 左目 turns with 両目
    assert np.allclose(
        world[11, :3, :3], to_matrix(np.asarray(turn(-10, (1, 0, 0))))
    )  # 右腕捩1: -25% of 右腕捩's 40 degrees
    goal = world[4, :3, 3]
    assert np.allclose(goal, (np.array([1.0, 1.0, 0.0]) + [0.0, 2.0, -1.5]) * 0.08)
    assert np.abs(world[3, :3, 3] - goal).max() < 1e-4  # the ankle reaches the IK bone: the knee bends
    knee = world[1, :3, :3].T @ world[2, :3, :3]
    assert (
        np.arctan2(knee[2, 1], knee[1, 1]) < np.radians(-0.5) + 1e-9 and abs(knee[0, 0] - 1) < 1e-9
    )  # a hinge about x, bent forwards


def test_pmd_character_gives_the_same_udp_as_the_same_model_as_pmx(tmp_path):
    """Our character cut to PMD's two bones a vertex: written as PMX and as PMD, it poses and renders identically."""
    character = build_character()
    as_pmx, as_pmd = pmd_pair(character_spec(character))
    pmx_model = read_pmx(pmx_bytes(as_pmx), "character.pmx")
    pmd_model = read_pmd(pmd_bytes(as_pmd), "character.pmd")
    assert len(pmd_model.vertices) == len(character.vertices) and np.array_equal(
        pmd_model.triangles, pmx_model.triangles
    )
    assert np.allclose(pmd_model.weights, pmx_model.weights) and np.array_equal(pmd_model.bone_ids, pmx_model.bone_ids)
    keys, switches = dance_keys(MOTIONS["step-and-clap"], character, "drive")  # IK alone bends the legs
    motion = read_vmd(vmd_bytes(keys, switches), "step.vmd")
    scenes = [MmdScene(m, motion) for m in (pmx_model, pmd_model)]
    assert [len(s.rig.chains) for s in scenes] == [2, 2] and len(scenes[0].triangles) == len(scenes[1].triangles) > len(
        character.triangles
    )
    times = np.arange(0, 90, 15) / 30
    camera = frame_cameras(scenes[0], times, "fixed")[0]
    convention = mmd_convention(scenes[0].rest)
    frames = [list(mmd_udp_frames(s, times, 96, convention, framing=camera)) for s in scenes]
    for a, b in zip(*frames):
        assert (a[..., 3] > 0.5).sum() > 500 and np.abs(a - b).max() < 1e-5  # knee limits: float32 in PMX, exact in PMD
    # The PMD also goes the whole way, from a zip next to its textures.
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("classic/キャラ.pmd", pmd_bytes(as_pmd))
        z.writestr("classic/tex.bmp", b"BM")
    (tmp_path / "step.vmd").write_bytes(vmd_bytes(keys, switches))
    poses = udp_from_mmd(
        archive, tmp_path / "step.vmd", out=tmp_path / "udp.zip", size=64, framing=camera, max_seconds=1 / 3
    )
    assert len(poses) == 10 and (poses[5][..., 3] > 0.5).sum() > 100


def test_pmd_and_pmx_in_one_zip_and_by_signature(tmp_path):
    pmd_data = pmd_bytes(feature_pmd_spec())
    pmx_data = pmx_bytes(feature_spec())
    both = tmp_path / "both.zip"
    with zipfile.ZipFile(both, "w") as z:
        z.writestr("old/model.pmd", pmd_data)
        z.writestr("new/model.pmx", pmx_data)
    assert load_model(both).source == "new/model.pmx"  # the newer format of the same model
    assert load_model(both, member="model.pmd").name == "機能テストPMD"
    (tmp_path / "renamed.pmx").write_bytes(pmd_data)  # the signature decides, not the name
    assert load_model(tmp_path / "renamed.pmx").encoding == "cp932"
    (tmp_path / "model.pmd").write_bytes(pmd_data)
    assert len(load_model(tmp_path / "model.pmd").bones) == 13


def _refused(data: bytes, *fragments: str) -> None:
    with pytest.raises(InputError) as caught:
        read_pmd(data, "bad.pmd")
    message = str(caught.value)
    assert message.startswith("'bad.pmd' is not a usable PMD model"), message
    for fragment in fragments:
        assert fragment in message, message


def test_pmd_refusals_say_what_is_wrong():
    spec = feature_pmd_spec()
    good = pmd_bytes(spec)
    _refused(b"Pmx" + good[3:], "signature")
    vertex_count_at = 3 + 4 + 20 + 256
    for count in (0xFFFFFFFF, 3_000_000, 1000):
        _refused(good[:vertex_count_at] + struct.pack("<I", count) + good[vertex_count_at + 4 :], "vertex count")
    cases = [
        ("triangles", lambda s: s.triangles.__setitem__((1, 2), 9), "face index 5 points at vertex 9"),
        ("bone_ids", lambda s: s.bone_ids.__setitem__((4, 0), 13), "vertex 4 is weighted to bone 13"),
        ("percent", lambda s: s.percent.__setitem__(2, 150), "vertex 2 gives its first bone a weight of 150%"),
        ("vertices", lambda s: s.vertices.__setitem__((3, 1), np.inf), "vertex position"),
    ]
    for field, change, message in cases:
        spec = feature_pmd_spec()
        setattr(spec, field, getattr(spec, field).copy())
        change(spec)
        _refused(pmd_bytes(spec), message)
    spec = feature_pmd_spec()
    spec.bones[2].parent = 40
    _refused(pmd_bytes(spec), "parent of bone 2 (左ひざ) is 40")
    spec = feature_pmd_spec()
    spec.bones[0].parent = 2  # センター under 左ひざ, under 左足, under センター
    _refused(pmd_bytes(spec), "own ancestor")
    spec = feature_pmd_spec()
    spec.bones[1].position = (np.nan, 0.0, 0.0)
    _refused(pmd_bytes(spec), "bone 1 (左足)")
    spec = feature_pmd_spec()
    spec.iks[0].links = (2, 99)
    _refused(pmd_bytes(spec), "link 1 of IK 0 is 99")
    spec = feature_pmd_spec()
    spec.iks[0].target = 13
    _refused(pmd_bytes(spec), "target of IK 0 is 13")
    spec = feature_pmd_spec()
    spec.materials[1] = (1.0, 4, "")
    _refused(pmd_bytes(spec), "material 1 covers 4 face indices")
    spec.materials[1] = (1.0, 6, "")  # counts not covering the faces: drawn, with a warning (as PMX)
    spec.materials[2] = (1.0, 6, "")
    assert read_pmd(pmd_bytes(spec), "loose.pmd").triangle_materials() is None


def test_pmd_every_truncation_is_refused_cleanly():
    spec = feature_pmd_spec()
    spec.extensions = False
    good = pmd_bytes(spec)
    for cut in range(len(good)):
        with pytest.raises(InputError, match="'cut.pmd'"):
            read_pmd(good[:cut], "cut.pmd")
    read_pmd(good, "bones-and-ik-only.pmd")  # what follows the IK list is optional


def test_pmd_rigid_bodies_and_physics():
    """Rigid bodies past the optional sections, placed relative to their bone; the hair of a PMD swings too."""
    from mmd_writers import hair_spec

    from conr.mmd.to_udp import MmdScene

    spec = hair_spec()
    model = read_pmd(pmd_bytes(pmd_pair(spec)[1]), "hair.pmd")
    assert [(b.name, b.bone, b.mode, b.shape, b.group, b.mask) for b in model.rigid_bodies] == [
        (s.name, s.bone, s.mode, s.shape, s.group, s.mask) for s in spec.rigid_bodies
    ]
    for read, written in zip(model.rigid_bodies, spec.rigid_bodies):
        assert read.position == pytest.approx(written.position) and read.size == pytest.approx(written.size)
    keys = [
        BoneKey("センター", 0),
        BoneKey("センター", 15, (10.0, 0.0, 0.0)),
        BoneKey("センター", 120, (10.0, 0.0, 0.0)),
    ]
    scene = MmdScene(model, read_vmd(vmd_bytes(keys), "sway.vmd"))
    assert (
        scene.physics is not None and scene.physics.chain_count == 2
    )  # the tip has no tail in PMD: it turns with the bone above
    tip = np.array([w[5, :3, 3] - w[1, :3, 3] for w in scene.worlds(np.arange(121.0))])
    assert tip[:16, 0].min() < -0.05 and np.abs(tip[-1] - tip[0]).max() < 0.002  # lags, then settles
    data = pmd_bytes(pmd_pair(spec)[1])
    assert read_pmd(data[:-200], "cut.pmd").rigid_bodies == []  # damaged physics: posed without it
    assert read_pmd(pmd_bytes(feature_pmd_spec()), "feature.pmd").rigid_bodies[0].position == (0.0, 8.0, 0.0)
