"""MMD to UDP: our character and dances exported as PMX/VMD give the native path's UDP; framing, limits, CLI."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
from mmd_writers import (
    BoneKey,
    BoneSpec,
    MaterialSpec,
    PmxSpec,
    character_spec,
    dance_keys,
    feature_motion_bytes,
    feature_spec,
    pmx_bytes,
    vmd_bytes,
)

from conr.dances.character import build_character
from conr.dances.generator import dance_camera, dance_frames
from conr.dances.motions import MOTIONS
from conr.errors import InputError
from conr.limits import Limits
from conr.mmd import udp_from_mmd
from conr.mmd.pmx import read_pmx
from conr.mmd.to_udp import MmdScene, frame_cameras, mmd_convention, mmd_udp_frames
from conr.mmd.vmd import read_vmd
from conr.udp import open_udp_sequence

SIZE = 160


@pytest.fixture(autouse=True)
def _no_saved_calibration(monkeypatch):
    monkeypatch.setenv("CONR_UDP_CALIBRATION", "off")


@pytest.fixture(scope="module")
def character_model():
    return read_pmx(pmx_bytes(character_spec(build_character(), version=2.1)), "character.pmx")


def _motion(name: str, ik: str):
    keys, switches = dance_keys(MOTIONS[name], build_character(), ik)
    return read_vmd(vmd_bytes(keys, switches), f"{name}.vmd")


def _compare(native: list[np.ndarray], imported: list[np.ndarray]) -> dict:
    """Agreement of two UDP sequences: coverage IoU (worst frame), and value differences on shared pixels."""
    ious, diffs = [], []
    for a, b in zip(native, imported):
        ca, cb = a[..., 3] > 0.5, b[..., 3] > 0.5
        ious.append((ca & cb).sum() / (ca | cb).sum())
        diffs.append(np.abs(a[..., :3] - b[..., :3])[ca & cb].max(axis=1))
    diffs = np.concatenate(diffs)
    return {
        "iou": min(ious),
        "within_1e-4": float(np.mean(diffs < 1e-4)),
        "within_1/255": float(np.mean(diffs < 1 / 255)),
        "mean": float(diffs.mean()),
        "max": float(diffs.max()),
    }


@pytest.mark.parametrize("dance,ik", [("step-and-clap", "consistent"), ("wave", "off")])
def test_exported_dance_gives_the_native_udp(character_model, dance, ik):
    """Every bone keyed: with IK targets where the dance puts the ankles, or IK switched off, the frames are the same."""
    motion = MOTIONS[dance]
    scene = MmdScene(character_model, _motion(dance, ik))
    assert (
        scene.binding.matched == len(build_character().skeleton.names) + 2 and len(scene.rig.chains) == 2
    )  # and the leg IK bones
    everything = motion.frame_times(30)
    camera = frame_cameras(scene, everything, "fixed")[0]
    native_camera = dance_camera(motion)
    for field in ("centre_x", "centre_y", "eye_z", "near", "far"):
        assert getattr(camera, field) == pytest.approx(getattr(native_camera, field), abs=1e-5)
    convention = mmd_convention(scene.rest)  # the box of the bind-pose mesh, as the canonical box is ours
    vertices = build_character().vertices
    assert np.allclose(convention.box_min, vertices.min(axis=0), atol=2e-6) and np.allclose(
        convention.box_max, vertices.max(axis=0), atol=2e-6
    )
    times = everything[::24]
    native = list(dance_frames(motion, SIZE, 30, convention, times=times))
    imported = list(mmd_udp_frames(scene, times, SIZE, convention, framing=camera))
    agreement = _compare(native, imported)
    assert agreement["iou"] >= 0.999, agreement
    assert agreement["within_1e-4"] >= 0.999 and agreement["within_1/255"] >= 0.9995, agreement


def test_ik_driven_legs_land_where_the_dance_puts_the_feet(character_model):
    """No thigh or knee keys at all: CCD bends the legs so the ankles reach the IK bones."""
    motion, character = MOTIONS["step-and-clap"], build_character()
    scene = MmdScene(character_model, _motion("step-and-clap", "drive"))
    times = motion.frame_times(30)[::16]
    feet = [scene.rig.names.index(n) for n in ("左足首", "右足首")]
    for t, world in zip(times, scene.worlds(times * 30)):
        pose = motion.sample(t)
        native = character.skeleton.world_transforms(pose.rotations, pose.root_offset)
        ankles = native[[character.skeleton.index["foot.L"], character.skeleton.index["foot.R"]], :3, 3]
        assert np.abs(world[feet, :3, 3] - ankles).max() < 1e-4  # 0.1 mm
        knees = [scene.rig.names.index(n) for n in ("左ひざ", "右ひざ")]
        for knee in knees:  # hinges about x, bent forwards (negative), within MMD's limits
            relative = world[scene.rig.parents[knee], :3, :3].T @ world[knee, :3, :3]
            assert abs(relative[0, 1]) < 1e-9 and abs(relative[0, 2]) < 1e-9 and abs(relative[0, 0] - 1) < 1e-9
            assert np.arctan2(relative[2, 1], relative[1, 1]) <= np.radians(-0.5) + 1e-9
    convention = mmd_convention(scene.rest)
    native = list(dance_frames(motion, SIZE, 30, convention, times=times[::2]))
    imported = list(mmd_udp_frames(scene, times[::2], SIZE, convention, framing=dance_camera(motion)))
    agreement = _compare(native, imported)
    # The legs may twist a little differently (IK picks its own knee plane), the rest is the same.
    assert agreement["iou"] >= 0.97 and agreement["mean"] < 0.005, agreement


def test_the_characters_left_is_on_the_viewers_right(character_model):
    """MMD x is the character's own left; facing the camera it shows on the image's right, and UDP channel 0 grows with it."""
    scene = MmdScene(character_model, read_vmd(vmd_bytes([BoneKey("下半身", 0)]), "rest.vmd"))
    frame = next(mmd_udp_frames(scene, np.array([0.0]), SIZE, framing="fixed"))
    covered = frame[..., 3] > 0.5
    columns = np.nonzero(covered)[1]
    middle = (columns.min() + columns.max()) / 2
    left_side = covered & (frame[..., 0] > 0.6)
    right_side = covered & (frame[..., 0] < 0.4)
    assert np.nonzero(left_side)[1].mean() > middle + 5 and np.nonzero(right_side)[1].mean() < middle - 5
    rows = np.nonzero(covered)[0]
    assert (
        frame[rows.min(), :, 2].max() > 0.95 and frame[rows.max(), covered[rows.max()], 2].max() < 0.1
    )  # head 1, feet 0


def test_follow_framing_keeps_a_travelling_character_centred_and_sized(character_model):
    # The hips and both feet travel 4.8 m to the side and 3.2 m towards the camera (IK keeps planted feet otherwise).
    keys = [
        BoneKey(bone, frame, (60.0 * frame / 60, 0.0, -40.0 * frame / 60))
        for bone in ("下半身", "左足ＩＫ", "右足ＩＫ")
        for frame in (0, 60)
    ]
    scene = MmdScene(character_model, read_vmd(vmd_bytes(keys), "travel.vmd"))
    times = np.arange(0, 61, 6) / 30
    followed = list(mmd_udp_frames(scene, times, 128, framing="follow"))
    heights, centres = [], []
    for frame in followed:
        rows, columns = np.nonzero(frame[..., 3] > 0.5)
        heights.append(rows.max() - rows.min())
        centres.append(((columns.min() + columns.max()) / 2, (rows.min() + rows.max()) / 2))
    assert max(heights) - min(heights) <= 3 and min(heights) > 0.75 * 128  # same size, filling the frame
    assert np.abs(np.array(centres) - 64).max() < 8
    fixed = list(mmd_udp_frames(scene, times[[0, -1]], 128, framing="fixed"))
    assert all(
        (f[..., 3] > 0.5).sum() < 0.6 * (followed[0][..., 3] > 0.5).sum() for f in fixed
    )  # one camera for all: smaller


def test_hidden_and_double_sided_materials(tmp_path):
    # Three shallow square pyramids side by side, their faces wound to face away from the camera.
    quads, vertices = [], []
    for k in range(3):
        x = k * 3.0
        base = len(vertices)
        vertices += [[x, 0, 0], [x + 2, 0, 0], [x + 2, 2, 0], [x, 2, 0], [x + 1, 1, 0.3]]
        quads += [[base + i, base + (i + 1) % 4, base + 4] for i in range(4)]
    vertices = np.array(vertices, np.float64)
    ids = np.zeros((len(vertices), 4), int) - 1
    ids[:, 0] = 0
    weights = np.zeros((len(vertices), 4))
    weights[:, 0] = 1
    materials = [
        MaterialSpec("single", 12),
        MaterialSpec("double", 12, double_sided=True),
        MaterialSpec("hidden", 12, alpha=0.0, double_sided=True),
    ]
    spec = PmxSpec(vertices, np.array(quads), [BoneSpec("センター", (0, 0, 0))], ids, weights, materials=materials)
    scene = MmdScene(read_pmx(pmx_bytes(spec), "quads.pmx"), read_vmd(vmd_bytes([BoneKey("センター", 0)]), "still.vmd"))
    assert scene.rest[:, 0].max() == pytest.approx(5 * 0.08)  # the hidden pyramid is not part of the canonical box
    frame = next(mmd_udp_frames(scene, np.array([0.0]), 96, framing="fixed"))
    columns = np.nonzero(frame[..., 3] > 0.5)[1]
    # The camera frames x from 0 to 5 (the hidden one is left out); only the double-sided pyramid (x 3 to 5) shows.
    assert len(columns) > 500 and columns.min() > 48
    spec.triangles = np.array(quads)[:, ::-1]  # turned towards the camera: the single-sided one shows too
    scene = MmdScene(read_pmx(pmx_bytes(spec), "quads.pmx"), read_vmd(vmd_bytes([BoneKey("センター", 0)]), "still.vmd"))
    frame = next(mmd_udp_frames(scene, np.array([0.0]), 96, framing="fixed"))
    columns = np.nonzero(frame[..., 3] > 0.5)[1]
    assert columns.min() < 20 and columns.max() > 76 and len(columns) > 2 * 500


def test_udp_from_mmd_writes_frames_with_limits(tmp_path):
    model_zip = tmp_path / "model.zip"
    with zipfile.ZipFile(model_zip, "w") as archive:
        archive.writestr("feature/model.pmx", pmx_bytes(feature_spec()))
        archive.writestr("feature/tex/肌.png", b"\x89PNG")
    motion = tmp_path / "dance.vmd"
    motion.write_bytes(feature_motion_bytes())  # 21 frames = 0.7 s
    calls = []
    frames = udp_from_mmd(
        model_zip,
        motion,
        out=tmp_path / "udp.zip",
        size=64,
        fps=30,
        progress=lambda s, d, t: calls.append((d, t)),
        exr_dir=tmp_path / "exr",
    )
    assert len(frames) == 21 and calls[-1] == (21, 21) and frames[0].shape == (64, 64, 4)
    assert sorted(p.name for p in (tmp_path / "exr").iterdir())[:2] == ["00000.exr", "00001.exr"]
    assert np.allclose(open_udp_sequence(tmp_path / "exr")[5], frames[5], atol=1e-7)  # float EXR, lossless
    assert (
        len(udp_from_mmd(model_zip, motion, out=tmp_path / "half.zip", size=64, fps=15, fmt="png")) == 11
    )  # 0.7 s at 15 fps
    with pytest.raises(InputError, match=r"'dance.vmd' lasts 0.7 s, over the limit of 0.5 s"):
        udp_from_mmd(model_zip, motion, out=tmp_path / "no.zip", size=64, limits=Limits(max_frames=15))
    trimmed = udp_from_mmd(
        model_zip, motion, out=tmp_path / "trim.zip", size=64, max_seconds=0.2, limits=Limits(max_frames=15)
    )
    assert len(trimmed) == 6
    with pytest.raises(InputError, match="size 10"):
        udp_from_mmd(model_zip, motion, size=10)


def test_start_offset_skips_the_intro(tmp_path):
    """Frame k from ``start`` is frame k + start * fps of the whole motion; the length counts from the start."""
    from conr.mmd.to_udp import frame_times
    from conr.render3d.camera import Camera

    (tmp_path / "m.pmx").write_bytes(pmx_bytes(feature_spec()))
    (tmp_path / "dance.vmd").write_bytes(feature_motion_bytes())  # keys at frames 0 to 20
    motion = read_vmd(feature_motion_bytes(), "dance.vmd")
    assert np.allclose(frame_times(motion, 30, None, Limits(), 0.2), np.arange(6, 21) / 30)
    assert np.allclose(frame_times(motion, 15, 0.1, Limits(), 0.2), [0.2, 0.2 + 1 / 15])  # max_seconds from the start
    assert np.allclose(frame_times(motion, 15, 9.0, Limits(), 0.5), 0.5 + np.arange(3) / 15)  # only to the last key
    assert np.allclose(frame_times(motion, 30, None, Limits(), 2 / 3), [2 / 3])  # the last key itself
    camera = Camera(0.0, 0.6, -4.0, 0.5, 8.0)
    whole = udp_from_mmd(tmp_path / "m.pmx", tmp_path / "dance.vmd", out=tmp_path / "all.zip", size=64, framing=camera)
    late = udp_from_mmd(
        tmp_path / "m.pmx",
        tmp_path / "dance.vmd",
        out=tmp_path / "late.zip",
        size=64,
        framing=camera,
        start=0.2,
        max_seconds=0.2,
    )
    assert len(whole) == 21 and len(late) == 6
    for k in range(6):
        assert np.array_equal(late[k], whole[k + 6])
    assert not np.array_equal(late[0], whole[0])
    with pytest.raises(InputError, match=r"start 5 s is past the end of 'dance.vmd' \(its last key is at 0.7 s\)"):
        udp_from_mmd(tmp_path / "m.pmx", tmp_path / "dance.vmd", size=64, start=5)
    with pytest.raises(InputError, match="start must be a number of seconds"):
        udp_from_mmd(tmp_path / "m.pmx", tmp_path / "dance.vmd", size=64, start=-1)
    with pytest.raises(InputError, match=r"'dance.vmd' lasts 0.4 s from 0.3 s on, over the limit of 0.3 s"):
        udp_from_mmd(tmp_path / "m.pmx", tmp_path / "dance.vmd", size=64, start=0.3, limits=Limits(max_frames=9))
    fixed = udp_from_mmd(
        tmp_path / "m.pmx", tmp_path / "dance.vmd", out=tmp_path / "fixed.zip", size=64, framing="fixed", start=0.5
    )
    assert len(fixed) == 6 and all((f[..., 3] > 0.5).any() for f in fixed)


def test_motions_that_cannot_move_the_model_are_refused(tmp_path):
    model = pmx_bytes(feature_spec())
    (tmp_path / "m.pmx").write_bytes(model)
    (tmp_path / "camera.vmd").write_bytes(vmd_bytes([], camera_keys=4))
    with pytest.raises(InputError, match="holds no bone keys.*4 camera keys"):
        udp_from_mmd(tmp_path / "m.pmx", tmp_path / "camera.vmd", size=64)
    (tmp_path / "other.vmd").write_bytes(vmd_bytes([BoneKey("Bip01 Pelvis", 0), BoneKey("Bip01 Spine", 3)]))
    with pytest.raises(InputError, match="None of the bones 'other.vmd' animates .Bip01 Pelvis, Bip01 Spine"):
        udp_from_mmd(tmp_path / "m.pmx", tmp_path / "other.vmd", size=64)


def _face_model() -> bytes:
    """Centre, head, both eyes (below the head) and a hair bone; one triangle on each."""
    names = [
        ("センター", (0, 8, 0), -1),
        ("頭", (0, 16, 0), 0),
        ("両目", (0, 17, -1), 1),
        ("左目", (0.5, 17, -1), 2),
        ("髪", (0, 18, 1), 1),
    ]
    bones = [BoneSpec(name, position, parent) for name, position, parent in names]
    vertices = np.array(
        [[x + dx, y + dy, z] for _, (x, y, z), _ in names for dx, dy in ((0, 0), (1, 0), (0, 1))], np.float64
    )
    ids = np.full((len(vertices), 4), -1)
    ids[:, 0] = np.repeat(np.arange(len(names)), 3)
    weights = np.zeros((len(vertices), 4))
    weights[:, 0] = 1.0
    return pmx_bytes(PmxSpec(vertices, np.arange(len(vertices)).reshape(-1, 3), bones, ids, weights))


def test_facial_motions_are_refused(tmp_path):
    """Morph keys, eye keys, a still centre key: nothing moves the body, so say so rather than render a statue."""
    (tmp_path / "face.pmx").write_bytes(_face_model())
    (tmp_path / "m.pmx").write_bytes(pmx_bytes(feature_spec()))
    look = (np.cos(0.2), 0.0, np.sin(0.2), 0.0)
    motions = {
        "blink.vmd": vmd_bytes([], morph_keys=7),
        "eyes.vmd": vmd_bytes(
            [BoneKey("両目", 0), BoneKey("両目", 10, rotation=look), BoneKey("センター", 0)], morph_keys=3
        ),
        "hair.vmd": vmd_bytes([BoneKey("左目", 5, rotation=look), BoneKey("髪", 5, rotation=look)]),
    }
    for name, data in motions.items():
        (tmp_path / name).write_bytes(data)
    with pytest.raises(
        InputError, match=r"^'blink.vmd' has expression keys only \(7 morph keys, no bone keys\); pick a dance motion"
    ):
        udp_from_mmd(tmp_path / "face.pmx", tmp_path / "blink.vmd", size=64)
    with pytest.raises(
        InputError, match=r"'eyes.vmd' has expression keys only \(3 morph keys, bone keys only for the face: 両目\)"
    ):
        udp_from_mmd(tmp_path / "face.pmx", tmp_path / "eyes.vmd", size=64)
    with pytest.raises(
        InputError, match=r"'hair.vmd' has expression keys only \(0 morph keys, bone keys only for the face: 左目, 髪\)"
    ):
        udp_from_mmd(tmp_path / "face.pmx", tmp_path / "hair.vmd", size=64)
    with pytest.raises(InputError, match=r"'eyes.vmd' has expression keys only .*両目"):  # the model has no eye bones
        udp_from_mmd(tmp_path / "m.pmx", tmp_path / "eyes.vmd", size=64)
    # The same keys with a turn of the centre make a (tiny) dance.
    (tmp_path / "nod.vmd").write_bytes(
        vmd_bytes([BoneKey("両目", 10, rotation=look), BoneKey("センター", 10, rotation=look)], morph_keys=3)
    )
    assert len(udp_from_mmd(tmp_path / "face.pmx", tmp_path / "nod.vmd", out=tmp_path / "nod.zip", size=64)) == 11


def test_cli_udp_from_mmd(tmp_path, capsys):
    from conr.cli import main

    (tmp_path / "model.pmx").write_bytes(pmx_bytes(feature_spec()))
    (tmp_path / "dance.vmd").write_bytes(feature_motion_bytes())
    out = tmp_path / "udp.zip"
    code = main(
        [
            "udp-from-mmd",
            str(tmp_path / "model.pmx"),
            str(tmp_path / "dance.vmd"),
            "--out",
            str(out),
            "--size",
            "64",
            "--start",
            "0.1",
            "--max-seconds",
            "0.3",
            "--format",
            "exr",
            "--preview",
            str(tmp_path / "preview.mp4"),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "9 bones, 1 IK chains" in captured.err and "4 bone tracks, 4 match the model" in captured.err
    assert len(open_udp_sequence(out)) == 9 and zipfile.ZipFile(out).namelist()[0] == "00000.exr"
    assert (tmp_path / "preview.mp4").stat().st_size > 0
    (tmp_path / "broken.pmx").write_bytes(pmx_bytes(feature_spec())[:300])
    code = main(
        ["udp-from-mmd", str(tmp_path / "broken.pmx"), str(tmp_path / "dance.vmd"), "--out", str(tmp_path / "x.zip")]
    )
    captured = capsys.readouterr()
    assert (
        code == 2
        and captured.err.startswith("error: 'broken.pmx' is not a usable PMX model")
        and "Traceback" not in captured.err
    )


@pytest.mark.parametrize("interrupt", [RuntimeError, KeyboardInterrupt])
def test_failed_conversion_leaves_no_partial_zip(tmp_path, monkeypatch, interrupt):
    """A conversion that stops midway (an error, Ctrl-C) leaves neither a partial zip nor its EXRs; an older out stays."""
    import tempfile

    (tmp_path / "m.pmx").write_bytes(pmx_bytes(feature_spec()))
    (tmp_path / "dance.vmd").write_bytes(feature_motion_bytes())
    out = tmp_path / "out" / "udp.zip"
    out.parent.mkdir()
    out.write_bytes(b"an older conversion")

    def stop_at_frame_5(stage: str, done: int, total: int) -> None:
        if done == 5:
            raise interrupt("stop")

    with pytest.raises(interrupt):
        udp_from_mmd(
            tmp_path / "m.pmx",
            tmp_path / "dance.vmd",
            out=out,
            size=64,
            progress=stop_at_frame_5,
            exr_dir=tmp_path / "exr",
        )
    assert sorted(p.name for p in out.parent.iterdir()) == ["udp.zip"] and out.read_bytes() == b"an older conversion"
    assert list((tmp_path / "exr").iterdir()) == []
    # without out: the temporary file it made is deleted too
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    with pytest.raises(interrupt):
        udp_from_mmd(tmp_path / "m.pmx", tmp_path / "dance.vmd", size=64, progress=stop_at_frame_5)
    assert list((tmp_path / "tmp").iterdir()) == []
    # and a finished conversion replaces the older file in one step, leaving nothing beside it
    frames = udp_from_mmd(tmp_path / "m.pmx", tmp_path / "dance.vmd", out=out, size=64, max_seconds=0.1)
    assert len(frames) == 3 and sorted(p.name for p in out.parent.iterdir()) == ["udp.zip"]
