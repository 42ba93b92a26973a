"""The dances API the app uses, its disk cache, the CLI commands and the committed examples."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from conr.cli import main
from conr.dances import DanceInfo, dance_preview, dance_udp, get_motion, list_dances
from conr.errors import InputError
from conr.render3d.convention import DEFAULT_CONVENTION
from conr.udp import open_udp_sequence
from conr.video import probe_video, read_video_frames

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture(autouse=True)
def no_saved_calibration(monkeypatch):
    """A calibration saved on this machine must not change what these tests see."""
    monkeypatch.setenv("CONR_UDP_CALIBRATION", "off")


def test_list_dances():
    dances = list_dances()
    assert len(dances) >= 8 and all(isinstance(d, DanceInfo) for d in dances)
    assert len({d.name for d in dances}) == len(dances) and len({d.title for d in dances}) == len(dances)
    for d in dances:
        assert d.name == d.name.lower() and " " not in d.name
        assert d.title and d.description.endswith(".") and 8 <= d.seconds <= 20 and d.fps == 30
        beats = d.seconds * d.bpm / 60  # a loop is a whole number of beats, so music at that tempo loops with it
        assert 60 <= d.bpm <= 180 and abs(beats - round(beats)) < 1e-9


@pytest.mark.parametrize("info", list_dances(), ids=lambda d: d.name)
def test_every_bundled_dance_renders_and_is_cached(tmp_path, info):
    frames = dance_udp(info.name, size=96, fps=5, cache_dir=tmp_path)
    assert len(frames) == round(info.seconds * 5)
    cached = list(tmp_path.glob(f"{info.name}-96px-5fps-*.zip"))
    assert len(cached) == 1
    for frame in frames:
        assert frame.shape == (96, 96, 4) and frame.dtype == np.float32
        visible = frame[:, :, 3] > 0
        assert visible.sum() > 200
        # The whole body stays in view: nothing touches the image border.
        assert not (visible[0].any() or visible[-1].any() or visible[:, 0].any() or visible[:, -1].any())
        assert (frame[~visible] == 0).all()
    cached = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    again = dance_udp(info.name, size=96, fps=5, cache_dir=tmp_path)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()} == cached, "read from the cache"
    assert np.array_equal(again[len(again) // 2], frames[len(frames) // 2])


def test_cache_key_follows_size_fps_and_convention(tmp_path):
    a = dance_udp("idle-sway", size=64, fps=2, cache_dir=tmp_path)
    dance_udp("idle-sway", size=64, fps=3, cache_dir=tmp_path)
    affine = np.array([[0.9, 0, 0, 0.05], [0, 0.9, 0, 0.05], [0, 0, 0.9, 0.05]])
    b = dance_udp("idle-sway", size=64, fps=2, cache_dir=tmp_path, convention=DEFAULT_CONVENTION.with_affine(affine))
    assert len(list(tmp_path.glob("*.zip"))) == 3
    on = a[0][:, :, 3] > 0
    assert np.allclose(b[0][on, :3], a[0][on, :3] @ affine[:, :3].T + affine[:, 3], atol=2e-5)
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left behind


def test_unknown_dance_lists_the_available_ones(tmp_path):
    with pytest.raises(InputError, match="idle-sway.*wave"):
        dance_udp("moonwalk", cache_dir=tmp_path)
    with pytest.raises(InputError, match="size"):
        dance_udp("wave", size=10000, cache_dir=tmp_path)


def test_default_cache_dir_follows_conr_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CONR_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CONR_UDP_CALIBRATION", "off")
    frames = dance_udp("wave", size=64, fps=1)
    assert len(frames) == round(get_motion("wave").seconds) and list((tmp_path / "dances").glob("wave-64px-1fps-*.zip"))


def test_cli_list_render_preview(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CONR_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["dances", "list"]) == 0
    listed = capsys.readouterr().out
    assert all(d.name in listed for d in list_dances())

    assert (
        main(
            [
                "dances",
                "render",
                "spin",
                "--out",
                str(tmp_path / "frames"),
                "--size",
                "64",
                "--fps",
                "2",
                "--format",
                "png",
            ]
        )
        == 0
    )
    frames = open_udp_sequence(tmp_path / "frames")
    assert (
        len(frames) == round(get_motion("spin").seconds * 2)
        and frames.names[0] == "00000.png"
        and frames[5].shape == (64, 64, 4)
    )
    assert main(["dances", "render", "spin", "--out", str(tmp_path / "spin.zip"), "--size", "64", "--fps", "2"]) == 0
    assert np.array_equal(open_udp_sequence(tmp_path / "spin.zip")[5], open_udp_sequence(tmp_path / "frames")[5])

    assert main(["dances", "preview", "idle-sway", "--out", str(tmp_path / "p.mp4"), "--size", "64"]) == 0
    info = probe_video(tmp_path / "p.mp4")
    assert (info.codec, info.width, info.frames) == ("h264", 64, get_motion("idle-sway").frame_count)

    capsys.readouterr()
    assert main(["dances", "render", "moonwalk", "--out", str(tmp_path / "x")]) == 2
    assert main(["dances", "preview", "wave", "--out", str(tmp_path / "p.gif")]) == 2
    errors = capsys.readouterr().err
    assert "moonwalk" in errors and "Traceback" not in errors and ".mp4" in errors


def test_committed_sheet_is_an_rgba_character_sheet():
    views = sorted(p.stem for p in (EXAMPLES / "sheet").glob("*.png"))
    assert views == ["back", "front", "side", "three-quarter"]
    for view in views:
        rgba = cv2.imread(str(EXAMPLES / "sheet" / f"{view}.png"), cv2.IMREAD_UNCHANGED)
        assert rgba.shape == (512, 512, 4) and rgba.dtype == np.uint8
        alpha = rgba[:, :, 3]
        assert alpha[0].max() == 0 and alpha[:, 0].max() == 0  # transparent background
        assert 0.04 < (alpha > 0).mean() < 0.5
        outline = (rgba[:, :, :3].max(axis=2) < 70) & (alpha == 255)
        assert outline.sum() > 1000  # dark outlines are drawn


def test_examples_are_regenerated_by_one_command(tmp_path):
    """``python -m conr dances examples`` reproduces the committed files.

    Sheet PNGs are drawn with the numpy rasterizer: on one machine they are
    bit-identical; across CPUs float rounding can flip a rare edge pixel, so
    a few pixels may differ slightly. Previews are H.264 (lossy, and its
    bytes depend on the ffmpeg build), so decoded frames are compared, to
    within a couple of levels on average.
    """
    assert main(["dances", "examples", "--out", str(tmp_path)]) == 0
    committed = sorted(p.relative_to(EXAMPLES) for p in EXAMPLES.rglob("*") if p.is_file())
    produced = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert produced == committed
    for name in (p for p in committed if p.suffix == ".png"):
        ours = cv2.imread(str(tmp_path / name), cv2.IMREAD_UNCHANGED).astype(int)
        theirs = cv2.imread(str(EXAMPLES / name), cv2.IMREAD_UNCHANGED).astype(int)
        differs = np.abs(ours - theirs).max(axis=2) > 0
        assert differs.mean() < 0.001, f"{name}: {differs.sum()} pixels differ"
    for name in (p for p in committed if p.suffix == ".mp4"):
        a, b = probe_video(tmp_path / name), probe_video(EXAMPLES / name)
        assert (a.width, a.height, a.frames, a.fps) == (b.width, b.height, b.frames, b.fps)
        ours, theirs = read_video_frames(tmp_path / name), read_video_frames(EXAMPLES / name)
        per_frame = np.abs(ours.astype(int) - theirs.astype(int)).mean(axis=(1, 2, 3))
        assert per_frame.max() < 2.0, f"{name}: frames differ by up to {per_frame.max():.2f} levels on average"


def test_preview_matches_the_udp_frames(tmp_path):
    """The preview shows the dance's UDP colours: its first frame decodes to the first UDP frame's preview."""
    from conr.udp import udp_preview

    path = dance_preview("wave", tmp_path / "wave.mp4", size=128, fps=5)
    first = read_video_frames(path)[0].astype(int)
    frame = dance_udp("wave", size=128, fps=5, cache_dir=tmp_path, convention=DEFAULT_CONVENTION)[0]
    assert np.abs(first - udp_preview(frame).astype(int)).mean() < 3.0
