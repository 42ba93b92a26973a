"""`python -m conr render` end to end: real files in, a real MP4 and PNG frames out."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import FIXTURES, ROOT
from conr.udp import read_udp, write_udp
from conr.video import probe_video


def run_cli(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "conr", *args], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def pose_dir(tmp_path_factory) -> Path:
    """Three 512x512 frames in natural order: a real pose, an empty one, the pose as EXR without suffix."""
    folder = tmp_path_factory.mktemp("poses")
    frame = read_udp(FIXTURES / "inputs" / "poses" / "1.npz")
    shutil.copy(FIXTURES / "inputs" / "poses" / "1.npz", folder / "2.npz")  # first: 2 sorts before 10
    write_udp(folder / "10.npz", np.zeros_like(frame))  # no body: transparent frame
    write_udp(folder / "11.exr", frame)
    (folder / "11.exr").rename(folder / "0011")  # the MMD-to-UDP tool's naming
    return folder


def test_render_mp4_and_frames(recipe_weights_dir, fixture_sheet, pose_dir, tmp_path):
    out = tmp_path / "dance.mp4"
    frames_dir = tmp_path / "frames"
    result = run_cli(
        "render", "--sheet", *map(str, fixture_sheet), "--poses", str(pose_dir), "--out", str(out),
        "--frames-dir", str(frames_dir), "--weights", str(recipe_weights_dir), "--device", "cpu",
        "--background", "#102030",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "rendered 3 frames" in result.stderr

    info = probe_video(out)
    assert (info.codec, info.pix_fmt, info.width, info.height, info.frames) == ("h264", "yuv420p", 512, 512, 3)
    if shutil.which("ffprobe"):  # an independent reader agrees
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
             "stream=codec_name,pix_fmt,width,height,nb_read_frames", "-of", "csv=p=0", str(out)],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        assert probe == "h264,512,512,yuv420p,3"
    data = out.read_bytes()
    assert 0 < data.find(b"moov") < data.find(b"mdat"), "faststart: the index (moov) precedes the media (mdat)"

    names = sorted(p.name for p in frames_dir.iterdir())
    assert names == ["00000.png", "00001.png", "00002.png"]
    pngs = [np.asarray(Image.open(frames_dir / n)) for n in names]
    assert all(p.shape == (512, 512, 4) for p in pngs)
    assert pngs[1].max() == 0, "the empty pose renders fully transparent"
    assert pngs[0][:, :, 3].max() > 0
    # the EXR frame holds the same pose as the first: same render
    assert np.abs(pngs[0].astype(int) - pngs[2].astype(int)).max() <= 1
    # and the first is the original implementation's frame 1, within one level
    original = np.asarray(Image.open(FIXTURES / "expected" / "1.png")).astype(np.int32)
    alpha = pngs[0][:, :, 3].astype(np.int32)
    assert np.abs(alpha - original[:, :, 3]).max() <= 1
    assert np.abs(np.rint(pngs[0][:, :, :3] * alpha[:, :, None] / 255.0) - original[:, :, :3]).max() <= 1


def bad_cli(*args: str, **kwargs) -> str:
    result = run_cli(*args, **kwargs)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return result.stderr


def test_cli_refuses_opaque_sheet_image(recipe_weights_dir, fixture_poses, tmp_path):
    opaque = tmp_path / "photo.jpg"
    Image.new("RGB", (300, 400), (200, 50, 50)).save(opaque)
    err = bad_cli("render", "--sheet", str(opaque), "--poses", str(fixture_poses[0]), "--out", str(tmp_path / "x.mp4"),
                  "--weights", str(recipe_weights_dir))  # fmt: skip
    assert "photo.jpg" in err and "no transparent pixels" in err and "Remove the background" in err
    assert not (tmp_path / "x.mp4").exists()


def test_cli_refuses_bad_pose_frame(recipe_weights_dir, fixture_sheet, tmp_path):
    folder = tmp_path / "poses"
    folder.mkdir()
    np.savez(folder / "0.npz", i=np.full((64, 64, 3), 0.5, np.float32))
    err = bad_cli("render", "--sheet", str(fixture_sheet[0]), "--poses", str(folder), "--out", str(tmp_path / "x.mp4"),
                  "--weights", str(recipe_weights_dir))  # fmt: skip
    assert "UDP frame '0.npz' has 3 channels" in err


def test_cli_refuses_missing_weights_file(fixture_sheet, fixture_poses, tmp_path):
    weights = tmp_path / "weights"
    weights.mkdir()
    for name in ("udpparsernet.pth", "target_pose_encoder.pth", "rgbadecodernet.pth"):
        (weights / name).write_bytes(b"x")
    err = bad_cli("render", "--sheet", str(fixture_sheet[0]), "--poses", str(fixture_poses[0]), "--out",
                  str(tmp_path / "x.mp4"), "--weights", str(weights))  # fmt: skip
    assert "is missing shader.pth" in err


def test_cli_refuses_empty_pose_folder(recipe_weights_dir, fixture_sheet, tmp_path):
    (tmp_path / "none").mkdir()
    err = bad_cli("render", "--sheet", str(fixture_sheet[0]), "--poses", str(tmp_path / "none"), "--out",
                  str(tmp_path / "x.mp4"), "--weights", str(recipe_weights_dir))  # fmt: skip
    assert "holds no UDP frames" in err
