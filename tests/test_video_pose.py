"""A video of a dancing figure -> UDP sequence: the whole path with the real u2netp matting and the tiny network's detector.

The detector's numbers are tested on the full network in test_parity.py; here it is the path around it: sampling,
cut-outs, crops, the silhouette, smoothing and the zip."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from conftest import FIXTURES
from PIL import Image

from conr.errors import InputError
from conr.limits import Limits
from conr.udp import open_udp_sequence, write_udp_zip
from conr.video import ffmpeg_exe, write_video
from conr.video_pose import flicker, pose_from_video, read_video, smooth_udp

CANVAS = (520, 640)


def moving_character_video(path, frames=12, fps=10, step=14):
    """The fixture drawing walking right across a white backdrop, as an H.264 MP4."""
    drawing = np.asarray(Image.open(FIXTURES / "inputs" / "sheet" / "0.png").convert("RGBA")).astype(np.float32)
    h, w = drawing.shape[:2]
    alpha = drawing[:, :, 3:4] / 255
    masks, images = [], []
    for i in range(frames):
        canvas = np.full(CANVAS + (3,), 255.0, np.float32)
        mask = np.zeros(CANVAS, bool)
        x, y = 30 + i * step, 20
        canvas[y : y + h, x : x + w] = drawing[:, :, :3] * alpha + canvas[y : y + h, x : x + w] * (1 - alpha)
        mask[y : y + h, x : x + w] = drawing[:, :, 3] > 127
        images.append(canvas.astype(np.uint8))
        masks.append(mask)
    write_video(path, images, fps)
    return masks


@pytest.fixture
def matting_env(rembg_dir, monkeypatch):
    monkeypatch.setenv("CONR_REMBG_DIR", str(rembg_dir))
    monkeypatch.setenv("CONR_OFFLINE", "1")


def test_video_to_udp_end_to_end(tiny_renderer, matting_env, tmp_path):
    video = tmp_path / "dance.mp4"
    masks = moving_character_video(video)
    stages = []
    result = pose_from_video(
        tiny_renderer,
        video,
        fps=5,
        smooth=3,
        matting_model="u2netp",
        progress=lambda stage, done, total: stages.append((stage, done, total)),
    )
    assert len(result.udp) == 6 and result.fps == 5  # 1.2 s at 5 fps
    assert {s for s, _, _ in stages} == {"Removing backgrounds", "Detecting poses"}
    scale = 512 / max(CANVAS)
    size = (round(CANVAS[0] * scale), round(CANVAS[1] * scale))
    centroids = []
    for index, frame in enumerate(result.udp):
        assert frame.shape == size + (4,) and frame.dtype == np.float32
        occupied = frame[..., 3] > 0.5
        assert occupied.any()
        assert (frame[..., :3][~occupied] == 0).all(), "XYZ is zero off the body"
        truth = np.asarray(Image.fromarray(masks[index * 2]).resize(size[::-1], Image.NEAREST))
        grown = np.asarray(Image.fromarray(truth).filter(__import__("PIL.ImageFilter").ImageFilter.MaxFilter(9)))
        assert (occupied & ~grown).mean() < 0.002, "the body stays on the character's silhouette"
        centroids.append(np.nonzero(occupied)[1].mean())
    assert all(b > a for a, b in zip(centroids, centroids[1:])), f"the figure moves right: {centroids}"

    archive = write_udp_zip(tmp_path / "udp.zip", result.udp)
    back = open_udp_sequence(archive)
    assert len(back) == len(result.udp)
    for a, b in zip(back, result.udp):  # 16-bit PNG frames (the default): exact to half a step of 1/65535
        assert np.abs(a - b).max() <= 0.5 / 65535 + 1e-7


def test_smoothing_removes_a_one_frame_glitch():
    steady = np.zeros((5, 16, 16, 4), np.float32)
    steady[:, 4:12, 4:12] = (0.3, 0.5, 0.7, 1.0)
    glitchy = steady.copy()
    glitchy[2, 4:12, 4:12, :3] = 0.9  # a wrong prediction in one frame
    glitchy[2, 0:2, 0:2] = (0.1, 0.1, 0.1, 1.0)  # and a speck
    smoothed = smooth_udp(list(glitchy), window=3)
    assert np.allclose(smoothed[2], steady[2])
    assert flicker(smoothed) < flicker(list(glitchy))
    assert all(np.array_equal(a, b) for a, b in zip(smooth_udp(list(steady), 3), steady))


def test_bad_videos_are_refused(tmp_path, matting_env, tiny_renderer):
    audio = tmp_path / "song.m4a"
    subprocess.run(
        [ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=1", str(audio)], check=True
    )
    with pytest.raises(InputError, match=r"'song.m4a' has no video stream"):
        read_video(audio)
    text = tmp_path / "clip.mp4"
    text.write_text("not a video")
    with pytest.raises(InputError, match=r"'clip.mp4' is not a video file"):
        read_video(text)
    long = tmp_path / "long.mp4"
    write_video(long, [np.zeros((64, 64, 3), np.uint8)] * 40, fps=10)
    with pytest.raises(InputError, match=r"'long.mp4' lasts 4.0 s, over the limit of 3 s"):
        read_video(long, limits=Limits(max_video_seconds=3))
    assert len(read_video(long, fps=5, max_seconds=1, limits=Limits(max_video_seconds=3)).frames) == 5
    blank = tmp_path / "blank.mp4"
    write_video(blank, [np.full((120, 160, 3), 255, np.uint8)] * 6, fps=6)
    with pytest.raises(InputError, match=r"No figure was detected in any frame of 'blank.mp4'"):
        pose_from_video(tiny_renderer, blank, fps=6, matting_model="u2netp")


def test_image_folder_and_zip_sources(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in (10, 2, 1):
        Image.new("RGB", (80, 60), (i * 20, 0, 0)).save(folder / f"f{i}.png")
    clip = read_video(folder, fps=30, source_fps=30)
    assert [int(f[0, 0, 0]) for f in clip.frames] == [20, 40, 200]
    import zipfile

    with zipfile.ZipFile(tmp_path / "frames.zip", "w") as z:
        z.writestr("../x.png", b"")
    with pytest.raises(InputError, match=r"unsafe path"):
        read_video(tmp_path / "frames.zip")


def test_hidden_and_broken_entries_in_image_sources(tmp_path):
    """macOS forks and dot-files are skipped; a frame that is not an image is named with its zip or folder."""
    import io
    import zipfile

    def png(value):
        buffer = io.BytesIO()
        Image.new("RGB", (40, 30), (value, 0, 0)).save(buffer, "PNG")
        return buffer.getvalue()

    fork = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        "  # what macOS writes into ._x.png
    with zipfile.ZipFile(tmp_path / "mac.zip", "w") as z:
        z.writestr("frames/0.png", png(10))
        z.writestr("__MACOSX/frames/._0.png", fork)
        z.writestr("frames/._1.png", fork)
        z.writestr("frames/notes.txt", b"shot on a phone")
    assert [int(f[0, 0, 0]) for f in read_video(tmp_path / "mac.zip", fps=30).frames] == [10]

    with zipfile.ZipFile(tmp_path / "text.zip", "w") as z:
        z.writestr("0.png", png(10))
        z.writestr("1.png", b"this is text, not a picture")
    with pytest.raises(InputError, match=r"'text.zip': frame '1.png' is not an image this app can read"):
        read_video(tmp_path / "text.zip", fps=30)

    folder = tmp_path / "shots"
    folder.mkdir()
    (folder / "0.png").write_bytes(png(30))
    (folder / "._0.png").write_bytes(fork)
    (folder / "sub.png").mkdir()
    assert [int(f[0, 0, 0]) for f in read_video(folder, fps=30).frames] == [30]
    (folder / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n damaged")
    with pytest.raises(InputError, match=r"'shots': frame '1.png' is"):
        read_video(folder, fps=30)


def test_gif_with_a_huge_screen_is_refused_by_its_header(tmp_path):
    from bombs import gif_bomb

    big = gif_bomb(tmp_path / "huge.gif")  # 30000x30000 logical screen, ffmpeg reports no size at all
    with pytest.raises(
        InputError, match=r"'huge.gif' is a GIF of 30000x30000 pixels; the limit is 4096 pixels per side"
    ):
        read_video(big)
    wide = gif_bomb(tmp_path / "wide.gif", 5000, 20)
    with pytest.raises(InputError, match=r"'wide.gif' is a GIF of 5000x20 pixels; the limit is 4096"):
        read_video(wide)
    small = gif_bomb(tmp_path / "small.gif", 64, 48)
    clip = read_video(small, fps=10)
    assert len(clip.frames) == 2 and clip.frames[0].shape[:2] == (48, 64)
