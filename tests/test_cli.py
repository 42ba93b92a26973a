"""`python -m conr render` end to end: real files in, a real MP4 and PNG frames out."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, ROOT
from PIL import Image

from conr.udp import read_udp, write_udp
from conr.video import probe_video


def run_cli(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "conr", *args], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout
    )


#: A render that is exact on this CPU: parity with the original (the default, auto, may pick bfloat16).
EXACT_CPU = ("--device", "cpu", "--dtype", "float32")


def render_args(
    sheet: Path | list[Path], out: Path, weights: Path, *flags: str, poses: Path | None = None
) -> list[str]:
    """The words of `python -m conr render`: the drawing(s), the output and the weights, the poses (a UDP file or
    folder) unless ``flags`` name another source, then the flags."""
    sheet = [sheet] if isinstance(sheet, Path) else sheet
    source = ["--poses", str(poses)] if poses is not None else []
    return ["render", "--sheet", *map(str, sheet), *source, "--out", str(out), "--weights", str(weights), *flags]


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
    out = tmp_path / "new" / "folder" / "dance.mp4"  # missing folders are made, as every writer does
    frames_dir = tmp_path / "frames"
    flags = ("--frames-dir", str(frames_dir), "--background", "#102030", *EXACT_CPU)
    result = run_cli(*render_args(fixture_sheet, out, recipe_weights_dir, *flags, poses=pose_dir))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "rendered 3 frames" in result.stderr

    info = probe_video(out)
    assert (info.codec, info.pix_fmt, info.width, info.height, info.frames) == ("h264", "yuv420p", 512, 512, 3)
    if shutil.which("ffprobe"):  # an independent reader agrees
        probe = subprocess.run(
            [
                "ffprobe",
                "-v",
                "error",
                "-select_streams",
                "v:0",
                "-count_frames",
                "-show_entries",
                "stream=codec_name,pix_fmt,width,height,nb_read_frames",
                "-of",
                "csv=p=0",
                str(out),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
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


def test_render_chooses_the_precision_by_default_and_says_which(
    tiny_renderer, recipe_weights_dir, fixture_sheet, fixture_poses, tmp_path
):
    """--dtype auto is the default: the choice (here read from a cache this test writes, so nothing is measured) is printed."""
    import copy

    from conr.precision import (
        MAX_P999_LEVELS,
        MIN_PSNR_DB,
        Measurement,
        PrecisionChoice,
        Quality,
        _write_cache,
        cache_key,
        native_precisions,
    )
    from conr.weights import resolve_weights

    renderer = copy.copy(tiny_renderer)  # keyed as the CLI's renderer is: its device and the recipe files
    renderer.weights = resolve_weights(recipe_weights_dir)
    candidates = native_precisions(renderer.device)
    if candidates:  # a measurement in which the reduced precision was slower: float32 stays
        measured = [
            Measurement("float32", 1.0, Quality(float("inf"), 0.0, 0.0)),
            Measurement(candidates[0], 2.0, Quality(45.0, 0.5, 4.0)),
        ]
        _write_cache(
            tmp_path / "precision.json",
            cache_key(renderer, candidates, MIN_PSNR_DB, MAX_P999_LEVELS),
            PrecisionChoice("float32", measured),
        )
    args = render_args(
        fixture_sheet[0], tmp_path / "x.mp4", recipe_weights_dir, "--device", "cpu", poses=fixture_poses[0]
    )
    result = run_cli(*args, env={"CONR_CACHE_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "precision: float32" in result.stderr
    assert (
        ("cached on the reference input" in result.stderr)
        if candidates
        else ("computes no reduced precision" in result.stderr)
    )
    assert "rendered 1 frames" in result.stderr


#: A weights folder that does not exist: the inputs are refused before any weight is looked at.
NO_WEIGHTS = Path("/nonexistent/conr-weights")


def bad_cli(*args: str, **kwargs) -> str:
    result = run_cli(*args, **kwargs)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return result.stderr


def test_cli_refuses_opaque_sheet_image(fixture_poses, tmp_path):
    opaque = tmp_path / "photo.jpg"
    Image.new("RGB", (300, 400), (200, 50, 50)).save(opaque)
    err = bad_cli(*render_args(opaque, tmp_path / "x.mp4", NO_WEIGHTS, poses=fixture_poses[0]))
    assert "photo.jpg" in err and "no transparent pixels" in err and "Remove the background" in err
    assert not (tmp_path / "x.mp4").exists()


def test_cli_refuses_bad_pose_frame(fixture_sheet, tmp_path):
    folder = tmp_path / "poses"
    folder.mkdir()
    np.savez(folder / "0.npz", i=np.full((64, 64, 3), 0.5, np.float32))
    err = bad_cli(*render_args(fixture_sheet[0], tmp_path / "x.mp4", NO_WEIGHTS, poses=folder))
    assert "UDP frame '0.npz' has 3 channels" in err


def test_cli_refuses_missing_weights_file(fixture_sheet, fixture_poses, tmp_path):
    weights = tmp_path / "weights"
    weights.mkdir()
    for name in ("udpparsernet.pth", "target_pose_encoder.pth", "rgbadecodernet.pth"):
        (weights / name).write_bytes(b"x")
    err = bad_cli(*render_args(fixture_sheet[0], tmp_path / "x.mp4", weights, poses=fixture_poses[0]))
    assert "is missing shader.pth" in err


def test_cli_refuses_empty_pose_folder(fixture_sheet, tmp_path):
    (tmp_path / "none").mkdir()
    err = bad_cli(*render_args(fixture_sheet[0], tmp_path / "x.mp4", NO_WEIGHTS, poses=tmp_path / "none"))
    assert "holds no UDP frames" in err


# ---------------------------------------------------------------- bad flags and paths: one line, status 2, no weights read


@pytest.fixture
def no_weights(tmp_path) -> Path:
    """An empty weights folder: a command that got as far as loading weights would fail on it with 'is missing'."""
    folder = tmp_path / "no-weights"
    folder.mkdir()
    return folder


@pytest.fixture
def read_only_dir(tmp_path) -> Path:
    """A folder nobody may write into (as root, permission bits do not stop writes: /sys does)."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        (folder / "probe").touch()
    except OSError:
        return folder
    (folder / "probe").unlink()
    if Path("/sys").is_dir() and not _writable(Path("/sys")):
        return Path("/sys")
    pytest.skip("no read-only folder available")


