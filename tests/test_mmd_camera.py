"""MMD camera motion: camera keys read back, eased per channel, and the character framed as the camera shows it."""

from __future__ import annotations

import numpy as np
import pytest
from mmd_writers import BoneKey, CameraKey, character_spec, feature_motion_bytes, feature_spec, pmx_bytes, vmd_bytes

from conr.errors import InputError
from conr.mmd import udp_from_mmd
from conr.mmd.camera import camera_rotation, camera_views, sample_camera
from conr.mmd.interpolation import bezier_ease
from conr.mmd.pmx import read_pmx
from conr.mmd.to_udp import MmdScene, mmd_convention, mmd_udp_frames
from conr.mmd.vmd import read_vmd
from conr.render3d.camera import Camera
from conr.render3d.frames import render_udp

SIZE = 96
EASE = (90, 10, 30, 120)


@pytest.fixture(autouse=True)
def _no_saved_calibration(monkeypatch):
    monkeypatch.setenv("CONR_UDP_CALIBRATION", "off")


@pytest.fixture(scope="module")
def character_scene():
    from conr.dances.character import build_character

    model = read_pmx(pmx_bytes(character_spec(build_character(), ik=False)), "character.pmx")
    return MmdScene(model, read_vmd(vmd_bytes([BoneKey("下半身", 0)]), "still.vmd"))


def test_camera_keys_read_back():
    keys = [
        CameraKey(
            30, -20.0, (1.0, 12.0, -2.0), (0.1, -0.5, 0.25), 45, (LINEAR := (20, 20, 107, 107),) * 4 + (EASE, LINEAR)
        ),
        CameraKey(0),
        CameraKey(30, -25.0, orthographic=True),
    ]
    motion = read_vmd(vmd_bytes([BoneKey("センター", 0)], cameras=keys), "camera.vmd")
    track = motion.camera
    assert motion.counts["camera"] == 3 and track.frames.tolist() == [0, 30]  # sorted; the later duplicate wins
    assert track.distances.tolist() == [-45.0, -25.0] and track.orthographic.tolist() == [False, True]
    keys[2] = keys[0]
    track = read_vmd(vmd_bytes([], cameras=keys), "camera.vmd").camera
    assert track.targets[1].tolist() == [1.0, 12.0, -2.0] and track.angles[1] == pytest.approx([0.1, -0.5, 0.25])
    assert track.view_angles.tolist() == [30.0, 45.0]
    assert track.curves[1, 4].tolist() == list(EASE) and track.curves[1, 0].tolist() == list(
        LINEAR
    )  # (x1, y1, x2, y2) per channel
    assert read_vmd(feature_motion_bytes(), "feature.vmd").camera.frames.tolist() == [0, 1]
    assert read_vmd(vmd_bytes([BoneKey("センター", 0)]), "none.vmd").camera is None


def test_camera_key_refusals():
    for key, message in [
        (CameraKey(0, view_angle=0), "view angle of 0 degrees"),
        (CameraKey(4, distance=np.nan), r"camera key 0 \(frame 4\)"),
        (CameraKey(0, target=(1e9, 0, 0)), "absurdly far"),
    ]:
        with pytest.raises(InputError, match=f"'bad.vmd' is not a usable VMD motion: .*{message}"):
            read_vmd(vmd_bytes([], cameras=[key]), "bad.vmd")


