"""render_to_files: frames of different sizes, and cancelling (the tiny network: this is about the files, not the pixels)."""

from __future__ import annotations

import io
import threading
import zipfile

import cv2
import numpy as np
import pytest
from PIL import Image

from conr.errors import Cancelled
from conr.pipeline import render_to_files
from conr.udp import read_udp
from conr.video import letterbox, probe_video, read_video_frames


def test_letterbox_fits_and_centres():
    tall = np.full((100, 50, 4), 255, np.uint8)
    boxed = letterbox(tall, 200, 100)
    assert boxed.shape == (100, 200, 4)
    assert boxed[:, :75, 3].max() == 0 and boxed[:, 125:, 3].max() == 0, "transparent bars left and right"
    assert boxed[:, 76:124, 3].min() == 255
    assert letterbox(tall, 50, 100) is tall


def test_frames_of_other_sizes_keep_their_size_in_pngs_and_are_letterboxed_in_videos(
    tiny_renderer, fixture_sheet, fixture_poses, tmp_path
):
    renderer = tiny_renderer
    sheet = renderer.parse_sheet(fixture_sheet[:1])
    pose = read_udp(fixture_poses[1])
    h, w = pose.shape[:2]
    wide = cv2.resize(pose, (w * 2, h), interpolation=cv2.INTER_NEAREST)  # the same figure, stretched wide
    result = render_to_files(
        renderer,
        [pose, wide],
        sheet=sheet,
        fps=2,
        background=(0, 0, 255),
        mp4=tmp_path / "a.mp4",
        webm=tmp_path / "a.webm",
        frames_zip=tmp_path / "f.zip",
    )
    assert (result.frames, result.width, result.height) == (2, w, h)
    with zipfile.ZipFile(tmp_path / "f.zip") as archive:
        sizes = [Image.open(io.BytesIO(archive.read(n))).size for n in sorted(archive.namelist())]
    assert sizes == [(w, h), (w * 2, h)], "each PNG at its own frame's size"
    info = probe_video(tmp_path / "a.mp4")
    assert (info.width, info.height, info.frames) == (w + w % 2, h + h % 2, 2)
    second = read_video_frames(tmp_path / "a.mp4")[1].astype(int)
    bar = h // 4 - 4  # the wide frame is shown at half height: background bars above and below
    assert np.abs(second[:bar] - [0, 0, 255]).max() < 12 and np.abs(second[-bar:] - [0, 0, 255]).max() < 12
    assert read_video_frames(tmp_path / "a.webm", rgba=True)[1][:bar, :, 3].max() < 8


def test_cancel_after_the_first_frame_stops_and_deletes_partial_files(
    tiny_renderer, fixture_sheet, fixture_poses, tmp_path
):
    renderer = tiny_renderer
    sheet = renderer.parse_sheet(fixture_sheet[:1])
    poses = [read_udp(fixture_poses[1])] * 4
    cancel = threading.Event()
    rendered = []

    def progress(stage, done, total):
        rendered.append((stage, done))
        cancel.set()  # the user pressed Cancel while frame 1 was shown

    outputs = dict(
        mp4=tmp_path / "a.mp4", webm=tmp_path / "a.webm", frames_zip=tmp_path / "f.zip", frames_dir=tmp_path / "frames"
    )
    with pytest.raises(Cancelled, match="cancelled"):
        render_to_files(renderer, poses, sheet=sheet, fps=2, progress=progress, cancel=cancel, **outputs)
    assert rendered == [("Rendering", 1)], "stopped before the second batch"
    assert not any(p.exists() for p in (tmp_path / "a.mp4", tmp_path / "a.webm", tmp_path / "f.zip"))
    assert not list((tmp_path / "frames").glob("*.png"))
    with pytest.raises(Cancelled):
        renderer.render(poses, sheet=sheet, cancel=lambda: True)