def _writable(folder: Path) -> bool:
    try:
        (folder / "conr-probe").touch()
    except OSError:
        return False
    (folder / "conr-probe").unlink()
    return True


RENDER_FLAGS = [
    (["--fps", "0"], "argument --fps: Frames per second must be between 1 and 60, not 0."),
    (["--fps", "-5"], "argument --fps: Frames per second must be between 1 and 60, not -5."),
    (["--fps", "61"], "argument --fps: Frames per second must be between 1 and 60, not 61."),
    (["--fps", "nan"], "argument --fps: 'nan' is not a frame rate"),
    (["--device", "gpu2"], "argument --device: 'gpu2' is not a device: use cpu, cuda, cuda:N"),
    (["--size", "-100"], "argument --size: -100 pixels is out of range: use 8 to 4096"),
    (["--size", "big"], "argument --size: 'big' is not a whole number of pixels"),
    (["--max-frames", "-1"], "argument --max-frames: -1 is not allowed: use a whole number of at least 1"),
    (["--batch-size", "0"], "argument --batch-size: 0 is not allowed"),
]


@pytest.mark.parametrize("flags,message", RENDER_FLAGS, ids=[" ".join(f) for f, _ in RENDER_FLAGS])
def test_render_refuses_bad_flags(flags, message, fixture_sheet, fixture_poses, no_weights, tmp_path):
    err = bad_cli(*render_args(fixture_sheet[0], tmp_path / "x.mp4", no_weights, *flags, poses=fixture_poses[0]))
    assert message in err and "--help" in err
    assert not (tmp_path / "x.mp4").exists()


def test_render_refuses_bad_paths(fixture_sheet, fixture_poses, no_weights, read_only_dir, tmp_path):
    sheet, pose = str(fixture_sheet[0]), str(fixture_poses[0])

    def render(*args: str) -> str:
        return bad_cli("render", "--weights", str(no_weights), "--device", "cpu", *args)

    err = render("--sheet", str(fixture_sheet[0].parent), "--poses", pose, "--out", str(tmp_path / "x.mp4"))
    assert f"argument --sheet: {fixture_sheet[0].parent} is a folder: give the file(s) inside it" in err
    err = render("--sheet", sheet, "--poses", str(tmp_path / "nope.zip"), "--out", str(tmp_path / "x.mp4"))
    assert f"argument --poses: {tmp_path / 'nope.zip'} does not exist: check the path" in err
    err = render("--sheet", sheet, "--poses", pose, "--out", str(read_only_dir / "x.mp4"))
    assert (
        f"--out {read_only_dir / 'x.mp4'}: the folder {read_only_dir} is not writable" in err
        and "choose another folder" in err
    )
    err = render("--sheet", sheet, "--poses", pose, "--out", str(read_only_dir / "new" / "x.mp4"))
    assert f"the folder {read_only_dir / 'new'} cannot be created" in err
    err = render(
        "--sheet", sheet, "--poses", pose, "--out", str(tmp_path / "x.mp4"), "--webm", str(read_only_dir / "x.webm")
    )
    assert f"--webm {read_only_dir / 'x.webm'}: the folder {read_only_dir} is not writable" in err
    (tmp_path / "file").write_text("a file")
    err = render("--sheet", sheet, "--poses", pose, "--frames-dir", str(tmp_path / "file"))
    assert f"--frames-dir {tmp_path / 'file'}: is a file, not a folder" in err
    err = render("--sheet", sheet, "--poses", pose, "--frames-dir", str(read_only_dir / "frames"))
    assert f"the folder {read_only_dir} is not writable" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "no-weights", "read-only"]