def test_camera_channels_ease_with_the_later_keys_curves():
    keys = [
        CameraKey(10, -30.0, (0.0, 10.0, 0.0), (0.0, 0.0, 0.0), 30),
        CameraKey(40, -60.0, (6.0, 13.0, -3.0), (0.3, 0.6, -0.9), 60, (EASE,) * 6),
    ]
    track = read_vmd(vmd_bytes([], cameras=keys), "camera.vmd").camera
    frames = np.array([0.0, 10.0, 17.5, 25.0, 39.0, 40.0, 99.0])
    targets, distances, angles, views = sample_camera(track, frames)
    x = np.clip((frames - 10) / 30, 0, 1)
    eased = bezier_ease(np.array(EASE), x)  # the later key's curve
    assert np.allclose(distances, 0.08 * (-30 + (-30) * eased))
    assert np.allclose(targets, 0.08 * (np.array([0, 10, 0]) + np.outer(eased, [6, 3, -3])))
    assert np.allclose(angles, np.outer(eased, [0.3, 0.6, -0.9])) and np.allclose(views, 30 + 30 * eased)
    assert eased[2] != pytest.approx(x[2], abs=0.02)  # really eased, not linear
    linear = read_vmd(vmd_bytes([], cameras=[keys[0], CameraKey(40, -60.0)]), "linear.vmd").camera
    assert np.allclose(sample_camera(linear, frames)[1], 0.08 * (-30 - 30 * x))


def test_camera_geometry():
    """No rotation: in front, looking at the target along +z. Yaw +90 degrees: on the character's left (+x), looking back at it."""
    rotation = camera_rotation(np.array([[0.0, 0.0, 0.0], [0.0, np.pi / 2, 0.0], [0.3, 0.0, 0.0], [0.0, 0.0, 0.4]]))
    assert np.allclose(rotation[0], np.eye(3))
    assert np.allclose(rotation[1][:, 2], [-1, 0, 0]) and np.allclose(rotation[1][:, 1], [0, 1, 0])
    assert np.allclose(
        rotation[2][:, 2], [0, np.sin(0.3), np.cos(0.3)]
    )  # x turns the view up or down, about the x axis
    assert np.allclose(rotation[3][:, 2], [0, 0, 1]) and np.allclose(
        rotation[3][:, 1], [np.sin(0.4), np.cos(0.4), 0]
    )  # z rolls
    track = read_vmd(
        vmd_bytes([], cameras=[CameraKey(0, -45.0, (1.0, 10.0, 2.0), (0.0, np.pi / 2, 0.0), 40)]), "c.vmd"
    ).camera
    view = camera_views(track, np.array([0.0]))[0]
    assert np.allclose(view.eye, 0.08 * np.array([1 + 45, 10, 2])) and view.fov_degrees == 40.0
    assert np.allclose(
        view.to_camera(0.08 * np.array([[1.0, 10.0, 2.0]])), [[0, 0, 45 * 0.08]]
    )  # the target, straight ahead


def test_the_default_camera_sees_what_our_level_camera_sees(character_scene):
    scene = character_scene
    world = next(scene.worlds(np.array([0.0])))
    positions = scene.positions(world)
    convention = mmd_convention(scene.rest)
    view = camera_views(
        read_vmd(vmd_bytes([], cameras=[CameraKey(0, -30.0, (0.0, 10.0, 0.0))]), "c.vmd").camera, [0.0]
    )[0]
    ours = render_udp(
        positions, scene.rest, scene.triangles, scene.part_ids, Camera(0.0, 0.8, -2.4, 1.5, 4.0), SIZE, convention
    )
    theirs = view.render(positions, scene.rest, scene.triangles, scene.part_ids, SIZE, convention)
    covered = ours[..., 3] > 0.5
    assert covered.sum() > 800 and np.array_equal(covered, theirs[..., 3] > 0.5)
    assert np.abs(ours - theirs).max() < 1e-5