def test_render_refuses_cuda_without_gpu(fixture_sheet, fixture_poses, no_weights, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    err = bad_cli(
        *render_args(fixture_sheet[0], tmp_path / "x.mp4", no_weights, "--device", "cuda", poses=fixture_poses[0])
    )
    assert "PyTorch sees no CUDA GPU here; use --device cpu" in err


def test_other_commands_refuse_bad_flags(fixture_poses, read_only_dir, tmp_path):
    pose = str(fixture_poses[0])
    err = bad_cli("udp-from-mmd", pose, pose, "--out", str(tmp_path / "u.zip"), "--size", "10")
    assert "argument --size: 10 pixels is out of range: use 64 to 2048" in err
    err = bad_cli("udp-from-mmd", pose, pose, "--out", str(tmp_path / "u.zip"), "--fps", "0")
    assert "argument --fps: Frames per second must be between 1 and 60, not 0." in err
    err = bad_cli("udp-from-mmd", pose, pose, "--out", str(read_only_dir / "u.zip"))
    assert f"--out {read_only_dir / 'u.zip'}: the folder {read_only_dir} is not writable" in err
    err = bad_cli("pose-from-video", str(tmp_path / "clip.mp4"), "--out", str(tmp_path / "u.zip"))
    assert f"argument IN: {tmp_path / 'clip.mp4'} does not exist: check the path" in err
    err = bad_cli("pose-from-video", pose, "--out", str(tmp_path / "u.zip"), "--smooth", "0")
    assert "argument --smooth: 0 is not allowed" in err
    err = bad_cli("pose-from-video", pose, "--out", str(tmp_path / "u.zip"), "--max-seconds", "-1")
    assert "argument --max-seconds: -1 is not allowed: use a number above 0" in err
    err = bad_cli("render", "--sheet", pose)
    assert "one of the arguments --poses --dance --video --mmd is required" in err


@pytest.mark.parametrize("source", ["dance", "mmd", "video"])
def test_render_from_every_source_the_app_has(source, recipe_weights_dir, rembg_dir, tmp_path):
    """--dance, --mmd and --video go through the same pose sources as the app (conr.job)."""
    args = []
    if source == "dance":
        args = ["--dance", "wave"]
    elif source == "mmd":
        import zipfile

        from mmd_writers import character_spec, dance_keys, pmx_bytes, vmd_bytes

        from conr.dances.character import build_character
        from conr.dances.motions import MOTIONS

        character = build_character()
        model = tmp_path / "character.zip"
        with zipfile.ZipFile(model, "w") as z:
            z.writestr("character.pmx", pmx_bytes(character_spec(character, version=2.1)))
        keys, switches = dance_keys(MOTIONS["wave"], character, "consistent")
        (tmp_path / "wave.vmd").write_bytes(vmd_bytes(keys, switches))
        args = ["--mmd", str(model), str(tmp_path / "wave.vmd"), "--mmd-start", "0.5"]
    else:
        from test_video_pose import moving_character_video

        moving_character_video(tmp_path / "dancer.mp4", frames=6, fps=10)
        args = ["--video", str(tmp_path / "dancer.mp4"), "--smooth", "1"]
    out = tmp_path / "out.mp4"
    flags = (*args, "--fps", "10", "--max-frames", "2", "--size", "128", *EXACT_CPU)
    front = ROOT / "examples" / "sheet" / "front.png"
    env = {"CONR_REMBG_DIR": str(rembg_dir), "CONR_OFFLINE": "1"}
    proc = run_cli(*render_args(front, out, recipe_weights_dir, *flags), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert probe_video(out).frames == 2