def test_camera_motion_frames_the_dance(tmp_path, character_scene):
    """A camera that orbits to the character's left, zooms in and ends in a close-up with the camera inside the body."""
    scene = character_scene
    cameras = [
        CameraKey(0, -30.0, (0.0, 10.0, 0.0)),
        CameraKey(20, -30.0, (0.0, 10.0, 0.0), (0.0, np.pi / 2, 0.0)),
        CameraKey(40, -12.0, (0.0, 16.0, 0.0), (0.0, np.pi / 2, 0.0), curves=((20, 20, 107, 107),) * 4 + (EASE, EASE)),
        CameraKey(50, 1.0, (0.0, 10.0, 0.0)),
    ]
    track = read_vmd(vmd_bytes([], cameras=cameras), "orbit.vmd").camera
    times = np.array([0, 20, 40, 50]) / 30
    frames = list(mmd_udp_frames(scene, times, SIZE, framing="camera", camera_track=track))
    front, side, close, inside = ([f[..., 3] > 0.5 for f in frames], frames)[0]
    assert front.sum() > 500 and side.sum() > 300
    assert frames[1][..., 0][side].mean() > 0.6  # from its left we see its left side (channel 0 grows to its left)
    assert frames[0][..., 0][front].mean() == pytest.approx(0.5, abs=0.1)
    assert close.sum() > 2 * side.sum()  # zoomed in on the head
    assert np.isfinite(frames[3]).all()  # the camera inside the body: what is behind it is left out, no error
    # The whole path: a camera .vmd next to a dance.
    (tmp_path / "model.pmx").write_bytes(pmx_bytes(feature_spec()))
    (tmp_path / "dance.vmd").write_bytes(feature_motion_bytes())
    (tmp_path / "orbit.vmd").write_bytes(vmd_bytes([], cameras=cameras))
    poses = udp_from_mmd(
        tmp_path / "model.pmx", tmp_path / "dance.vmd", out=tmp_path / "udp.zip", size=64, camera=tmp_path / "orbit.vmd"
    )
    assert len(poses) == 21 and any((poses[k][..., 3] > 0.5).any() for k in range(21))
    own = udp_from_mmd(
        tmp_path / "model.pmx",
        tmp_path / "dance.vmd",
        out=tmp_path / "own.zip",
        size=64,
        framing="camera",
        max_seconds=0.1,
    )
    assert len(own) == 3  # the dance's own (default) camera keys
    (tmp_path / "bare.vmd").write_bytes(vmd_bytes([BoneKey("センター", 0), BoneKey("センター", 20, (1.0, 0.0, 0.0))]))
    with pytest.raises(InputError, match="'bare.vmd' has no camera keys to frame the dance with"):
        udp_from_mmd(tmp_path / "model.pmx", tmp_path / "bare.vmd", size=64, framing="camera")
    with pytest.raises(InputError, match=r"'bare.vmd' holds no camera keys \(2 bone keys\)"):
        udp_from_mmd(tmp_path / "model.pmx", tmp_path / "dance.vmd", size=64, camera=tmp_path / "bare.vmd")


def test_cli_camera(tmp_path, capsys):
    from conr.cli import main

    (tmp_path / "model.pmx").write_bytes(pmx_bytes(feature_spec()))
    (tmp_path / "dance.vmd").write_bytes(feature_motion_bytes())
    (tmp_path / "camera.vmd").write_bytes(
        vmd_bytes([], cameras=[CameraKey(0, -20.0, (0.0, 8.0, 0.0)), CameraKey(20, -20.0, angles=(0.0, 1.0, 0.0))])
    )
    common = [
        "udp-from-mmd",
        str(tmp_path / "model.pmx"),
        str(tmp_path / "dance.vmd"),
        "--size",
        "64",
        "--max-seconds",
        "0.2",
    ]
    assert main(common + ["--out", str(tmp_path / "a.zip"), "--camera", str(tmp_path / "camera.vmd")]) == 0
    assert main(common + ["--out", str(tmp_path / "b.zip"), "--framing", "camera"]) == 0
    capsys.readouterr()
    assert main(common + ["--out", str(tmp_path / "c.zip"), "--camera", str(tmp_path / "model.pmx")]) == 2
    assert "'model.pmx' is not a usable VMD motion" in capsys.readouterr().err
    from conr.udp import open_udp_sequence

    a, b = open_udp_sequence(tmp_path / "a.zip"), open_udp_sequence(tmp_path / "b.zip")
    assert len(a) == len(b) == 6 and not np.array_equal(a[5], b[5])
